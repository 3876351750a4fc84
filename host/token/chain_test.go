package token

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// Tests of what a token's chain of ancestors decides: who a named webtask
// runs as, revocation and rate limits across descendants, where secrets may
// go, and the bounds on a chain (issue 10).

// chain issues tokens for tests: a signer at a fixed time and helpers that
// fail the test on error.
type chain struct {
	t *testing.T
	s *Signer
}

func newChain(t *testing.T, at time.Time) *chain {
	s := newSigner(t)
	s.now = func() time.Time { return at }
	return &chain{t, s}
}

func (ch *chain) issue(parent *Claims, req *Request) *Claims {
	ch.t.Helper()
	raw, _, err := ch.s.Issue(parent, req)
	if err != nil {
		ch.t.Fatal(err)
	}
	c, err := ch.s.Verify(raw) // what a server sees: the claims as signed
	if err != nil {
		ch.t.Fatal(err)
	}
	return c
}

func (ch *chain) webtask(parent *Claims, container, name string) *Claims {
	ch.t.Helper()
	raw, _, err := ch.s.IssueWebtask(parent, container, name, "", map[string]string{"p": "1"}, 0, 0, nil)
	if err != nil {
		ch.t.Fatal(err)
	}
	c, err := ch.s.Verify(raw)
	if err != nil {
		ch.t.Fatal(err)
	}
	return c
}

var chainTime = time.Date(2025, 3, 12, 15, 4, 5, 0, time.UTC)

// TestIssueWebtask_RevokedWithUploader: a named webtask runs as its token, a
// descendant of the uploader's; revoking the uploader, or any ancestor of
// it, revokes the webtask's token and every jtn token issued for it from
// that chain.
func TestIssueWebtask_RevokedWithUploader(t *testing.T) {
	ch := newChain(t, chainTime)
	admin := root(10)
	for _, revoke := range []string{"uploader", "uploader's parent"} {
		t.Run(revoke, func(t *testing.T) {
			tenant := ch.issue(admin, &Request{Containers: "acme"})
			uploader := ch.issue(tenant, &Request{})
			sibling := ch.issue(tenant, &Request{})
			w := ch.webtask(uploader, "acme", "job")
			jtn := ch.issue(uploader, &Request{WebtaskName: "job"})
			other := ch.issue(sibling, &Request{WebtaskName: "job"})
			if w.WebtaskName != "job" || w.Containers != "acme" || w.Depth != 0 ||
				strings.Join(w.Ancestors, ",") != strings.Join(append(append([]string{}, uploader.Ancestors...), uploader.ID), ",") {
				t.Fatalf("webtask token = %+v", w)
			}
			r, err := OpenRevocations(openKV(t))
			if err != nil {
				t.Fatal(err)
			}
			target := uploader
			if revoke != "uploader" {
				target = tenant
			}
			if err := r.Revoke(target); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				c    *Claims
				want bool
			}{{"webtask token", w, true}, {"jtn token from the uploader", jtn, true}, {"uploader", uploader, true},
				// A jtn token from outside the chain is not revoked by
				// itself; the run it makes is, through the webtask's token
				// (deploy.Registry.AdmitWebtask).
				{"jtn token from a sibling", other, revoke != "uploader"}} {
				if got := r.IsRevoked(tc.c); got != tc.want {
					t.Errorf("IsRevoked(%s) = %v, want %v", tc.name, got, tc.want)
				}
			}
		})
	}
}

