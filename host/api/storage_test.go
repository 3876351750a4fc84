package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/wasmtask/wasmtask/host/api"
)

// storageDoc is the body of GET …/data and what a 409 adds to its error.
type storageDoc struct {
	Data *string `json:"data"`
	ETag string  `json:"etag"`
}

func (ts *testServer) getStorage(path, token string) storageDoc {
	ts.t.Helper()
	r := ts.req("GET", path, token, nil)
	if r.Status != 200 {
		ts.t.Fatalf("GET %s = %d %s", path, r.Status, r.Body)
	}
	var d storageDoc
	if err := json.Unmarshal(r.Body, &d); err != nil || d.ETag == "" {
		ts.t.Fatalf("GET %s: %s is not {data, etag}: %v", path, r.Body, err)
	}
	return d
}

// putStorage PUTs {"data": data as a JSON string, "etag": etag} as sandboxjs does.
func (ts *testServer) putStorage(path, token string, value any, etag string) response {
	ts.t.Helper()
	text, _ := json.Marshal(value)
	body := map[string]any{"data": string(text)}
	if etag != "" {
		body["etag"] = etag
	}
	b, _ := json.Marshal(body)
	return ts.req("PUT", path, token, b, "Content-Type: application/json")
}

func TestE2E_Storage(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	ts.upload("other", "hello", fixture(t, "hello"), "")
	const path = "/api/webtask/acme/hello/data"

	empty := ts.getStorage(path, ts.Admin)
	if empty.Data != nil {
		t.Fatalf("storage of a new webtask = %+v, want data null", empty)
	}
	r := ts.putStorage(path, ts.Admin, map[string]int{"n": 1}, empty.ETag)
	if r.Status != 200 {
		t.Fatalf("PUT = %d %s", r.Status, r.Body)
	}
	var put struct{ ETag string }
	if err := json.Unmarshal(r.Body, &put); err != nil || put.ETag == "" || put.ETag == empty.ETag {
		t.Fatalf("PUT answered %s, want a new etag", r.Body)
	}
	got := ts.getStorage(path, ts.Admin)
	if got.Data == nil || *got.Data != `{"n":1}` || got.ETag != put.ETag {
		t.Fatalf("GET after PUT = %s %q", *got.Data, got.ETag)
	}

	// A stale etag: 409 with the stored document.
	r = ts.putStorage(path, ts.Admin, map[string]int{"n": 2}, empty.ETag)
	wantError(t, r, 409, "changed since")
	var conflict storageDoc
	_ = json.Unmarshal(r.Body, &conflict)
	if m := r.JSON(t); m["error"] != "conflict" || conflict.Data == nil || *conflict.Data != `{"n":1}` || conflict.ETag != put.ETag {
		t.Fatalf("409 body = %s, want the stored document", r.Body)
	}
	// No etag, or force: written whatever is stored.
	if r := ts.putStorage(path, ts.Admin, "blind", ""); r.Status != 200 {
		t.Fatalf("PUT without etag = %d %s", r.Status, r.Body)
	}
	if r := ts.req("PUT", path, ts.Admin, []byte(`{"data":{"v":[1,2]},"etag":"stale","force":true}`)); r.Status != 200 {
		t.Fatalf("PUT with force = %d %s", r.Status, r.Body)
	}
	if got := ts.getStorage(path, ts.Admin); *got.Data != `{"v":[1,2]}` {
		t.Fatalf("after a forced PUT of a value: %q", *got.Data)
	}

	// A tenant token of acme may use it; of another container, or one that
	// fixes code, may not; none at all is 401.
	tenant := ts.req("POST", "/api/tokens/issue", ts.Admin, []byte(`{"ten":"acme"}`))
	otherTen := ts.req("POST", "/api/tokens/issue", ts.Admin, []byte(`{"ten":"other"}`))
	runner := ts.req("POST", "/api/tokens/issue", ts.Admin, []byte(`{"ten":"acme","jtn":"hello"}`))
	if tenant.Status != 200 || otherTen.Status != 200 || runner.Status != 200 {
		t.Fatalf("issue: %d %d %d", tenant.Status, otherTen.Status, runner.Status)
	}
	if got := ts.getStorage(path, string(tenant.Body)); *got.Data != `{"v":[1,2]}` {
		t.Fatalf("tenant GET = %q", *got.Data)
	}
	wantError(t, ts.req("GET", path, string(otherTen.Body), nil), 403, "container acme")
	wantError(t, ts.putStorage(path, string(otherTen.Body), 1, ""), 403, "container acme")
	wantError(t, ts.req("GET", path, string(runner.Body), nil), 403, "cannot manage")
	wantError(t, ts.req("GET", path, "", nil), 401, "")
	// Containers do not share: other/hello has its own (empty) storage.
	if got := ts.getStorage("/api/webtask/other/hello/data", string(otherTen.Body)); got.Data != nil {
		t.Fatalf("other/hello sees %q", *got.Data)
	}

	big := strings.Repeat("x", 500<<10)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		msg    string
	}{
		{"body not JSON", "PUT", path, `data=1`, 400, "must be JSON"},
		{"no data", "PUT", path, `{"etag":"1"}`, 400, `no "data"`},
		{"data text not JSON", "PUT", path, `{"data":"{n:1}"}`, 400, "must hold JSON text"},
		{"bad force", "PUT", path, `{"data":"1","force":"yes"}`, 400, "force"},
		{"data over 500 KB", "PUT", path, `{"data":"\"` + big + `\""}`, 413, "over the limit of 512000"},
		{"body over its limit", "PUT", path, `{"data":"` + strings.Repeat(`\u0020`, 600<<10) + `1"}`, 413, "exceeds the limit"},
		{"unknown webtask GET", "GET", "/api/webtask/acme/none/data", ``, 404, "no webtask none"},
		{"unknown webtask PUT", "PUT", "/api/webtask/acme/none/data", `{"data":"1"}`, 404, "no webtask none"},
		{"bad name", "GET", "/api/webtask/acme/-x/data", ``, 400, "webtask name"},
		{"DELETE", "DELETE", path, ``, 405, "GET, PUT"},
		{"GET with a body", "GET", path, `x`, 413, "no request body"},
	}
	before := ts.getStorage(path, ts.Admin)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ts.req(tt.method, tt.path, ts.Admin, []byte(tt.body)), tt.status, tt.msg)
			if after := ts.getStorage(path, ts.Admin); after.ETag != before.ETag || *after.Data != *before.Data {
				t.Fatalf("a refused request changed the storage: %q -> %q", before.ETag, after.ETag)
			}
		})
	}

	// A webtask named "data" is still a webtask.
	ts.upload("acme", "data", fixture(t, "hello"), "")
	if r := ts.req("GET", "/api/webtask/acme/data", ts.Admin, nil); r.Status != 200 || r.JSON(t)["name"] != "data" {
		t.Fatalf("GET webtask data = %d %s", r.Status, r.Body)
	}
	// Deleting the webtask deletes its storage.
	if r := ts.req("DELETE", "/api/webtask/acme/hello", ts.Admin, nil); r.Status != 204 {
		t.Fatalf("delete = %d", r.Status)
	}
	wantError(t, ts.req("GET", path, ts.Admin, nil), 404, "no webtask hello")
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	if got := ts.getStorage(path, ts.Admin); got.Data != nil {
		t.Fatalf("a new webtask of a deleted one's name has storage %q", *got.Data)
	}
}

