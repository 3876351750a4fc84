package token

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/store"
)

// tinyWasm is the smallest valid module header; Derive does not compile.
var tinyWasm = base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00"))

func newSigner(t testing.TB) *Signer {
	t.Helper()
	k, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(k)
}

func openKV(t testing.TB) *store.Bolt {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func root(dd int) *Claims { return &Claims{ID: NewID(), IssuedAt: 1, Depth: dd} }

func intp(i int) *int { return &i }

func TestSigner_SignVerify(t *testing.T) {
	s := newSigner(t)
	raw, c, err := s.Issue(root(3), &Request{Containers: "acme", PublicContext: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Containers != "acme" || got.Depth != 2 || got.PublicContext["a"] != "b" || len(got.Ancestors) != 1 {
		t.Fatalf("claims = %+v", got)
	}
	other := newSigner(t)
	if _, err := other.Verify(raw); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown key id") {
		t.Fatalf("verify with another key set: %v", err)
	}
}

// TestSigner_Header: the JOSE header is the original platform's — alg and
// kid, no "typ" (sandboxjs takes "typ":"JWT" for an OpenID access token
// and refuses token commands with it).
func TestSigner_Header(t *testing.T) {
	s := newSigner(t)
	raw, _, err := s.Issue(root(3), &Request{Containers: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	if _, ok := hdr["typ"]; ok || hdr["alg"] != "HS256" || hdr["kid"] == nil || len(hdr) != 2 {
		t.Fatalf("header = %s", h)
	}
}

func TestSigner_VerifyRefuses(t *testing.T) {
	s := newSigner(t)
	s.now = func() time.Time { return time.Unix(1000, 0) }
	good, _ := s.Sign(&Claims{ID: "ab", Depth: 1})
	kid := s.keys.Current().ID
	key := s.keys.Current().Key
	sign := func(m jwt.SigningMethod, hdr map[string]any, claims jwt.Claims, k any) string {
		tok := jwt.NewWithClaims(m, claims)
		for h, v := range hdr {
			tok.Header[h] = v
		}
		out, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	parts := strings.Split(good, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + parts[1] + "."
	tests := []struct {
		name, raw, want string
	}{
		{"empty", "", "no token"},
		{"garbage", "not-a-jwt", "malformed"},
		{"two parts", "a.b", "malformed"},
		{"alg none", none, "not HS256"},
		{"HS384", sign(jwt.SigningMethodHS384, map[string]any{"kid": kid}, &Claims{ID: "ab"}, key), "not HS256"},
		{"no kid", sign(jwt.SigningMethodHS256, nil, &Claims{ID: "ab"}, key), "no key id"},
		{"unknown kid", sign(jwt.SigningMethodHS256, map[string]any{"kid": "nope"}, &Claims{ID: "ab"}, key), "unknown key id"},
		{"wrong key", sign(jwt.SigningMethodHS256, map[string]any{"kid": kid}, &Claims{ID: "ab"}, []byte(strings.Repeat("k", 32))), "signature is invalid"},
		{"no jti", sign(jwt.SigningMethodHS256, map[string]any{"kid": kid}, &Claims{}, key), "no id"},
		{"expired", sign(jwt.SigningMethodHS256, map[string]any{"kid": kid}, &Claims{ID: "ab", ExpiresAt: 999}, key), "expired"},
		{"not yet valid", sign(jwt.SigningMethodHS256, map[string]any{"kid": kid}, &Claims{ID: "ab", NotBefore: 1001}, key), "not valid before"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"jti":"ab","dd":9}`)) + "." + parts[2], "signature is invalid"},
		{"too long", strings.Repeat("a", MaxTokenBytes+1), "longer than"},
		{"wrong claim type", sign(jwt.SigningMethodHS256, map[string]any{"kid": kid}, jwt.MapClaims{"jti": "ab", "dd": "x"}, key), "malformed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Verify(tc.raw)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	if _, err := s.Verify(good); err != nil {
		t.Fatal(err)
	}
}

func TestParseContainers(t *testing.T) {
	tests := []struct {
		ten     string
		allow   []string
		deny    []string
		wantErr string
	}{
		{"", []string{"a", "anything"}, nil, ""},
		{"acme", []string{"acme"}, []string{"acme2", "other"}, ""},
		{"a, b", []string{"a", "b"}, []string{"c", "a, b"}, ""},
		{"/^wt-x-[0-9]$/", []string{"wt-x-1"}, []string{"wt-x-10", "wt-y-1"}, ""},
		{"/acme/", []string{"acme", "xacmex"}, []string{"acm"}, ""},
		{"/[/", nil, nil, "invalid regular expression"},
		{"//", nil, nil, "empty regular expression"},
		{"/" + strings.Repeat("a", MaxTenRegexp+1) + "/", nil, nil, "longer than"},
		{"a,,b", nil, nil, "not a container name"},
		{"a/b", nil, nil, "not a container name"},
		{strings.Repeat("a,", MaxTenNames) + "a", nil, nil, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.ten, func(t *testing.T) {
			c, err := ParseContainers(tc.ten)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range tc.allow {
				if !c.Allows(n) {
					t.Errorf("%q does not allow %q", tc.ten, n)
				}
			}
			for _, n := range tc.deny {
				if c.Allows(n) {
					t.Errorf("%q allows %q", tc.ten, n)
				}
			}
		})
	}
}

func TestDerive(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	codeParent := &Claims{ID: "p", Depth: 2, URL: "sha256:" + strings.Repeat("a", 64), Containers: "acme"}
	tests := []struct {
		name   string
		parent *Claims
		pctx   map[string]string
		req    Request
		err    error
		msg    string
		check  func(*testing.T, *Claims, map[string]string)
	}{
		{name: "defaults inherit", parent: &Claims{ID: "p", Depth: 3, Containers: "acme", ExpiresAt: 2_000_000, LimitSecond: 5, TokenLimitHour: 9, ParseBody: 1},
			check: func(t *testing.T, c *Claims, _ map[string]string) {
				if c.Depth != 2 || c.Containers != "acme" || c.ExpiresAt != 2_000_000 || c.LimitSecond != 5 || c.TokenLimitHour != 9 || c.ParseBody != 1 {
					t.Fatalf("child = %+v", c)
				}
				if len(c.Ancestors) != 1 || c.Ancestors[0] != "p" || c.ID == "" || c.IssuedAt != now.Unix() {
					t.Fatalf("server claims = %+v", c)
				}
			}},
		{name: "dd 0 parent", parent: &Claims{ID: "p"}, err: ErrTooWide, msg: "dd"},
		{name: "dd equal", parent: root(2), req: Request{Depth: intp(2)}, err: ErrTooWide, msg: "dd"},
		{name: "dd negative", parent: root(2), req: Request{Depth: intp(-1)}, err: ErrMalformed, msg: "dd"},
		{name: "dd explicit 0", parent: root(2), req: Request{Depth: intp(0)}, check: func(t *testing.T, c *Claims, _ map[string]string) {
			if c.Depth != 0 {
				t.Fatal(c.Depth)
			}
		}},
		{name: "ten narrower list", parent: &Claims{ID: "p", Depth: 1, Containers: "a,b,c"}, req: Request{Containers: "a,c"}},
		{name: "ten wider list", parent: &Claims{ID: "p", Depth: 1, Containers: "a,b"}, req: Request{Containers: "a,z"}, err: ErrTooWide, msg: `ten: container "z"`},
		{name: "ten literal under regex", parent: &Claims{ID: "p", Depth: 1, Containers: "/^wt-x-[0-9]$/"}, req: Request{Containers: "wt-x-3"}},
		{name: "ten other regex", parent: &Claims{ID: "p", Depth: 1, Containers: "/^wt-x-[0-9]$/"}, req: Request{Containers: "/^wt-x-1$/"}, err: ErrTooWide, msg: "regular expression"},
		{name: "ten same regex", parent: &Claims{ID: "p", Depth: 1, Containers: "/^wt-x-[0-9]$/"}, req: Request{Containers: "/^wt-x-[0-9]$/"}},
		{name: "ten bad regex", parent: root(1), req: Request{Containers: "/(/"}, err: ErrMalformed, msg: "ten"},
		{name: "url and code", parent: root(1), req: Request{URL: "sha256:" + strings.Repeat("a", 64), Code: tinyWasm}, err: ErrMalformed, msg: "mutually exclusive"},
		{name: "url file scheme", parent: root(1), req: Request{URL: "file:///etc/passwd"}, err: ErrMalformed, msg: "only http"},
		{name: "url credentials", parent: root(1), req: Request{URL: "http://u:p@h/x.wasm"}, err: ErrMalformed, msg: "credentials"},
		{name: "url bad sha", parent: root(1), req: Request{URL: "sha256:xyz"}, err: ErrMalformed, msg: "64"},
		{name: "code neither wasm nor text", parent: root(1), req: Request{Code: "module.exports = 1;\x00"}, err: ErrMalformed, msg: "base64 Wasm module or JavaScript text"},
		{name: "code JavaScript too big", parent: root(1), req: Request{Code: strings.Repeat("x", MaxCodeBytes+1)}, err: ErrMalformed, msg: "JavaScript of 4097 bytes is too large"},
		{name: "code JavaScript kept as written", parent: root(1), req: Request{Code: "module.exports = function (ctx, cb) { cb(null, 1) }"}, check: func(t *testing.T, c *Claims, _ map[string]string) {
			if c.Code != "module.exports = function (ctx, cb) { cb(null, 1) }" {
				t.Errorf("code = %q", c.Code)
			}
		}},
		{name: "code too big", parent: root(1), req: Request{Code: base64.StdEncoding.EncodeToString(append([]byte("\x00asm"), make([]byte, MaxCodeBytes)...))}, err: ErrMalformed, msg: "too large"},
		{name: "child of code token keeps code", parent: codeParent, check: func(t *testing.T, c *Claims, _ map[string]string) {
			if c.URL != codeParent.URL {
				t.Fatalf("url = %q", c.URL)
			}
		}},
		{name: "child of code token other url", parent: codeParent, req: Request{URL: "sha256:" + strings.Repeat("b", 64)}, err: ErrTooWide, msg: "url"},
		{name: "child of code token jtn", parent: codeParent, req: Request{WebtaskName: "x"}, err: ErrTooWide, msg: "jtn"},
		{name: "child of jtn token other jtn", parent: &Claims{ID: "p", Depth: 1, WebtaskName: "a"}, req: Request{WebtaskName: "b"}, err: ErrTooWide, msg: "jtn"},
		{name: "ectx without code", parent: root(1), req: Request{EncryptedContext: map[string]string{"s": "1"}}, err: ErrMalformed, msg: "ectx needs"},
		{name: "ectx adds", parent: codeParent, pctx: map[string]string{"a": "1"}, req: Request{EncryptedContext: map[string]string{"b": "2", "a": "1"}},
			check: func(t *testing.T, _ *Claims, m map[string]string) {
				if m["a"] != "1" || m["b"] != "2" {
					t.Fatal(m)
				}
			}},
		{name: "ectx changes parent", parent: codeParent, pctx: map[string]string{"a": "1"}, req: Request{EncryptedContext: map[string]string{"a": "2"}}, err: ErrTooWide, msg: "ectx"},
		{name: "pctx changes parent", parent: &Claims{ID: "p", Depth: 1, PublicContext: map[string]string{"a": "1"}}, req: Request{PublicContext: map[string]string{"a": "2"}}, err: ErrTooWide, msg: "pctx"},
		{name: "pctx NUL", parent: root(1), req: Request{PublicContext: map[string]string{"a": "x\x00"}}, err: ErrMalformed, msg: "NUL"},
		{name: "exp past", parent: root(1), req: Request{ExpiresAt: now.Unix() - 1}, err: ErrMalformed, msg: "exp is in the past"},
		{name: "exp after parent", parent: &Claims{ID: "p", Depth: 1, ExpiresAt: now.Unix() + 10}, req: Request{ExpiresAt: now.Unix() + 11}, err: ErrTooWide, msg: "exp"},
		{name: "nbf before parent", parent: &Claims{ID: "p", Depth: 1, NotBefore: now.Unix() + 10}, req: Request{NotBefore: now.Unix() + 5}, err: ErrTooWide, msg: "nbf"},
		{name: "nbf after exp", parent: root(1), req: Request{NotBefore: now.Unix() + 10, ExpiresAt: now.Unix() + 5}, err: ErrMalformed, msg: "nbf must be before exp"},
		{name: "dr inherited", parent: &Claims{ID: "p", Depth: 1, DenyRevokeSelf: 1}, check: func(t *testing.T, c *Claims, _ map[string]string) {
			if c.DenyRevokeSelf != 1 {
				t.Fatal("dr not inherited")
			}
		}},
		{name: "dr 2", parent: root(1), req: Request{DenyRevokeSelf: 2}, err: ErrMalformed, msg: "dr"},
		{name: "pb 2", parent: root(1), req: Request{ParseBody: intp(2)}, err: ErrMalformed, msg: "pb"},
		{name: "limit lowered", parent: &Claims{ID: "p", Depth: 1, LimitMinute: 100}, req: Request{LimitMinute: 10, TokenLimitSecond: 3},
			check: func(t *testing.T, c *Claims, _ map[string]string) {
				if c.LimitMinute != 10 || c.TokenLimitSecond != 3 {
					t.Fatalf("%+v", c)
				}
			}},
		{name: "limit raised", parent: &Claims{ID: "p", Depth: 1, LimitMinute: 100}, req: Request{LimitMinute: 101}, err: ErrTooWide, msg: "lm"},
		{name: "token limit raised", parent: &Claims{ID: "p", Depth: 1, TokenLimitDay: 5}, req: Request{TokenLimitDay: 6}, err: ErrTooWide, msg: "ltd"},
		{name: "limit negative", parent: root(1), req: Request{LimitSecond: -1}, err: ErrMalformed, msg: "ls"},
		{name: "limit huge", parent: root(1), req: Request{TokenLimitMonth: MaxLimit + 1}, err: ErrMalformed, msg: "lto"},
		{name: "meta too long", parent: root(1), req: Request{Meta: map[string]string{"k": strings.Repeat("v", 2000)}}, err: ErrMalformed, msg: "meta"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m, err := Derive(tc.parent, tc.pctx, &tc.req, now)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c, m)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct{ body, msg string }{
		{`{"jti":"x"}`, "jti is set by the server"},
		{`{"ca":[]}`, "ca is set by the server"},
		{`{"tne":"acme"}`, `unknown claim "tne"`},
		{`{"dd":"one"}`, "claim dd must be an integer"},
		{`{"lm":"1.5"}`, "claim lm must be an integer"},
		{`{"ectx":{"a":1}}`, "claim ectx must be an object of strings, not a JSON number"},
		{`[1]`, "one JSON object"},
		{`{"ten":"a"} {}`, "one JSON object"},
		{`{`, "one JSON object"},
	}
	for _, tc := range tests {
		_, err := ParseRequest([]byte(tc.body))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseRequest(%s) = %v, want %q", tc.body, err, tc.msg)
		}
	}
	r, err := ParseRequest([]byte(`{"ten":"acme","dd":0,"ectx":{"s":"x"},"ls":3}`))
	if err != nil || r.Containers != "acme" || r.Depth == nil || *r.Depth != 0 || r.EncryptedContext["s"] != "x" || r.LimitSecond != 3 {
		t.Fatalf("ParseRequest = %+v, %v", r, err)
	}
	// wt-cli sends numbers as strings, and sandboxjs a host claim.
	r, err = ParseRequest([]byte(`{"ten":"acme","dd":"0","lm":"600","pb":"1","host":"example.com"}`))
	if err != nil || r.Depth == nil || *r.Depth != 0 || r.LimitMinute != 600 || r.ParseBody == nil || *r.ParseBody != 1 {
		t.Fatalf("numbers as strings = %+v, %v", r, err)
	}
	if r, err := ParseRequest(nil); err != nil || r.Depth != nil {
		t.Fatalf("empty body = %+v, %v", r, err)
	}
}

func TestSigner_EncryptedContext(t *testing.T) {
	s := newSigner(t)
	parent := &Claims{ID: "p", Depth: 2}
	raw, c, err := s.Issue(parent, &Request{Containers: "acme", Code: tinyWasm, EncryptedContext: map[string]string{"secret": "abc!123"}})
	if err != nil {
		t.Fatal(err)
	}
	// The token text reveals nothing of the secret, in any encoding.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
	if strings.Contains(raw, "abc!123") || strings.Contains(string(payload), "abc!123") {
		t.Fatal("secret in clear in the token")
	}
	m, err := s.OpenContext(c)
	if err != nil || m["secret"] != "abc!123" {
		t.Fatalf("OpenContext = %v, %v", m, err)
	}
	// A grandchild inherits the secrets sealed again under its own id.
	raw2, c2, err := s.Issue(c, &Request{EncryptedContext: map[string]string{"more": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.OpenContext(c2); err != nil || m["secret"] != "abc!123" || m["more"] != "x" {
		t.Fatalf("grandchild ectx = %v, %v", m, err)
	}
	_ = raw2
	// The ciphertext is bound to its token: moved to another token (or with
	// other code) it does not open.
	moved := *c2
	moved.EncryptedContext = c.EncryptedContext
	if _, err := s.OpenContext(&moved); !errors.Is(err, ErrInvalid) {
		t.Fatalf("moved ectx opened: %v", err)
	}
	recoded := *c
	recoded.Code = base64.StdEncoding.EncodeToString([]byte("\x00asm\x01\x00\x00\x00\x00"))
	if _, err := s.OpenContext(&recoded); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ectx opened for other code: %v", err)
	}
	flipped := *c
	b := []byte(flipped.EncryptedContext)
	b[len(b)/2] ^= 1
	flipped.EncryptedContext = string(b)
	if _, err := s.OpenContext(&flipped); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "abc") {
		t.Fatalf("tampered ectx: %v", err)
	}
}

func TestSigner_IssueTooLarge(t *testing.T) {
	s := newSigner(t)
	big := map[string]string{}
	for i := 0; i < 40; i++ {
		big[strings.Repeat("k", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 300)
	}
	_, _, err := s.Issue(root(1), &Request{PublicContext: big})
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("err = %v", err)
	}
}

func TestRevocations(t *testing.T) {
	kv := openKV(t)
	r, err := OpenRevocations(kv)
	if err != nil {
		t.Fatal(err)
	}
	a := &Claims{ID: "a"}
	b := &Claims{ID: "b", Ancestors: []string{"a"}}
	c := &Claims{ID: "c", Ancestors: []string{"a", "b"}}
	sib := &Claims{ID: "s", Ancestors: []string{"a"}}
	if r.IsRevoked(c) {
		t.Fatal("revoked before any revocation")
	}
	if err := r.Revoke(b); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(b); err != nil {
		t.Fatal("second revoke:", err)
	}
	for _, tc := range []struct {
		c    *Claims
		want bool
	}{{a, false}, {b, true}, {c, true}, {sib, false}} {
		if got := r.IsRevoked(tc.c); got != tc.want {
			t.Errorf("IsRevoked(%s) = %v", tc.c.ID, got)
		}
	}
	// Expired revocations are dropped at load; live ones survive.
	old := &Claims{ID: "old", ExpiresAt: time.Now().Add(-time.Hour).Unix()}
	if err := r.Revoke(old); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenRevocations(kv)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.IsRevoked(c) || r2.IsRevoked(sib) || r2.Len() != 1 {
		t.Fatalf("after reload: c revoked %v, sib revoked %v, len %d", r2.IsRevoked(c), r2.IsRevoked(sib), r2.Len())
	}
}

func TestRevocations_Hammer(t *testing.T) {
	r, err := OpenRevocations(openKV(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := NewID()
				if g%2 == 0 {
					_ = r.Revoke(&Claims{ID: id})
				}
				r.IsRevoked(&Claims{ID: "x", Ancestors: []string{id, "y"}})
			}
		}(g)
	}
	wg.Wait()
	if r.Len() != 40 {
		t.Fatalf("len = %d", r.Len())
	}
}

func TestPeriod_Window(t *testing.T) {
	at := time.Date(2025, 3, 12, 15, 4, 5, 600, time.UTC) // a Wednesday
	want := map[Period][2]string{
		Second: {"2025-03-12T15:04:05Z", "2025-03-12T15:04:06Z"},
		Minute: {"2025-03-12T15:04:00Z", "2025-03-12T15:05:00Z"},
		Hour:   {"2025-03-12T15:00:00Z", "2025-03-12T16:00:00Z"},
		Day:    {"2025-03-12T00:00:00Z", "2025-03-13T00:00:00Z"},
		Week:   {"2025-03-10T00:00:00Z", "2025-03-17T00:00:00Z"},
		Month:  {"2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z"},
	}
	for p, w := range want {
		s, e := p.Window(at)
		if s.Format(time.RFC3339) != w[0] || e.Format(time.RFC3339) != w[1] {
			t.Errorf("%s window = %s..%s, want %s..%s", p, s.Format(time.RFC3339), e.Format(time.RFC3339), w[0], w[1])
		}
	}
}

func TestLimiter(t *testing.T) {
	kv := openKV(t)
	now := time.Date(2025, 3, 12, 15, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	l, err := OpenLimiter(kv, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok := &Claims{ID: "t1", LimitSecond: 3, TokenLimitHour: 5}
	for i := 0; i < 3; i++ {
		if _, ok := l.Allow(tok, "acme"); !ok {
			t.Fatalf("request %d refused", i)
		}
	}
	d, ok := l.Allow(tok, "acme")
	if ok || d.Claim != "ls" || d.RetryAfter != time.Second || d.Token {
		t.Fatalf("4th request: ok %v denial %+v", ok, d)
	}
	// Another container has its own container counter.
	if _, ok := l.Allow(tok, "other"); !ok {
		t.Fatal("other container refused")
	}
	// A new second: the container window resets, the token's hour does not.
	now = now.Add(time.Second)
	if _, ok := l.Allow(tok, "acme"); !ok {
		t.Fatal("next second refused")
	}
	d, ok = l.Allow(tok, "acme")
	if ok || d.Claim != "lth" || !d.Token || d.RetryAfter != 56*time.Minute-6*time.Second {
		t.Fatalf("token hour limit: ok %v denial %+v (retry %s)", ok, d, d.RetryAfter)
	}
	if !strings.Contains(d.Message(), "5 requests per hour") {
		t.Fatalf("message = %q", d.Message())
	}
	// Limits survive a restart through Flush.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l2, err := OpenLimiter(kv, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l2.Allow(tok, "acme"); ok {
		t.Fatal("hour limit forgotten across a restart")
	}
	// ...but not past their window.
	now = now.Add(time.Hour)
	l3, _ := OpenLimiter(kv, clock)
	if _, ok := l3.Allow(tok, "acme"); !ok {
		t.Fatal("counter of a past window restored")
	}
	// Tokens without limits never touch the limiter.
	if _, ok := l3.Allow(&Claims{ID: "free"}, "acme"); !ok || l3.Len() != 2 {
		t.Fatalf("unlimited token: ok %v, counters %d", ok, l3.Len())
	}
}

func TestLimiter_Hammer(t *testing.T) {
	l, _ := OpenLimiter(openKV(t), nil)
	tok := &Claims{ID: "t", LimitDay: 1000}
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, ok := l.Allow(tok, "acme"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				if i%50 == 0 {
					_ = l.Flush()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 1000 {
		t.Fatalf("allowed %d of 1600 with a limit of 1000", allowed)
	}
}

// FuzzVerify feeds arbitrary text, and mutations of a valid token, to Verify:
// it must never panic, and nothing but the exact token verifies.
func FuzzVerify(f *testing.F) {
	k, _ := keys.Generate()
	s := NewSigner(k)
	good, _, err := s.Issue(root(2), &Request{Containers: "a1", Code: tinyWasm, EncryptedContext: map[string]string{"s": "x"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(good[:len(good)-1])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.Verify(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		// Only the original token may verify; base64 padding bits aside,
		// a different text must carry the very same claims.
		if raw != good {
			want, _ := s.Verify(good)
			a, _ := json.Marshal(c)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Fatalf("forged token verified: %s", a)
			}
		}
		_, _ = s.OpenContext(c)
		c.AllowsContainer("a1")
	})
}

// FuzzParseRequest: arbitrary issue bodies never panic and always derive to
// a child no wider than the parent.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"ten":"acme","dd":1,"ls":5}`))
	f.Add([]byte(`{"ten":"/^x$/","url":"sha256:` + strings.Repeat("a", 64) + `","ectx":{"a":"b"}}`))
	f.Add([]byte(`{"ten":"a","url":"sha256:` + strings.Repeat("a", 64) + `","ectx":{"a":"b"},"lts":3}`))
	f.Add([]byte(`{"exp":99999999999,"nbf":1,"pb":1,"mb":1,"meta":{"a":"b"}}`))
	parent := &Claims{ID: "p", Depth: 3, Containers: "a,b", ExpiresAt: 5_000_000_000, LimitHour: 10}
	now := time.Unix(1_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		c, secrets, err := Derive(parent, nil, req, now)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooWide) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		ten, err := ParseContainers(c.Containers)
		if err != nil {
			t.Fatalf("derived ten does not parse: %v", err)
		}
		if _, one := ten.Single(); len(secrets) > 0 && (!one || !c.FixesCode()) {
			t.Fatalf("secrets not bound to one container and fixed code: %+v", c)
		}
		if ten.Any() || ten.Allows("c") || c.Depth >= parent.Depth || c.ExpiresAt == 0 || c.ExpiresAt > parent.ExpiresAt ||
			c.LimitHour == 0 || c.LimitHour > parent.LimitHour {
			t.Fatalf("child wider than parent: %+v", c)
		}
	})
}

func BenchmarkSigner_Verify(b *testing.B) {
	s := newSigner(b)
	raw, _, err := s.Issue(root(10), &Request{Containers: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSigner_VerifyCodeToken(b *testing.B) {
	s := newSigner(b)
	raw, _, err := s.Issue(root(10), &Request{Containers: "acme", URL: "sha256:" + strings.Repeat("a", 64),
		EncryptedContext: map[string]string{"secret": "abc!123"}, PublicContext: map[string]string{"p": "1"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := s.Verify(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.OpenContext(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRevocations_IsRevoked(b *testing.B) {
	r, _ := OpenRevocations(openKV(b))
	for i := 0; i < 1000; i++ {
		r.set.Store(NewID(), struct{}{})
		r.n.Add(1)
	}
	c := &Claims{ID: NewID(), Ancestors: []string{NewID(), NewID()}}
	b.ReportAllocs()
	for b.Loop() {
		if r.IsRevoked(c) {
			b.Fatal("revoked")
		}
	}
}

func BenchmarkLimiter_Allow(b *testing.B) {
	l, _ := OpenLimiter(openKV(b), nil)
	c := &Claims{ID: "t", LimitMonth: MaxLimit, TokenLimitSecond: MaxLimit}
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(c, "acme")
	}
}

func TestVerify_Allocs(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	l, _ := OpenLimiter(openKV(t), nil)
	c := &Claims{ID: "t", LimitMonth: MaxLimit}
	l.Allow(c, "acme")
	if n := testing.AllocsPerRun(100, func() { l.Allow(c, "acme") }); n != 0 {
		t.Errorf("Limiter.Allow allocates %v times per call", n)
	}
	r, _ := OpenRevocations(openKV(t))
	_ = r.Revoke(&Claims{ID: "z"})
	cc := &Claims{ID: "q", Ancestors: []string{"a", "b"}}
	if n := testing.AllocsPerRun(100, func() { r.IsRevoked(cc) }); n != 0 {
		t.Errorf("IsRevoked allocates %v times per call", n)
	}
}
