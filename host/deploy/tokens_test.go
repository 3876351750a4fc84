package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/token"
)

// FuzzAuthenticate feeds arbitrary credentials to the token check (cache,
// signature, claims, ten, ectx, revocation): never a panic, never a success
// for anything but a token the server issued.
func FuzzAuthenticate(f *testing.F) {
	r := newTestRegistry(f, DefaultConfig())
	adminRaw, _ := r.signer.Sign(r.admin.Claims)
	good := r.issue(f, r.admin, &token.Request{Containers: "a-1", Code: "AGFzbQEAAAA=",
		EncryptedContext: map[string]string{"k": "v"}})
	re := r.issue(f, r.admin, &token.Request{Containers: "/^a-[0-9]+$/"})
	valid := map[string]bool{good: true, re: true, adminRaw: true}
	gc, _ := r.signer.Verify(good)
	rc, _ := r.signer.Verify(re)
	ids := map[string]bool{gc.ID: true, rc.ID: true, r.admin.Claims.ID: true}
	for _, s := range []string{good, re, adminRaw, strings.ToUpper(good), good + "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := r.Authenticate([]byte(raw))
		if err != nil {
			if !errors.Is(err, ErrUnauthorized) || err.Error() == "" {
				t.Fatalf("failure %v", err)
			}
			return
		}
		if !valid[raw] && !ids[tok.Claims.ID] {
			// Only base64 padding-bit variants of a valid token can verify;
			// they must carry exactly its claims.
			t.Fatalf("forged token accepted: %+v", tok.Claims)
		}
		tok.Ten.Allows("a-1")
	})
}

func TestAuthenticate_CachedAllocs(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	raw := []byte(r.issue(t, r.admin, &token.Request{Containers: "acme"}))
	if _, err := r.Authenticate(raw); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = r.Authenticate(raw) }); n != 0 {
		t.Fatalf("a cached token costs %v allocations per request", n)
	}
}

func TestAuthenticate_Revoked(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	parent := r.issue(t, r.admin, &token.Request{Containers: "acme"})
	pt, err := r.Authenticate([]byte(parent))
	if err != nil {
		t.Fatal(err)
	}
	child := r.issue(t, pt, &token.Request{Containers: "acme"})
	if _, err := r.Authenticate([]byte(child)); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(pt.Claims); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{parent, child} {
		if _, err := r.Authenticate([]byte(raw)); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("after revoking the parent: %v, want unauthorized (revoked)", err)
		}
	}
}

// auth authenticates raw or fails the test.
func (tr *testRegistry) auth(tb testing.TB, raw string) *Token {
	tb.Helper()
	t, err := tr.Authenticate([]byte(raw))
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// setClock moves the clock of the cached-token checks for one test.
func setClock(tb testing.TB, at time.Time) {
	old := tokenClock
	tokenClock = func() time.Time { return at }
	tb.Cleanup(func() { tokenClock = old })
}

// TestAuthenticate_Window: a token outside its window is refused on first
// sight (and not cached), and a cached token is refused once its exp has
// passed.
func TestAuthenticate_Window(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	now := time.Now()
	exp := r.issue(t, r.admin, &token.Request{Containers: "acme", ExpiresAt: now.Add(time.Hour).Unix()})
	early := r.issue(t, r.admin, &token.Request{Containers: "acme", NotBefore: now.Add(time.Hour).Unix()})
	expired, _ := r.signer.Sign(&token.Claims{Containers: "acme", ExpiresAt: now.Add(-time.Second).Unix()})
	for _, tc := range []struct{ name, raw, want string }{
		{"nbf in the future", early, "not valid before"},
		{"exp in the past", expired, "expired"},
	} {
		if _, err := r.Authenticate([]byte(tc.raw)); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if r.tokens.get([]byte(tc.raw)) != nil {
			t.Errorf("%s: cached", tc.name)
		}
	}
	r.auth(t, exp) // cached
	setClock(t, now.Add(2*time.Hour))
	if _, err := r.Authenticate([]byte(exp)); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("cached token past its exp: %v", err)
	}
}

// TestAuthenticate_SecretsOneContainer: a token issued before secrets were
// bound to one container (ectx with a list of containers) is refused, not
// run: its secrets could reach another tenant's webtask.
func TestAuthenticate_SecretsOneContainer(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	for _, ten := range []string{"acme,mallory", "/^acme$/", ""} {
		raw, _ := r.signer.Sign(&token.Claims{Containers: ten, WebtaskName: "job", EncryptedContext: "c2VhbGVk", Ancestors: []string{r.admin.Claims.ID}})
		if _, err := r.Authenticate([]byte(raw)); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "exactly one container") {
			t.Errorf("ten %q with ectx: %v", ten, err)
		}
	}
}

