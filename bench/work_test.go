package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// TestWork_native checks the native work handler's answers: the reference
// every guest is compared with.
func TestWork_native(t *testing.T) {
	nat, err := serveHandler(workServe(workJWTSecret, workHMACKey))
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	mac := hmac.New(sha256.New, []byte(workHMACKey))
	mac.Write(workHMACBody)
	want := map[string]string{
		"json": `{"id":"cus_7QK2mX9pLr"}`,
		"jwt":  `{"sub":"jdoe"}`,
		"hmac": `{"hmac":"` + hex.EncodeToString(mac.Sum(nil)) + `"}`,
		// printf 'hello, world' | openssl dgst -sha256 -hmac bench-hmac-key-0123456789abcdef
		"hmac-short": `{"hmac":"8eff212dd271ca526f17101d726392f79ca582163dbcbef210046bcbb6c17925"}`,
	}
	for _, req := range workChecks(time.Now()) {
		t.Run(req.Name, func(t *testing.T) {
			r, err := sendWork(nat.url, req)
			if err != nil {
				t.Fatal(err)
			}
			if body, ok := want[req.Name]; ok {
				if r.Status != 200 || string(r.Body) != body {
					t.Fatalf("%d %s, want 200 %s", r.Status, r.Body, body)
				}
				return
			}
			if !strings.HasPrefix(req.Name, "jwt-") {
				t.Fatalf("no expectation for %s", req.Name)
			}
			const refused = `{"code":401,"error":"Script returned an error.","message":"Unauthorized"}`
			if r.Status != 401 || string(r.Body) != refused {
				t.Fatalf("%d %s, want 401 %s", r.Status, r.Body, refused)
			}
		})
	}
	// The scanning variant of /json answers the same, and 400 without the field.
	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{string(workDoc), 200, want["json"]},
		{`{"order":{"id":"x","customer":{"name":"n","tags":["}"],"id":"c\"1"}}}`, 200, `{"id":"c\"1"}`},
		{`{"order":{"customer":{"id":7}}}`, 400, ""},
		{`{"customer":{"id":"x"}}`, 400, ""},
		{`[1,2]`, 400, ""},
		{`{"order":`, 400, ""},
	} {
		r, err := sendWork(nat.url+"/scan", workRequest{Path: "/json", ContentType: "application/json", Body: []byte(c.body)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != c.status || c.want != "" && string(r.Body) != c.want {
			t.Errorf("scan %.40q: %d %s, want %d %s", c.body, r.Status, r.Body, c.status, c.want)
		}
	}
	if n := len(workDoc); n < 1500 || n > 3000 {
		t.Errorf("work.json is %d bytes, want ~2 KB", n)
	}
	if len(workHMACBody) != 64<<10 {
		t.Errorf("hmac body is %d bytes", len(workHMACBody))
	}
}

// TestWork_guests runs each language's work guest, pooled and fresh,
// through the real server and requires exactly native's answers to every
// check (the three tasks, refused tokens); and, deployed with another
// hmac-key, the HMAC of that key — so the guest uses its secret, not a
// constant. A language whose work guest is not built fails (the test is
// skipped only when no guest at all is built: make -C guests all).
func TestWork_guests(t *testing.T) {
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "guests", "build")
	if _, err := os.Stat(filepath.Join(dir, "c", "hello.wasm")); err != nil {
		t.Skip("guests not built (make -C guests all)")
	}
	eng := filepath.Join(dir, "js", "engine.wasm")
	guests, missing := workGuests(dir, root, eng)
	for _, m := range missing {
		t.Errorf("%s", m)
	}
	cfg := api.Config{DataDir: t.TempDir()}
	if _, err := os.Stat(eng); err == nil {
		cfg.JSEngine = eng
	}
	srv, err := startInProc(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nat, err := serveHandler(workServe(workJWTSecret, workHMACKey))
	if err != nil {
		t.Fatal(err)
	}
	defer nat.Close()
	const otherKey = "a-tampered-hmac-key"
	other, err := serveHandler(workServe(workJWTSecret, otherKey))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	checks := workChecks(time.Now())
	hmacOnly := []workRequest{workLoads("")[2]}
	for _, g := range guests {
		for _, policy := range []string{"pool", "fresh"} {
			t.Run(g.Lang+"/"+policy, func(t *testing.T) {
				name := webtaskName("work", g.Lang, policy)
				if err := uploadWork(srv.URL(), srv.Admin(), "work", name, g, workHMACKey, policy == "fresh"); err != nil {
					t.Fatal(err)
				}
				base := runURL(srv.URL(), "work", name)
				if err := checkWork(base, nat.url, checks); err != nil {
					t.Fatal(err)
				}
				// Twice more: a pooled instance serves again, a fresh one anew.
				if err := checkWork(base, nat.url, checks[:3]); err != nil {
					t.Fatalf("second round: %v", err)
				}
				if err := uploadWork(srv.URL(), srv.Admin(), "work", name+"-k", g, otherKey, policy == "fresh"); err != nil {
					t.Fatal(err)
				}
				tampered := runURL(srv.URL(), "work", name+"-k")
				if err := checkWork(tampered, other.url, hmacOnly); err != nil {
					t.Fatalf("with hmac-key %q: %v", otherKey, err)
				}
				if err := checkWork(tampered, nat.url, hmacOnly); err == nil {
					t.Fatalf("with hmac-key %q it answers the HMAC of the harness's key", otherKey)
				}
			})
		}
	}
}

// TestWork_report renders work rows and judges issue 17's target on them.
func TestWork_report(t *testing.T) {
	r := &Results{Mode: "quick", WorkSettings: &WorkSettings{Concurrency: []int{1}, Rounds: 3, JSONBytes: 2477, HMACBytes: 65536}}
	for _, w := range []WorkRow{
		{Task: "json", Target: "native", Concurrency: 1, Ratio: 1},
		{Task: "json", Target: "c/pool", Lang: "c", Policy: "pool", Concurrency: 1, Ratio: 1.5, RatioMin: 1.2, RatioMax: 1.7},
		{Task: "jwt", Target: "c/fresh", Lang: "c", Policy: "fresh", Concurrency: 1, Ratio: 0.4},
		{Task: "jwt", Target: "rust/pool", Lang: "rust", Policy: "pool", Concurrency: 1, Ratio: 0.7},
	} {
		r.Work = append(r.Work, w)
	}
	md := Markdown(r, "quick.svg")
	for _, want := range []string{"## 9. Real work", "| json | c/pool | **1.50×** <sub>1.20–1.70</sub>", "| jwt | rust/pool |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	got := map[string]string{}
	for _, tr := range judgeWork(r.Work) {
		got[tr.Target] = tr.Status
	}
	for target, st := range map[string]string{
		"Work: c json ≥ 0.5× native, pooled and fresh":    "met",
		"Work: c jwt ≥ 0.5× native, pooled and fresh":     "not met",
		"Work: rust jwt ≥ 0.5× native, pooled and fresh":  "met",
		"Work: rust json ≥ 0.5× native, pooled and fresh": "not measured",
	} {
		if got[target] != st {
			t.Errorf("%s: %q, want %q", target, got[target], st)
		}
	}
}
