package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// TestE2E_CronRunIsARequest: a job's run is a request like any other to
// its webtask — its console.log reaches the container's log stream, its
// context.storage.set is committed, and the limits of the token that
// created the webtask cut it (429, recorded as an error).
func TestE2E_CronRunIsARequest(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t), CronSeconds: true})
	ts.uploadJS("acme", "ticker", `module.exports = function (ctx, cb) {
  console.log('cron run ' + ctx.method + ' of ' + ctx.name);
  ctx.storage.get(function (err, data) {
    if (err) return cb(err);
    data = data || { runs: 0 };
    data.runs++;
    ctx.storage.set(data, function (err) { cb(err, data); });
  });
};
`, "")
	tenant := ts.issue(ts.Admin, `{"ten":"beta","lh":1}`) // one run an hour for its webtasks
	if r := ts.req("PUT", "/api/webtask/beta/limited", tenant, []byte(`module.exports = function (cb) { cb(null, 'ran'); };`),
		"Content-Type: application/javascript"); r.Status != 200 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}

	logs := logStream(t, ts, "acme", ts.Admin).(io.ReadCloser) // the response's body
	defer logs.Close()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if first := <-lines; !strings.HasPrefix(first, ": connected") {
		t.Fatalf("first SSE line = %q", first)
	}

	decode[cronJob](t, ts.req("PUT", "/api/cron/acme/ticker", ts.Admin, []byte(`{"schedule":"* * * * * *"}`)), 200)
	decode[cronJob](t, ts.req("PUT", "/api/cron/beta/limited", tenant, []byte(`{"schedule":"* * * * * *"}`)), 200)

	// The run's console.log, on the stream as the webtask's own line.
	deadline := time.After(15 * time.Second)
	for seen := false; !seen; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the log stream ended")
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			var rec struct{ Container, Name, Msg string }
			if err := json.Unmarshal([]byte(data), &rec); err != nil {
				t.Fatalf("log record %q: %v", data, err)
			}
			seen = rec.Msg == "cron run POST of ticker"
			if seen && (rec.Container != "acme" || rec.Name != "ticker") {
				t.Fatalf("the run's log line is %+v, want container acme, webtask ticker", rec)
			}
		case <-deadline:
			t.Fatal("no run's console.log on the log stream")
		}
	}

	// Its storage writes, committed: once the job is paused and its last
	// run recorded, the count stored is the number of successful runs.
	waitFor(t, "two runs of each job", func() bool {
		return len(ts.cronHistory("acme", "ticker")) >= 2 && len(ts.cronHistory("beta", "limited")) >= 2
	})
	decode[cronJob](t, ts.req("PUT", "/api/cron/acme/ticker/state", ts.Admin, []byte(`{"state":"inactive"}`)), 200)
	decode[cronJob](t, ts.req("PUT", "/api/cron/beta/limited/state", tenant, []byte(`{"state":"inactive"}`)), 200)
	var runs int
	waitFor(t, "the stored count to match the runs recorded", func() bool {
		h := ts.cronHistory("acme", "ticker")
		for _, r := range h {
			if r.Type != "success" || r.StatusCode != 200 || !strings.HasPrefix(r.Body, `{"runs":`) {
				t.Fatalf("ticker run %+v, want a success answering the count", r)
			}
		}
		d := ts.getStorage("/api/webtask/acme/ticker/data", ts.Admin)
		runs = len(h)
		return d.Data != nil && *d.Data == fmt.Sprintf(`{"runs":%d}`, runs) && h[0].Body == *d.Data
	})

	// The limit: the first run of beta/limited went through, the next ones
	// were refused before its code ran.
	h := ts.cronHistory("beta", "limited")
	first := h[len(h)-1] // newest first
	if first.Type != "success" || first.StatusCode != 200 || first.Body != `"ran"` {
		t.Errorf("first run of the limited job: %+v, want a success", first)
	}
	for _, r := range h[:len(h)-1] {
		if r.Type != "error" || r.StatusCode != 429 || !strings.Contains(r.Body, "claim lh") {
			t.Errorf("later run of the limited job: %+v, want an error 429 naming claim lh", r)
		}
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