// TestAdmitWebtask: a named webtask runs as its token, a descendant of the
// uploader's: by its public URL and by any jtn token, the uploader's limits
// hold for all runs together, and revoking the uploader (even after the
// tokens were cached) stops every way to run it.
func TestAdmitWebtask(t *testing.T) {
	r := newTestRegistry(t, DefaultConfig())
	uploader := r.auth(t, r.issue(t, r.admin, &token.Request{Containers: "acme", LimitHour: 3}))
	sibling := r.auth(t, r.issue(t, r.admin, &token.Request{Containers: "acme"}))
	if _, _, err := r.Deploy(uploader, Upload{Container: "acme", Name: "job", Wasm: fixture(t, "hello")}); err != nil {
		t.Fatal(err)
	}
	d, err := r.Webtask("acme", "job")
	if err != nil {
		t.Fatal(err)
	}
	fromUploader := r.issue(t, uploader, &token.Request{WebtaskName: "job"})
	fromSibling := r.issue(t, sibling, &token.Request{WebtaskName: "job"}) // outside the uploader's chain, no limits
	admit := func(caller string) error {
		var c *Token
		if caller != "" {
			var err error
			if c, err = r.Authenticate([]byte(caller)); err != nil {
				return err
			}
		}
		return r.AdmitWebtask(c, "acme", d)
	}
	for i, caller := range []string{"", fromSibling, fromUploader} {
		if err := admit(caller); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	for i, caller := range []string{"", fromSibling, fromUploader} {
		var rl *RateLimitError
		if err := admit(caller); !errors.As(err, &rl) || rl.Denial.Claim != "lh" {
			t.Errorf("run %d over the uploader's lh=3: %v", i, err)
		}
	}

	if err := r.Revoke(uploader.Claims); err != nil {
		t.Fatal(err)
	}
	for i, caller := range []string{"", fromSibling, fromUploader} {
		if err := admit(caller); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("run %d after revoking the uploader: %v", i, err)
		}
	}
	if err := r.Admit(d.Token, "acme", "job"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Admit of the webtask's token after revoking the uploader: %v", err)
	}
	// The sibling's own token still works: only the webtask is stopped.
	r.auth(t, fromSibling)

	// A webtask whose stored token is not valid here does not run at all.
	bad := &Deployment{Webtask: d.Webtask, TokenErr: Fail(ErrUnauthorized, "webtask job: the webtask's token is not valid")}
	if err := r.AdmitWebtask(r.auth(t, fromSibling), "acme", bad); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("stored token not valid: %v", err)
	}
}

// TestAdmitWebtask_Allocs: the hot path of a jtn run, with limits on both
// tokens and an ancestor's limit in between, does not allocate.
func TestAdmitWebtask_Allocs(t *testing.T) {
	r, caller, d := benchWebtask(t)
	if err := r.AdmitWebtask(caller, "acme", d); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.AdmitWebtask(caller, "acme", d) }); n != 0 {
		t.Fatalf("AdmitWebtask costs %v allocations per run", n)
	}
}

func benchWebtask(tb testing.TB) (*testRegistry, *Token, *Deployment) {
	r := newTestRegistry(tb, DefaultConfig())
	tenant := r.auth(tb, r.issue(tb, r.admin, &token.Request{Containers: "acme", LimitMonth: token.MaxLimit, TokenLimitDay: token.MaxLimit}))
	if _, _, err := r.Deploy(tenant, Upload{Container: "acme", Name: "job", Wasm: fixture(tb, "hello")}); err != nil {
		tb.Fatal(err)
	}
	d, err := r.Webtask("acme", "job")
	if err != nil {
		tb.Fatal(err)
	}
	child := r.auth(tb, r.issue(tb, tenant, &token.Request{TokenLimitDay: token.MaxLimit - 1}))
	caller := r.auth(tb, r.issue(tb, child, &token.Request{WebtaskName: "job"}))
	_ = r.Revoke(&token.Claims{ID: "someone-else"}) // a non-empty revoked set
	return r, caller, d
}

// BenchmarkAdmitWebtask is the per-run cost of a jtn run of a named webtask
// once its token is authenticated: the webtask token's window and
// revocation, and the limits of both tokens (container, the tenant's, the
// child's).
func BenchmarkAdmitWebtask(b *testing.B) {
	r, caller, d := benchWebtask(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.AdmitWebtask(caller, "acme", d); err != nil {
			b.Fatal(err)
		}
	}
}

func benchToken(b *testing.B) (*testRegistry, []byte) {
	r := newTestRegistry(b, DefaultConfig())
	raw := r.issue(b, r.admin, &token.Request{Containers: "acme", URL: "sha256:" + strings.Repeat("0123456789abcdef", 4),
		EncryptedContext: map[string]string{"secret": "abc!123"}, PublicContext: map[string]string{"p": "1"}})
	return r, []byte(raw)
}

// BenchmarkAuthenticate_Cached is the per-request cost of a token seen
// before: cache lookup, validity window, revocation of the token and its
// ancestors.
func BenchmarkAuthenticate_Cached(b *testing.B) {
	r, raw := benchToken(b)
	_ = r.Revoke(&token.Claims{ID: "someone-else"}) // a non-empty revoked set
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Authenticate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate_Cold is the cost of a token seen for the first time
// (or evicted): signature, claims, ten, ectx decryption, maps.
func BenchmarkAuthenticate_Cold(b *testing.B) {
	r, raw := benchToken(b)
	b.ReportAllocs()
	for b.Loop() {
		r.tokens.mu.Lock()
		delete(r.tokens.m, string(raw)) // forget
		r.tokens.mu.Unlock()
		if _, err := r.Authenticate(raw); err != nil {
			b.Fatal(err)
		}
	}
}
