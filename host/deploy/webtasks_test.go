package deploy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// fixture returns a committed module from testdata (built from its .wat by
// `make guests`).
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name + ".wasm")
	if err != nil {
		tb.Fatalf("fixture %s: %v (run `make guests`)", name, err)
	}
	return b
}

// answer runs one request on pool and returns the body (hello.wasm answers
// "hello", bye.wasm "bye": JSON strings, unquoted here).
func answer(tb testing.TB, pool *engine.Pool) string {
	tb.Helper()
	var resp engine.Response
	if err := pool.Serve(context.Background(), &engine.Request{Method: "GET", Path: "/"}, &resp); err != nil {
		tb.Fatal(err)
	}
	return strings.Trim(string(resp.Body), `"`)
}

func TestRegistry_DeployRunDelete(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	hello := fixture(t, "hello")
	w, created, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "hi", Wasm: hello,
		Secrets: map[string]string{"k": "v"}, Meta: map[string]string{"owner": "ann"}, Params: map[string]string{"p": "1"}})
	if err != nil || !created {
		t.Fatalf("deploy: created=%v err=%v", created, err)
	}
	if w.ModuleSHA256 != engine.SHA256(hello) || w.Token == "" || w.Created.IsZero() {
		t.Errorf("stored webtask: %+v", w)
	}
	d, err := r.Webtask("acme", "hi")
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(t, d.Pool); got != "hello" {
		t.Errorf("run: %q", got)
	}
	if d.Token == nil || d.Token.Claims.WebtaskName != "hi" || d.Token.Claims.Containers != "acme" ||
		len(d.Token.Params) != 1 || len(d.Secrets) != 1 || d.Secrets[0].Value != "v" {
		t.Errorf("deployment: token %+v secrets %+v", d.Token, d.Secrets)
	}
	if names := r.SecretNames(w); len(names) != 1 || names[0] != "k" {
		t.Errorf("secret names: %v", names)
	}
	if d2, _ := r.Webtask("acme", "hi"); d2 != d {
		t.Error("a second lookup built a new deployment")
	}

	// Replacing answers with the new code at once and frees the old.
	bye := fixture(t, "bye")
	if _, created, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "hi", Wasm: bye}); err != nil || created {
		t.Fatalf("replace: created=%v err=%v", created, err)
	}
	d, _ = r.Webtask("acme", "hi")
	if got := answer(t, d.Pool); got != "bye" {
		t.Errorf("after replace: %q", got)
	}
	if r.eng.Compiled(engine.SHA256(hello)) {
		t.Error("the replaced module is still compiled")
	}

	if err := r.Delete("acme", "hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Webtask("acme", "hi"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if err := r.Delete("acme", "hi"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if r.eng.Compiled(engine.SHA256(bye)) {
		t.Error("the deleted webtask's module is still compiled")
	}
	if _, err := r.st.GetModule(engine.SHA256(bye)); !errors.Is(err, store.ErrModuleNotFound) {
		t.Errorf("the deleted webtask's module is still stored: %v", err)
	}
}

