package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
)

// TestWebtask_PatchEdits: PATCH changes what its body names and keeps the
// rest — code, secrets, meta and the token's params — as the editor
// (host/editor) saves code without resending secrets and edits secrets
// without resending code.
func TestWebtask_PatchEdits(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "s", fixture(t, "shared-secret-raw"), "?meta=team:blue&param=region:eu")
	other := ts.issue(ts.Admin, `{"ten":"other"}`)
	patch := func(tok, body string) response {
		t.Helper()
		return ts.req("PATCH", "/api/webtask/acme/s", tok, []byte(body), "Content-Type: application/json")
	}
	run := func(key string) int { return ts.req("GET", "/api/run/acme/s?secret="+key, "", nil).Status }
	describe := func() map[string]any { return ts.req("GET", "/api/webtask/acme/s", ts.Admin, nil).JSON(t) }
	simple := base64.StdEncoding.EncodeToString(fixture(t, "shared-secret-simple"))

	steps := []struct {
		name, body string
		status     int
		secrets    string // the names after the step
		meta       string
		run        int // the status of a run with ?secret=open-sesame
	}{
		{"add a secret, code kept", `{"secrets":{"auth-secret":"open-sesame"}}`, 200, "[auth-secret]", "map[team:blue]", 200},
		{"add another", `{"secrets":{"x":"y"}}`, 200, "[auth-secret x]", "map[team:blue]", 200},
		{"meta: set and remove", `{"meta":{"wt-instance":"fresh","team":null}}`, 200, "[auth-secret x]", "map[wt-instance:fresh]", 200},
		{"replace the code, secrets kept", `{"code":"` + simple + `"}`, 200, "[auth-secret x]", "map[wt-instance:fresh]", 200},
		{"remove a secret", `{"secrets":{"auth-secret":null}}`, 200, "[x]", "map[wt-instance:fresh]", 400},
		{"an unknown field", `{"secret":{"a":"b"}}`, 400, "[x]", "map[wt-instance:fresh]", 400},
		{"not JSON", `code`, 400, "[x]", "map[wt-instance:fresh]", 400},
		{"bad meta", `{"meta":{"wt-instance":"sometimes"}}`, 400, "[x]", "map[wt-instance:fresh]", 400},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if r := patch(ts.Admin, st.body); r.Status != st.status {
				t.Fatalf("PATCH = %d %s, want %d", r.Status, r.Body, st.status)
			}
			m := describe()
			if got := fmt.Sprint(m["secrets"]); got != st.secrets {
				t.Errorf("secrets = %s, want %s", got, st.secrets)
			}
			if got := fmt.Sprint(m["meta"]); got != st.meta {
				t.Errorf("meta = %s, want %s", got, st.meta)
			}
			if got := run("open-sesame"); got != st.run {
				t.Errorf("run = %d, want %d", got, st.run)
			}
		})
	}
	t.Run("params kept", func(t *testing.T) {
		tok, _ := describe()["token"].(string)
		m := ts.req("GET", "/api/tokens/inspect?token="+tok, ts.Admin, nil).JSON(t)
		if fmt.Sprint(m["pctx"]) != "map[region:eu]" {
			t.Errorf("pctx = %v", m["pctx"])
		}
	})
	t.Run("refusals", func(t *testing.T) {
		wantError(t, patch(other, `{"secrets":{"a":"b"}}`), 403, "container acme")
		wantError(t, ts.req("PATCH", "/api/webtask/acme/none", ts.Admin, []byte(`{}`)), 404, "none")
		wantError(t, ts.req("PATCH", "/api/webtask/acme", ts.Admin, nil), 405, "GET")
	})
}

// TestWebtask_PatchEditJS: a PATCH whose JavaScript does not load is
// refused with the line and column, and the webtask is unchanged.
func TestWebtask_PatchEditJS(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	ts.uploadJS("acme", "s", seed001Simple, "?secret=auth-secret:open-sesame")
	body, _ := json.Marshal(map[string]string{"code": "module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n"})
	wantError(t, ts.req("PATCH", "/api/webtask/acme/s", ts.Admin, body), 400, "(webtask.js:2:16)")
	m := ts.req("GET", "/api/webtask/acme/s?fetch_code=1", ts.Admin, nil).JSON(t)
	if m["code"] != seed001Simple || fmt.Sprint(m["secrets"]) != "[auth-secret]" {
		t.Fatalf("after a refused PATCH: %v", m)
	}
	body, _ = json.Marshal(map[string]string{"code": seed001Secrets})
	if r := ts.req("PATCH", "/api/webtask/acme/s", ts.Admin, body); r.Status != 200 {
		t.Fatalf("PATCH = %d %s", r.Status, r.Body)
	}
	if r := ts.req("GET", "/api/run/acme/s?secret=open-sesame", "", nil); r.Status != 200 {
		t.Fatalf("run = %d %s", r.Status, r.Body)
	}
}