// TestE2E_StorageConcurrentWriters: 16 clients each append their own
// entries to one webtask's storage by read-modify-write with the etag.
// Every write either wins or gets a 409 (no lost update: every
// acknowledged entry is in the final document, exactly once), and the
// document is the same after a restart over the same data directory.
func TestE2E_StorageConcurrentWriters(t *testing.T) {
	data := t.TempDir()
	a := start(t, api.Config{DataDir: data})
	a.upload("acme", "counter", fixture(t, "hello"), "")
	const path = "/api/webtask/acme/counter/data"
	const writers, each = 16, 8

	var mu sync.Mutex
	var acked []string
	conflicts := 0
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				cur := a.getStorage(path, a.Admin)
				var list []string
				if cur.Data != nil {
					if err := json.Unmarshal([]byte(*cur.Data), &list); err != nil {
						t.Errorf("stored data %q: %v", *cur.Data, err)
						return
					}
				}
				entry := fmt.Sprintf("w%d-%d", w, i)
				r := a.putStorage(path, a.Admin, append(list, entry), cur.ETag)
				mu.Lock()
				switch r.Status {
				case 200:
					acked = append(acked, entry)
					i++
				case 409:
					conflicts++
				default:
					t.Errorf("PUT = %d %s", r.Status, r.Body)
					mu.Unlock()
					return
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d writes acknowledged, %d conflicts", len(acked), conflicts)
	check := func(ts *testServer) {
		t.Helper()
		var list []string
		got := ts.getStorage(path, ts.Admin)
		if err := json.Unmarshal([]byte(*got.Data), &list); err != nil {
			t.Fatal(err)
		}
		sort.Strings(list)
		sort.Strings(acked)
		if strings.Join(list, ",") != strings.Join(acked, ",") {
			t.Fatalf("stored %d entries, acknowledged %d: updates were lost or doubled", len(list), len(acked))
		}
	}
	check(a)
	before := a.getStorage(path, a.Admin)
	a.Server.Close()

	b := start(t, api.Config{DataDir: data})
	check(b)
	if after := b.getStorage(path, b.Admin); after.ETag != before.ETag {
		t.Fatalf("etag %q -> %q across a restart", before.ETag, after.ETag)
	}
}

// sandboxjsScript drives sandboxjs's getStorage and updateStorage against
// the server and prints what it saw, one JSON line.
const sandboxjsScript = `
const Sandbox = require('sandboxjs');
const [url, token] = process.argv.slice(2);
const sb = new Sandbox({url, token, container: 'acme'});
const out = {};
(async () => {
  const first = await sb.getStorage({name: 'hello'});
  out.first = first;
  out.put = await sb.updateStorage({data: {n: 1}, etag: first.etag}, {name: 'hello'});
  out.second = await sb.getStorage({name: 'hello'});
  try {
    await sb.updateStorage({data: {n: 2}, etag: first.etag}, {name: 'hello'});
    out.stale = 'accepted';
  } catch (err) {
    out.stale = {statusCode: err.statusCode, message: err.message};
  }
  out.blind = await sb.updateStorage({data: 'text'}, {name: 'hello'});
  out.third = await sb.getStorage({name: 'hello'});
  console.log(JSON.stringify(out));
})().catch(err => { console.error(err && err.stack || err); process.exit(1); });
`

// TestE2E_StorageSandboxjs drives the real client, sandboxjs 5.0.0.
func TestE2E_StorageSandboxjs(t *testing.T) {
	dir := clientsDir(t) // sandboxjs 5.0.0 is pinned with wt-cli (clients_test.go)
	ts := start(t, api.Config{})
	ts.upload("acme", "hello", fixture(t, "hello"), "")
	script := filepath.Join(t.TempDir(), "storage.js")
	if err := os.WriteFile(script, []byte(sandboxjsScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script, ts.URL, ts.Admin)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node: %v\n%s%s", err, out, stderr)
	}
	var got struct {
		First, Second, Third struct {
			Data any    `json:"data"`
			ETag string `json:"etag"`
		}
		Put, Blind struct {
			ETag string `json:"etag"`
		}
		Stale struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %s: %v", out, err)
	}
	t.Logf("sandboxjs saw %s", out)
	switch {
	case got.First.Data != nil || got.First.ETag == "":
		t.Errorf("first getStorage = %+v, want data null and an etag", got.First)
	case got.Put.ETag == "" || got.Second.ETag != got.Put.ETag:
		t.Errorf("updateStorage = %+v, then getStorage = %+v", got.Put, got.Second)
	case fmt.Sprint(got.Second.Data) != "map[n:1]":
		t.Errorf("getStorage data = %#v, want {n: 1} parsed", got.Second.Data)
	case got.Stale.StatusCode != 409:
		t.Errorf("stale updateStorage = %+v, want statusCode 409", got.Stale)
	case got.Third.Data != "text" || got.Third.ETag != got.Blind.ETag:
		t.Errorf("after an updateStorage without etag: %+v (put %+v)", got.Third, got.Blind)
	}
}

// TestE2E_GuestStorage: a webtask of each SDK counts its visits in its
// storage through the ABI (the visits example of guests/go, c, rust and
// assemblyscript): the count survives the fresh policy, shows over HTTP,
// and concurrent requests lose no update (the guest retries on conflict).
func TestE2E_GuestStorage(t *testing.T) {
	for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			wasm := langGuest(t, lang, "visits")
			ts := start(t, api.Config{})
			ts.upload("acme", "visits", wasm, "?meta=wt-instance:fresh")
			for i := 1; i <= 2; i++ {
				if r := ts.req("GET", "/api/run/acme/visits", "", nil); r.Status != 200 || string(r.Body) != fmt.Sprintf(`{"visits":%d}`, i) {
					t.Fatalf("visit %d: %d %s", i, r.Status, r.Body)
				}
			}
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := ts.req("GET", "/api/run/acme/visits", "", nil); r.Status != 200 {
						t.Errorf("concurrent visit: %d %s", r.Status, r.Body)
					}
				}()
			}
			wg.Wait()
			const path = "/api/webtask/acme/visits/data"
			got := ts.getStorage(path, ts.Admin)
			if got.Data == nil || *got.Data != `{"visits":10}` {
				t.Fatalf("after 10 visits: %+v", got)
			}
			// A document bigger than the SDKs' first read buffer, with the
			// count after a long escaped string: read again at its size.
			pad := strings.Repeat(`x"é\`, 1000)
			if r := ts.putStorage(path, ts.Admin, map[string]any{"pad": pad, "visits": 41}, got.ETag); r.Status != 200 {
				t.Fatalf("PUT = %d %s", r.Status, r.Body)
			}
			if r := ts.req("GET", "/api/run/acme/visits", "", nil); r.Status != 200 || string(r.Body) != `{"visits":42}` {
				t.Fatalf("visit after a big document: %d %s", r.Status, r.Body)
			}
		})
	}
}