// TestRegistry_ModuleLifetime: compiled code stays while anything uses it
// — another webtask, a token's code pool — and goes with the last user.
func TestRegistry_ModuleLifetime(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	hello := fixture(t, "hello")
	sha := engine.SHA256(hello)
	for _, name := range []string{"a", "b"} {
		if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: hello}); err != nil {
			t.Fatal(err)
		}
	}
	// A token that runs the module by hash holds it in a code pool.
	raw := r.issue(t, r.admin, &token.Request{Containers: "acme", URL: "sha256:" + sha})
	tok, err := r.Authenticate([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := r.FixedCode(tok, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if got := answer(t, cp.Pool); got != "hello" {
		t.Errorf("code pool: %q", got)
	}
	cp.Release()

	if err := r.Delete("acme", "a"); err != nil {
		t.Fatal(err)
	}
	if !r.eng.Compiled(sha) {
		t.Fatal("module evicted while webtask b uses it")
	}
	if err := r.Delete("acme", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.FixedCode(tok, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("code of a deleted module: %v, want ErrNotFound", err)
	}
	if !r.eng.Compiled(sha) {
		t.Fatal("module evicted while a code pool holds it")
	}
	// Filling the code-pool LRU closes the old pool and its hold.
	for i := 0; i < r.cfg.CodePools; i++ {
		other := r.issue(t, r.admin, &token.Request{Containers: "acme", Code: codeClaim(fixture(t, "bye"))})
		ot, err := r.Authenticate([]byte(other))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := r.FixedCode(ot, "acme")
		if err != nil {
			t.Fatal(err)
		}
		cp.Release()
	}
	if r.eng.Compiled(sha) {
		t.Error("module still compiled after its last user went")
	}
}

func codeClaim(wasm []byte) string {
	return b64(wasm)
}

func TestRegistry_DeployRefused(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxModuleBytes = 200
	r := newTestRegistry(t, cfg)
	hello := fixture(t, "hello")
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "keep", Wasm: hello}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		up   Upload
		want error
	}{
		{"empty module", Upload{}, ErrBadRequest},
		{"too large", Upload{Wasm: make([]byte, 201)}, ErrTooLarge},
		{"not wasm", Upload{Wasm: []byte("not wasm at all")}, ErrInvalidModule},
		{"bad policy", Upload{Wasm: hello, Meta: map[string]string{MetaPolicy: "sometimes"}}, ErrBadRequest},
		{"empty secret name", Upload{Wasm: hello, Secrets: map[string]string{"": "x"}}, ErrBadRequest},
		{"NUL in meta key", Upload{Wasm: hello, Meta: map[string]string{"a\x00": "x"}}, ErrBadRequest},
		{"pb out of range", Upload{Wasm: hello, ParseBody: 2}, token.ErrMalformed},
		{"JavaScript without an engine", Upload{JS: []byte("module.exports = 1")}, ErrNoJSEngine},
		{"empty JavaScript", Upload{JS: []byte{}}, ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"keep", "new"} {
				tc.up.Container, tc.up.Name = "acme", name
				if _, _, err := r.Deploy(r.admin, tc.up); !errors.Is(err, tc.want) {
					t.Fatalf("%s: err = %v, want %v", name, err, tc.want)
				}
			}
			// Nothing lost, nothing added.
			if ws, _ := r.List("acme"); len(ws) != 1 || ws[0].Name != "keep" {
				t.Errorf("webtasks after a refused deploy: %+v", ws)
			}
			d, err := r.Webtask("acme", "keep")
			if err != nil || answer(t, d.Pool) != "hello" {
				t.Errorf("the stored webtask after a refused deploy: %v", err)
			}
		})
	}
}

func TestRegistry_Quotas(t *testing.T) {
	hello, bye := fixture(t, "hello"), fixture(t, "bye")
	cfg := DefaultConfig()
	cfg.MaxWebtasks = 2
	r := newTestRegistry(t, cfg)
	for _, name := range []string{"a", "b"} {
		if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: hello}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "c", Wasm: hello})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "--max-webtasks") {
		t.Errorf("third webtask: %v, want ErrQuota naming --max-webtasks", err)
	}
	// Replacing one counts it once; another container has its own quota.
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "b", Wasm: bye}); err != nil {
		t.Errorf("replace within quota: %v", err)
	}
	if _, _, err := r.Deploy(r.admin, Upload{Container: "other", Name: "c", Wasm: hello}); err != nil {
		t.Errorf("another container: %v", err)
	}
	cfg.MaxWebtasks, cfg.MaxContainerBytes = 10, int64(len(hello)+len(bye)-1)
	r2 := newTestRegistry(t, cfg)
	if _, _, err := r2.Deploy(r2.admin, Upload{Container: "acme", Name: "a", Wasm: hello}); err != nil {
		t.Fatal(err)
	}
	_, _, err = r2.Deploy(r2.admin, Upload{Container: "acme", Name: "b", Wasm: bye})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "--max-container-bytes") {
		t.Errorf("over the byte quota: %v, want ErrQuota naming --max-container-bytes", err)
	}
	if ws, _ := r2.List("acme"); len(ws) != 1 {
		t.Errorf("a refused deploy was stored: %d webtasks", len(ws))
	}
}

// TestRegistry_Concurrent hammers deploys, runs and deletes of a few
// webtasks at once (run it with -race): every run answers with one of the
// deployed modules or not found, and at the end what is stored is what the
// registry runs.
func TestRegistry_Concurrent(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	mods := map[string][]byte{"hello": fixture(t, "hello"), "bye": fixture(t, "bye")}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				name := fmt.Sprintf("w%d", (g+i)%3)
				switch (g * i) % 4 {
				case 0, 1:
					mod := map[bool]string{true: "hello", false: "bye"}[i%2 == 0]
					if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: name, Wasm: mods[mod]}); err != nil {
						errc <- err
						return
					}
				case 2:
					if err := r.Delete("acme", name); err != nil && !errors.Is(err, ErrNotFound) {
						errc <- err
						return
					}
				case 3:
					d, err := r.Webtask("acme", name)
					if errors.Is(err, ErrNotFound) {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					var resp engine.Response
					err = d.Pool.Serve(context.Background(), &engine.Request{Method: "GET", Path: "/"}, &resp)
					if err != nil && !errors.Is(err, engine.ErrClosed) { // replaced while it ran
						errc <- err
						return
					}
					if err == nil && string(resp.Body) != `"hello"` && string(resp.Body) != `"bye"` {
						errc <- fmt.Errorf("answer %q", resp.Body)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("w%d", i)
		w, err := r.Get("acme", name)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		d, err := r.Webtask("acme", name)
		if err != nil {
			t.Fatal(err)
		}
		if d.Webtask.ModuleSHA256 != w.ModuleSHA256 {
			t.Errorf("%s: registry runs %s, store has %s", name, d.Webtask.ModuleSHA256, w.ModuleSHA256)
		}
	}
}

