package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// cronJob is a job as sandboxjs reads it.
type cronJob struct {
	Container       string            `json:"container"`
	Name            string            `json:"name"`
	Schedule        string            `json:"schedule"`
	TZ              string            `json:"tz"`
	Token           string            `json:"token"`
	State           string            `json:"state"`
	Meta            map[string]string `json:"meta"`
	CreatedAt       time.Time         `json:"created_at"`
	NextAvailableAt *time.Time        `json:"next_available_at"`
	Results         []cronRun         `json:"results"`
}

type cronRun struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	Type        string    `json:"type"`
	StatusCode  int       `json:"statusCode"`
	Body        string    `json:"body"`
}

func decode[T any](t testing.TB, r response, status int) T {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body does not decode: %v: %s", err, r.Body)
	}
	return v
}

func (ts *testServer) cronHistory(container, name string) []cronRun {
	ts.t.Helper()
	return decode[[]cronRun](ts.t, ts.req("GET", "/api/cron/"+container+"/"+name+"/history", ts.Admin, nil), 200)
}

// TestE2E_Cron drives every cron route as sandboxjs does, with jobs every
// second (CronSeconds): one run by its webtask's token, one by the public
// URL of a webtask that fails.
func TestE2E_Cron(t *testing.T) {
	ts := start(t, api.Config{CronSeconds: true})
	ts.upload("c", "tick", fixture(t, "counter"), "")
	ts.upload("c", "boom", fixture(t, "panic"), "")
	tok, _ := ts.req("GET", "/api/webtask/c/tick", ts.Admin, nil).JSON(t)["token"].(string)
	if tok == "" {
		t.Fatal("webtask has no token")
	}

	put := fmt.Sprintf(`{"schedule":"* * * * * *","tz":"Europe/Paris","token":%q,"state":"active","meta":{"a":"b"}}`, tok)
	j := decode[cronJob](t, ts.req("PUT", "/api/cron/c/tick", ts.Admin, []byte(put)), 200)
	if j.Container != "c" || j.Name != "tick" || j.Schedule != "* * * * * *" || j.TZ != "Europe/Paris" || j.Token != tok ||
		j.State != "active" || j.Meta["a"] != "b" || j.CreatedAt.IsZero() || j.NextAvailableAt == nil || j.Results == nil {
		t.Fatalf("PUT answered %+v", j)
	}
	j = decode[cronJob](t, ts.req("PUT", "/api/cron/c/boom", ts.Admin, []byte(`{"schedule":"* * * * * *"}`)), 200)
	if j.TZ != "UTC" || j.State != "active" || j.Token != "" || j.Meta == nil {
		t.Fatalf("PUT with defaults answered %+v", j)
	}

	waitFor(t, "two runs of each job", func() bool {
		return len(ts.cronHistory("c", "tick")) >= 2 && len(ts.cronHistory("c", "boom")) >= 2
	})
	for _, r := range ts.cronHistory("c", "tick") {
		if r.Type != "success" || r.StatusCode != 200 || !strings.Contains(r.Body, `"count"`) ||
			r.StartedAt.Before(r.ScheduledAt) || r.CompletedAt.Before(r.StartedAt) {
			t.Fatalf("tick run: %+v", r)
		}
	}
	for _, r := range ts.cronHistory("c", "boom") {
		if r.Type != "error" || r.StatusCode != 500 || !strings.Contains(r.Body, "webtask_failed") {
			t.Fatalf("boom run: %+v", r)
		}
	}
	if h := decode[[]cronRun](t, ts.req("GET", "/api/cron/c/tick/history?offset=1&limit=1", ts.Admin, nil), 200); len(h) != 1 {
		t.Fatalf("history page: %+v", h)
	}

	list := decode[[]cronJob](t, ts.req("GET", "/api/cron/c", ts.Admin, nil), 200)
	if len(list) != 2 || list[0].Name != "boom" || list[1].Name != "tick" || len(list[1].Results) != 1 {
		t.Fatalf("list: %+v", list)
	}
	if list := decode[[]cronJob](t, ts.req("GET", "/api/cron/c?meta=a:b", ts.Admin, nil), 200); len(list) != 1 || list[0].Name != "tick" {
		t.Fatalf("list by meta: %+v", list)
	}
	if j := decode[cronJob](t, ts.req("GET", "/api/cron/c/tick", ts.Admin, nil), 200); len(j.Results) != 1 || j.Results[0].Type != "success" {
		t.Fatalf("GET: %+v", j)
	}

	// Pause, then resume.
	j = decode[cronJob](t, ts.req("PUT", "/api/cron/c/tick/state", ts.Admin, []byte(`{"state":"inactive"}`)), 200)
	if j.State != "inactive" || j.NextAvailableAt != nil {
		t.Fatalf("inactive job: %+v", j)
	}
	time.Sleep(300 * time.Millisecond)
	paused := len(ts.cronHistory("c", "tick"))
	time.Sleep(2 * time.Second)
	if n := len(ts.cronHistory("c", "tick")); n != paused {
		t.Fatalf("an inactive job ran: %d runs, then %d", paused, n)
	}
	decode[cronJob](t, ts.req("PUT", "/api/cron/c/tick/state", ts.Admin, []byte(`{"state":"active"}`)), 200)
	waitFor(t, "a run after resuming", func() bool { return len(ts.cronHistory("c", "tick")) > paused })

	// Delete: the job and its history are gone.
	if r := ts.req("DELETE", "/api/cron/c/boom", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	wantError(t, ts.req("GET", "/api/cron/c/boom", ts.Admin, nil), 404, `no cron job "boom"`)
	wantError(t, ts.req("GET", "/api/cron/c/boom/history", ts.Admin, nil), 404, `no cron job "boom"`)
	if list := decode[[]cronJob](t, ts.req("GET", "/api/cron/c", ts.Admin, nil), 200); len(list) != 1 {
		t.Fatalf("list after delete: %+v", list)
	}

	// Jobs survive a restart.
	ts.Close()
	ts2 := start(t, api.Config{DataDir: ts.Data, CronSeconds: true})
	if j := decode[cronJob](t, ts2.req("GET", "/api/cron/c/tick", ts2.Admin, nil), 200); j.Token != tok || j.Meta["a"] != "b" {
		t.Fatalf("after a restart: %+v", j)
	}
}

// TestE2E_CronBadInput: each bad request is a specific JSON error and
// changes nothing stored.
func TestE2E_CronBadInput(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("c", "w", fixture(t, "counter"), "")
	tok, _ := ts.req("GET", "/api/webtask/c/w", ts.Admin, nil).JSON(t)["token"].(string)
	yearly := func(tz string) []byte {
		return fmt.Appendf(nil, `{"schedule":"0 0 1 1 *","tz":%q,"token":%q}`, tz, tok)
	}
	for i := range 10 {
		decode[cronJob](t, ts.req("PUT", fmt.Sprintf("/api/cron/c/j%d", i), ts.Admin, yearly("UTC")), 200)
	}
	other := ts.req("POST", "/api/tokens/issue", ts.Admin, []byte(`{"ten":"other"}`))
	if other.Status != 200 {
		t.Fatalf("issue: %d %s", other.Status, other.Body)
	}
	otherTok := strings.TrimSpace(string(other.Body))
	snapshot := func() string {
		var b bytes.Buffer
		b.Write(ts.req("GET", "/api/cron/c", ts.Admin, nil).Body)
		b.Write(ts.req("GET", "/api/cron/c/j0/history", ts.Admin, nil).Body)
		return b.String()
	}
	before := snapshot()
	tests := []struct {
		name, method, path, token, body string
		status                          int
		msg                             string
	}{
		{"bad expression", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"every day"}`, 400, `schedule "every day"`},
		{"out of range", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"0 25 * * *"}`, 400, `schedule "0 25 * * *"`},
		{"seconds without the test option", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"* * * * * *"}`, 400, `schedule "* * * * * *"`},
		{"no schedule", "PUT", "/api/cron/c/j0", ts.Admin, `{"tz":"UTC"}`, 400, `"schedule"`},
		{"bad zone", "PUT", "/api/cron/c/j0", ts.Admin, string(yearly("Mars/Olympus")), 400, `tz "Mars/Olympus"`},
		{"not JSON", "PUT", "/api/cron/c/j0", ts.Admin, `schedule=* * * * *`, 400, "must be JSON"},
		{"meta not strings", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"@daily","meta":{"a":1}}`, 400, "must be JSON"},
		{"bad state", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"@daily","state":"paused","token":"` + tok + `"}`, 400, `state "paused"`},
		{"bad job token", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"@daily","token":"nope"}`, 400, "token is not usable"},
		{"job token for another container", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"@daily","token":"` + otherTok + `"}`, 403, "container c"},
		{"no token, no webtask", "PUT", "/api/cron/c/j0", ts.Admin, `{"schedule":"@daily"}`, 404, `no webtask "j0"`},
		{"11th job", "PUT", "/api/cron/c/j10", ts.Admin, string(yearly("UTC")), 403, "--max-cron-jobs"},
		{"state not JSON", "PUT", "/api/cron/c/j0/state", ts.Admin, `inactive`, 400, "must be JSON"},
		{"state unknown", "PUT", "/api/cron/c/j0/state", ts.Admin, `{"state":"off"}`, 400, `state "off"`},
		{"state of an unknown job", "PUT", "/api/cron/c/nope/state", ts.Admin, `{"state":"inactive"}`, 404, `no cron job "nope"`},
		{"get an unknown job", "GET", "/api/cron/c/nope", ts.Admin, "", 404, `no cron job "nope" in container "c"`},
		{"delete an unknown job", "DELETE", "/api/cron/c/nope", ts.Admin, "", 404, `no cron job "nope"`},
		{"history of an unknown job", "GET", "/api/cron/c/nope/history", ts.Admin, "", 404, `no cron job "nope"`},
		{"bad history limit", "GET", "/api/cron/c/j0/history?limit=0", ts.Admin, "", 400, "limit"},
		{"unknown sub-path", "GET", "/api/cron/c/j0/runs", ts.Admin, "", 404, "no API"},
		{"bad name", "PUT", "/api/cron/c/-x", ts.Admin, string(yearly("UTC")), 400, "cron job name"},
		{"method", "POST", "/api/cron/c/j0", ts.Admin, string(yearly("UTC")), 405, "GET, PUT, DELETE"},
		{"no token", "DELETE", "/api/cron/c/j0", "", "", 401, ""},
		{"another container's token", "DELETE", "/api/cron/c/j0", otherTok, "", 403, "container c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			wantError(t, ts.req(tt.method, tt.path, tt.token, body), tt.status, tt.msg)
			if after := snapshot(); after != before {
				t.Fatalf("stored jobs changed:\n%s\nthen\n%s", before, after)
			}
		})
	}
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