// TestLimiter_WebtaskRunsAsUploader: the container limit (ls=1) and token
// limit of the uploader apply to the runs of its webtask, by the public URL
// (the webtask's token) and by jtn tokens — from the uploader's chain or
// from anyone else — together.
func TestLimiter_WebtaskRunsAsUploader(t *testing.T) {
	ch := newChain(t, chainTime)
	admin := root(10)
	now := chainTime
	l, err := OpenLimiter(openKV(t), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	uploader := ch.issue(admin, &Request{Containers: "acme", LimitSecond: 1, TokenLimitHour: 3})
	w := ch.webtask(uploader, "acme", "job")
	jtn := ch.issue(uploader, &Request{WebtaskName: "job"})
	outsider := ch.issue(admin, &Request{Containers: "acme", WebtaskName: "job"}) // no limits of its own
	if w.LimitSecond != 1 || len(w.AncestorLimits) != 1 || w.AncestorLimits[0].ID != uploader.ID || !w.OwnTokenLimits().Zero() {
		t.Fatalf("webtask token: ls %d, cal %+v, own %v", w.LimitSecond, w.AncestorLimits, w.OwnTokenLimits())
	}

	// One second, ls=1: the first run of any kind takes it.
	if _, ok := l.Allow(w, "acme"); !ok {
		t.Fatal("first public run refused")
	}
	for _, tc := range []struct {
		name string
		a, b *Claims
	}{
		{"public run", w, nil},
		{"jtn token from the uploader", jtn, w},
		{"jtn token from outside the chain", outsider, w},
		{"jtn token alone (no webtask token)", jtn, nil},
	} {
		if d, ok := l.AllowBoth(tc.a, tc.b, "acme"); ok || d.Claim != "ls" {
			t.Errorf("%s in the same second: ok %v, denial %+v", tc.name, ok, d)
		}
	}
	// The next seconds: lth=3 of the uploader holds for all of them.
	for i, run := range [][2]*Claims{{outsider, w}, {jtn, w}} {
		now = now.Add(time.Second)
		if d, ok := l.AllowBoth(run[0], run[1], "acme"); !ok {
			t.Fatalf("run %d: %+v", i, d)
		}
	}
	now = now.Add(time.Second)
	d, ok := l.AllowBoth(outsider, w, "acme")
	if ok || d.Claim != "lth" || !d.Inherited || !strings.Contains(d.Message(), "a token this one was issued from") {
		t.Fatalf("fourth run in the hour: ok %v, denial %+v", ok, d)
	}
	// The uploader's own uses count there too.
	if _, ok := l.Allow(uploader, "beta"); ok {
		t.Fatal("the uploader's hour is spent, in any container")
	}
}

// TestLimiter_AllowBothCountsOnce: a run made as two tokens counts once on
// a counter both reach (the container's, a common ancestor's, the same
// token sent as the key of its own webtask).
func TestLimiter_AllowBothCountsOnce(t *testing.T) {
	ch := newChain(t, chainTime)
	l, _ := OpenLimiter(openKV(t), func() time.Time { return chainTime })
	p := ch.issue(root(10), &Request{Containers: "acme", LimitMinute: 2, TokenLimitMinute: 2})
	w := ch.webtask(p, "acme", "job")
	for i := 0; i < 2; i++ {
		if d, ok := l.AllowBoth(w, w, "acme"); !ok {
			t.Fatalf("run %d: %+v", i, d)
		}
	}
	if _, ok := l.AllowBoth(w, w, "acme"); ok {
		t.Fatal("third run allowed")
	}
}

// TestLimiter_ChildrenShareLimits: five children of an lts=2 token make two
// runs in a second between them, not ten; a child's lower limit adds its own
// counter; grandchildren count at every level.
func TestLimiter_ChildrenShareLimits(t *testing.T) {
	ch := newChain(t, chainTime)
	now := chainTime
	l, _ := OpenLimiter(openKV(t), func() time.Time { return now })
	parent := ch.issue(root(10), &Request{Containers: "acme", TokenLimitSecond: 2})
	var kids []*Claims
	for i := 0; i < 5; i++ {
		kids = append(kids, ch.issue(parent, &Request{}))
	}
	allowed := 0
	for round := 0; round < 2; round++ {
		for _, k := range kids {
			if _, ok := l.Allow(k, "acme"); ok {
				allowed++
			}
		}
	}
	if allowed != 2 {
		t.Fatalf("five children of an lts=2 token made %d runs in one second", allowed)
	}
	if _, ok := l.Allow(parent, "acme"); ok {
		t.Fatal("the parent's own budget was not spent by its children")
	}

	// A new second: a child that lowered the limit to 1 has its own
	// counter too; a grandchild counts on both.
	now = now.Add(time.Second)
	strict := ch.issue(parent, &Request{TokenLimitSecond: 1})
	grand := ch.issue(strict, &Request{})
	if own := strict.OwnTokenLimits(); own[Second] != 1 {
		t.Fatalf("own limits of the stricter child = %v", own)
	}
	if _, ok := l.Allow(grand, "acme"); !ok {
		t.Fatal("grandchild refused")
	}
	d, ok := l.Allow(strict, "acme") // its own limit, spent by its grandchild
	if ok || d.Claim != "lts" || d.Limit != 1 || d.Inherited {
		t.Fatalf("stricter child after its grandchild's run: ok %v, %+v", ok, d)
	}
	if _, ok := l.Allow(kids[0], "acme"); !ok {
		t.Fatal("the parent's second run of this second refused")
	}
	if d, ok := l.Allow(kids[1], "acme"); ok || d.Limit != 2 || !d.Inherited {
		t.Fatalf("third run under lts=2: ok %v, %+v", ok, d)
	}
}

// TestDerive_AncestorLimits: "cal" carries the token limits each ancestor
// set itself; inherited values add no entry; the server sets it.
func TestDerive_AncestorLimits(t *testing.T) {
	ch := newChain(t, chainTime)
	p := ch.issue(root(10), &Request{TokenLimitSecond: 10, TokenLimitMinute: 100})
	c := ch.issue(p, &Request{TokenLimitSecond: 5})
	same := ch.issue(c, &Request{TokenLimitSecond: 5}) // asks for what it inherits
	g := ch.issue(same, &Request{})
	want := []AncestorLimit{{ID: p.ID, Second: 10, Minute: 100}, {ID: c.ID, Second: 5}}
	for _, tc := range []struct {
		name string
		c    *Claims
		cal  []AncestorLimit
		own  Limits
	}{
		{"parent", p, nil, Limits{10, 100}},
		{"child", c, want[:1], Limits{5}},
		{"same limit", same, want, Limits{}},
		{"grandchild", g, want, Limits{}},
	} {
		a, _ := json.Marshal(tc.c.AncestorLimits)
		b, _ := json.Marshal(tc.cal)
		if string(a) != string(b) || tc.c.OwnTokenLimits() != tc.own {
			t.Errorf("%s: cal %s (want %s), own %v (want %v)", tc.name, a, b, tc.c.OwnTokenLimits(), tc.own)
		}
	}
	if _, err := ParseRequest([]byte(`{"cal":[]}`)); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "cal is set by the server") {
		t.Fatalf("a request with cal: %v", err)
	}
	// A token issued before "cal" existed keeps its own counter.
	legacy := &Claims{ID: "old", Ancestors: []string{"a"}, TokenLimitSecond: 3}
	if own := legacy.OwnTokenLimits(); own[Second] != 3 {
		t.Fatalf("legacy own limits = %v", own)
	}
}