// TestRegistry_MigratesTokens: a token stored in the old KV namespace moves
// into its webtask's record at start; one whose webtask is gone is dropped.
func TestRegistry_MigratesTokens(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	hello := fixture(t, "hello")
	w, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "old", Wasm: hello})
	if err != nil {
		t.Fatal(err)
	}
	tok := w.Token
	w.Token = ""
	if _, err := r.st.PutWebtask(w, nil); err != nil {
		t.Fatal(err)
	}
	_ = r.st.KVPut(nsWebtaskToken, "acme/old", []byte(tok))
	_ = r.st.KVPut(nsWebtaskToken, "acme/gone", []byte(tok))
	if err := r.migrateTokens(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.st.GetWebtask("acme", "old"); got.Token != tok {
		t.Errorf("token not moved into the record: %q", got.Token)
	}
	if left, _ := r.st.KVList(nsWebtaskToken, ""); len(left) != 0 {
		t.Errorf("old entries left: %v", left)
	}
}

func TestConfig_Validate(t *testing.T) {
	for _, mut := range []func(*Config){
		func(c *Config) { c.MaxModuleBytes = 0 },
		func(c *Config) { c.FetchTTL = -1 },
		func(c *Config) { c.CodePools = 0 },
		func(c *Config) { c.DefaultPolicy = 9 },
	} {
		c := DefaultConfig()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "deploy: ") {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestRegistry_JavaScript runs "JavaScript" on a stand-in engine: the
// engine's source.wat fixture, an interpreter that answers its source as
// the JSON result. The engine is compiled once, kept while no webtask
// uses it, and never run as a webtask's module by hash.
func TestRegistry_JavaScript(t *testing.T) {
	interp, err := os.ReadFile("../engine/testdata/source.wasm")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.JSEngine = interp
	r := newTestRegistry(t, cfg)
	engineSHA := engine.SHA256(interp)
	src := []byte(`"from the source"`)
	w, created, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "js", JS: src})
	if err != nil || !created {
		t.Fatalf("deploy: %v %v", created, err)
	}
	if w.Kind != store.KindJS || w.ModuleSHA256 != engine.SHA256(src) || Language(w) != "javascript" {
		t.Fatalf("stored %+v", w)
	}
	if stored, err := r.st.GetModule(w.ModuleSHA256); err != nil || string(stored) != string(src) {
		t.Fatalf("stored source %q, %v", stored, err)
	}
	d, err := r.Webtask("acme", "js")
	if err != nil || answer(t, d.Pool) != "from the source" {
		t.Fatalf("run: %v", err)
	}
	// Loaded again from the store (as after a restart).
	if err := r.install(key{"acme", "js"}, nil); err != nil {
		t.Fatal(err)
	}
	if d, err = r.Webtask("acme", "js"); err != nil || answer(t, d.Pool) != "from the source" {
		t.Fatalf("reloaded: %v", err)
	}
	// A token's url naming the source runs it on the engine, not compiled as wasm.
	raw := r.issue(t, r.admin, &token.Request{Containers: "acme", URL: "sha256:" + w.ModuleSHA256})
	tok, err := r.Authenticate([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := r.FixedCode(tok, "acme")
	if err != nil {
		t.Fatalf("url of a JavaScript source: %v", err)
	}
	if got := answer(t, cp.Pool); got != "from the source" {
		t.Fatalf("url of a JavaScript source answered %q", got)
	}
	cp.Release()
	if err := r.Delete("acme", "js"); err != nil {
		t.Fatal(err)
	}
	if !r.eng.Compiled(engineSHA) {
		t.Fatal("the JavaScript engine was evicted when its last webtask went")
	}
	if _, _, err := r.Deploy(r.admin, Upload{Container: "acme", Name: "again", JS: src}); err != nil {
		t.Fatal(err)
	}
}