// TestDerive_SecretsNeedOneContainer: a token with ectx names exactly one
// container and fixes its code; 400 otherwise, at issue. The README and
// docs flow (a tenant token for one container, then url + ectx) works.
func TestDerive_SecretsNeedOneContainer(t *testing.T) {
	now := chainTime
	sha := "sha256:" + strings.Repeat("a", 64)
	secret := map[string]string{"secret": "abc!123"}
	admin := root(10)
	tenant := &Claims{ID: "t", Depth: 9, Containers: "acme", Ancestors: []string{admin.ID}}
	multi := &Claims{ID: "m", Depth: 9, Containers: "acme,mallory"}
	// A token issued before the rule: secrets and two containers.
	legacy := &Claims{ID: "l", Depth: 5, Containers: "acme,mallory", URL: sha}
	tests := []struct {
		name   string
		parent *Claims
		pctx   map[string]string
		req    Request
		ok     bool
	}{
		{"tenant token, url + ectx (README tour)", tenant, nil, Request{URL: sha, EncryptedContext: secret}, true},
		{"tenant token, jtn + ectx", tenant, nil, Request{WebtaskName: "job", EncryptedContext: secret}, true},
		{"admin, ten one container", admin, nil, Request{Containers: "acme", Code: tinyWasm, EncryptedContext: secret}, true},
		{"admin, list of one", admin, nil, Request{Containers: " acme ", URL: sha, EncryptedContext: secret}, true},
		{"admin, no ten", admin, nil, Request{URL: sha, EncryptedContext: secret}, false},
		{"admin, ten list", admin, nil, Request{Containers: "acme,mallory", WebtaskName: "job", EncryptedContext: secret}, false},
		{"admin, ten regexp", admin, nil, Request{Containers: "/^acme$/", URL: sha, EncryptedContext: secret}, false},
		{"inherited list", multi, nil, Request{WebtaskName: "job", EncryptedContext: secret}, false},
		{"narrowed to one", multi, nil, Request{Containers: "acme", WebtaskName: "job", EncryptedContext: secret}, true},
		{"child of a legacy token inherits its secrets", legacy, secret, Request{}, false},
		{"child of a legacy token narrowed to one", legacy, secret, Request{Containers: "mallory"}, true},
		{"no secrets, any containers", admin, nil, Request{URL: sha}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m, err := Derive(tc.parent, tc.pctx, &tc.req, now)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if ten, _ := ParseContainers(c.Containers); len(m) > 0 {
					if _, one := ten.Single(); !one || !c.FixesCode() {
						t.Fatalf("secrets in %+v", c)
					}
				}
				return
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "ectx needs ten naming exactly one container") ||
				strings.Contains(err.Error(), "abc!123") {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// A webtask token names its container; it carries no secrets of its
	// own, and params are pctx.
	ch := newChain(t, now)
	w := ch.webtask(ch.issue(admin, &Request{Containers: "acme,beta"}), "acme", "job")
	if w.Containers != "acme" || w.EncryptedContext != "" || w.PublicContext["p"] != "1" {
		t.Fatalf("webtask token = %+v", w)
	}
}

// TestSigner_ChainBounds: a chain of tokens is bounded (MaxChain ancestors,
// dd only decreasing), and Verify refuses a signed token beyond the bounds.
func TestSigner_ChainBounds(t *testing.T) {
	ch := newChain(t, chainTime)
	c := ch.issue(root(MaxDepth), &Request{TokenLimitSecond: MaxLimit, TokenLimitMonth: MaxLimit})
	for i := 1; ; i++ {
		// Every level lowers a limit: every level has a "cal" entry.
		raw, next, err := ch.s.Issue(c, &Request{TokenLimitSecond: c.TokenLimitSecond - 1, TokenLimitMonth: c.TokenLimitMonth - 1})
		if err != nil {
			if !errors.Is(err, ErrTooWide) || !strings.Contains(err.Error(), "ca:") || len(c.Ancestors) != MaxChain {
				t.Fatalf("level %d: %v (chain %d)", i, err, len(c.Ancestors))
			}
			break
		}
		if len(raw) > MaxIssuedBytes || next.Depth != MaxDepth-1-i {
			t.Fatalf("level %d: %d bytes, dd %d", i, len(raw), next.Depth)
		}
		c = next
	}
	// The root set no limits: every other ancestor has an entry.
	if len(c.AncestorLimits) != MaxChain-1 {
		t.Fatalf("cal entries = %d", len(c.AncestorLimits))
	}
	// The deepest token still counts against every level (two limits each).
	l, _ := OpenLimiter(openKV(t), func() time.Time { return chainTime })
	if _, ok := l.Allow(c, "acme"); !ok || l.Len() != 2*MaxChain {
		t.Fatalf("deepest token: counters %d", l.Len())
	}
	// dd runs out before the chain does from a server's admin token.
	leaf := root(2)
	for leaf.Depth > 0 {
		leaf = ch.issue(leaf, &Request{})
	}
	if _, _, err := ch.s.Issue(leaf, &Request{}); !errors.Is(err, ErrTooWide) || !strings.Contains(err.Error(), "dd") {
		t.Fatalf("issue from dd 0: %v", err)
	}

	long := make([]string, MaxChain+1)
	for i := range long {
		long[i] = NewID()
	}
	for _, tc := range []struct {
		name string
		c    *Claims
		want string
	}{
		{"too many ancestors", &Claims{ID: "x", Ancestors: long}, "more than 32 ancestors"},
		{"too many ancestor limits", &Claims{ID: "x", AncestorLimits: make([]AncestorLimit, MaxChain+1)}, "more than 32 ancestors"},
		{"dd too deep", &Claims{ID: "x", Depth: MaxDepth + 1}, "dd"},
		{"dd negative", &Claims{ID: "x", Depth: -1}, "dd"},
	} {
		raw, err := ch.s.Sign(tc.c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.s.Verify(raw); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestSigner_Window: exp in the past and nbf in the future are refused at
// issue (exp) and at verification (both), and a token becomes valid at its
// nbf and stops at its exp.
func TestSigner_Window(t *testing.T) {
	at := chainTime
	s := newSigner(t)
	s.now = func() time.Time { return at }
	p := root(3)
	if _, _, err := s.Issue(p, &Request{ExpiresAt: at.Unix()}); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "exp is in the past") {
		t.Fatalf("exp now: %v", err)
	}
	raw, _, err := s.Issue(p, &Request{NotBefore: at.Unix() + 60, ExpiresAt: at.Unix() + 120})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{at, "not valid before"},
		{at.Add(59 * time.Second), "not valid before"},
		{at.Add(60 * time.Second), ""},
		{at.Add(119 * time.Second), ""},
		{at.Add(120 * time.Second), "expired"},
	} {
		at = tc.at
		_, err := s.Verify(raw)
		if (tc.want == "") != (err == nil) || (err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("at +%s: %v, want %q", tc.at.Sub(chainTime), err, tc.want)
		}
	}
	// Parse (inspect, revoke) still reads an expired token.
	if c, err := s.Parse(raw); err != nil || c.ExpiresAt != chainTime.Unix()+120 {
		t.Fatalf("Parse of an expired token: %v", err)
	}
}

// TestLimiter_AllowAllocs: a token with ancestors' limits, alone and with
// a webtask's token, counts without allocating once its counters exist.
func TestLimiter_AllowAllocs(t *testing.T) {
	ch := newChain(t, chainTime)
	l, _ := OpenLimiter(openKV(t), nil)
	p := ch.issue(root(10), &Request{Containers: "acme", LimitMonth: MaxLimit, TokenLimitDay: MaxLimit})
	c := ch.issue(ch.issue(p, &Request{TokenLimitDay: MaxLimit - 1}), &Request{TokenLimitHour: MaxLimit})
	w := ch.webtask(p, "acme", "job")
	l.AllowBoth(c, w, "acme")
	if n := testing.AllocsPerRun(100, func() { l.AllowBoth(c, w, "acme") }); n != 0 {
		t.Errorf("AllowBoth allocates %v times per call", n)
	}
}

// BenchmarkLimiter_AllowChain is a jtn run of a webtask: a tenant with a
// container and a token limit, a child that lowered the token limit, and the
// webtask's token (two tokens, four counters, one counted twice).
func BenchmarkLimiter_AllowChain(b *testing.B) {
	l, _ := OpenLimiter(openKV(b), nil)
	p, _, _ := Derive(root(10), nil, &Request{Containers: "acme", LimitMinute: MaxLimit, TokenLimitSecond: MaxLimit}, time.Now())
	c, _, _ := Derive(p, nil, &Request{TokenLimitSecond: MaxLimit - 1}, time.Now())
	w, _, _ := DeriveWebtask(p, nil, "acme", "job", nil, 0, 0, nil, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		l.AllowBoth(c, w, "acme")
	}
}
