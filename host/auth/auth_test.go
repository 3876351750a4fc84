package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/host/engine"
)

func kvs(pairs ...string) []engine.KV {
	var out []engine.KV
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, engine.KV{Key: pairs[i], Value: pairs[i+1]})
	}
	engine.SortKV(out)
	return out
}

// TestParse: what meta asks for, and each mistake named.
func TestParse(t *testing.T) {
	if p, err := Parse(kvs("other", "x"), nil); p != nil || err != nil {
		t.Fatalf("no middleware: %v %v", p, err)
	}
	p, err := Parse(kvs(MetaMiddleware, Bearer+"@1.0.0, "+Cron+"@2.1.0"), kvs(SecretBearer, "s"))
	if err != nil || string(p.bearer) != "s" || !p.cron || p.jwt != nil {
		t.Fatalf("bearer and cron with versions: %+v %v", p, err)
	}
	for _, c := range []struct {
		meta, secrets []engine.KV
		want          string
	}{
		{kvs(MetaMiddleware, Bearer), nil, "needs the secret wt-auth-secret"},
		{kvs(MetaMiddleware, "@webtask/some-npm-module"), nil, "unknown middleware"},
		{kvs(MetaMiddleware, JWT), nil, "needs the secret wt-jwt-secret"},
		{kvs(MetaMiddleware, JWT, MetaJWKS, "ftp://x/jwks"), nil, "must be an http(s) url"},
		{kvs(MetaMiddleware, JWT, MetaJWKS, "https://x/jwks"), kvs(SecretJWT, "k"), "not both"},
		{kvs(MetaMiddleware, JWT, MetaAlg, "RS256"), kvs(SecretJWT, "k"), "does not go with the secret"},
		{kvs(MetaMiddleware, JWT, MetaJWKS, "https://x/jwks", MetaAlg, "HS256"), nil, "a JWKS means"},
		{kvs(MetaMiddleware, JWT, MetaLeeway, "soon"), kvs(SecretJWT, "k"), "wt-jwt-leeway"},
	} {
		if _, err := Parse(c.meta, c.secrets); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want %q", c.meta, c.secrets, err, c.want)
		}
	}
}

func mustParse(t *testing.T, meta, secrets []engine.KV) *Policy {
	t.Helper()
	p, err := Parse(meta, secrets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func wantDenied(t *testing.T, d *Denial, status int, code, msg string) {
	t.Helper()
	if d == nil || d.Status != status || d.Code != code || !strings.Contains(d.Message, msg) {
		t.Fatalf("denial %+v, want %d %s %q", d, status, code, msg)
	}
}

// TestCheck_Bearer: seed 001 part 2 declared — the shared secret, and
// every malformed or wrong header refused.
func TestCheck_Bearer(t *testing.T) {
	var c Checker
	p := mustParse(t, kvs(MetaMiddleware, Bearer), kvs(SecretBearer, "open-sesame"))
	if _, d := c.Check(p, "c", "n", []byte("Bearer open-sesame")); d != nil {
		t.Fatalf("right secret: %v", d)
	}
	wantDenied(t, first(c.Check(p, "c", "n", nil)), 401, "", "missing")
	wantDenied(t, first(c.Check(p, "c", "n", []byte("open-sesame"))), 401, "invalid_request", "malformed")
	wantDenied(t, first(c.Check(p, "c", "n", []byte("Basic b3Blbg=="))), 401, "invalid_request", "malformed")
	wantDenied(t, first(c.Check(p, "c", "n", []byte("Bearer open-sesam"))), 401, "invalid_token", "not the webtask's")
	wantDenied(t, first(c.Check(p, "c", "n", []byte("Bearer open-sesame2"))), 401, "invalid_token", "not the webtask's")
}

// TestCheck_Cron: the host's token check decides.
func TestCheck_Cron(t *testing.T) {
	c := Checker{Token: func(raw []byte, container, name string) error {
		if string(raw) == "good" && container == "c" && name == "n" {
			return nil
		}
		return errors.New("no")
	}}
	p := mustParse(t, kvs(MetaMiddleware, Cron), nil)
	if _, d := c.Check(p, "c", "n", []byte("Bearer good")); d != nil {
		t.Fatal(d)
	}
	wantDenied(t, first(c.Check(p, "c", "other", []byte("Bearer good"))), 401, "invalid_token", "its own token")
}

func first(b []byte, d *Denial) *Denial { return d }

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCheck_HS256: seed 003's /bearer declared — a valid token passes and
// its claims come back; expiry, issuer, audience, scope, a wrong key,
// alg none and other algorithms are refused.
func TestCheck_HS256(t *testing.T) {
	var c Checker
	p := mustParse(t, kvs(MetaMiddleware, JWT, MetaIssuer, "twil.io", MetaAudience, "salaries", MetaScope, "read"), kvs(SecretJWT, "secret_key"))
	now := time.Now()
	good := jwt.MapClaims{"sub": "twilio", "iss": "twil.io", "aud": "salaries", "scope": "read write", "exp": now.Add(time.Hour).Unix()}
	claims, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", good)))
	if d != nil || !strings.Contains(string(claims), `"sub":"twilio"`) {
		t.Fatalf("valid token: %s %v", claims, d)
	}
	if _, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS512, []byte("secret_key"), "", good))); d != nil {
		t.Fatalf("HS512 is in the family: %v", d)
	}
	with := func(k string, v any) jwt.MapClaims {
		m := jwt.MapClaims{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, c2 := range []struct {
		name   string
		tok    string
		status int
		msg    string
	}{
		{"expired", sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("exp", now.Add(-time.Minute).Unix())), 401, "expired"},
		{"within leeway", "", 0, ""},
		{"no exp", sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("exp", nil)), 401, "no exp"},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("iss", "evil")), 401, "issuer"},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("aud", "other")), 401, "audience"},
		{"no scope", sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("scope", "write")), 403, "lacks the scope read"},
		{"scope in permissions", "", 0, ""},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("other"), "", good), 401, "signature"},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good), 401, "algorithm"},
		{"garbage", "abc.def", 401, "not a JWT"},
	} {
		if c2.tok == "" {
			continue
		}
		_, d := c.Check(p, "c", "n", []byte("Bearer "+c2.tok))
		code := "invalid_token"
		if c2.status == 403 {
			code = "insufficient_scope"
		}
		if d == nil || d.Status != c2.status || d.Code != code || !strings.Contains(d.Message, c2.msg) {
			t.Errorf("%s: %+v, want %d %q", c2.name, d, c2.status, c2.msg)
		}
	}
	if _, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("exp", now.Add(-10*time.Second).Unix())))); d != nil {
		t.Errorf("expired within the leeway: %v", d)
	}
	if _, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", with("scope", nil)))); d == nil {
		t.Errorf("no scope claim passed")
	}
	perms := with("scope", nil)
	perms["permissions"] = []any{"read"}
	if _, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS256, []byte("secret_key"), "", perms))); d != nil {
		t.Errorf("scope in permissions: %v", d)
	}
}

// jwksServer serves a JWKS with an RSA key (kid rsa1) and an EC key
// (kid ec1), counting fetches; down makes it answer 500; latency delays
// each answer (an identity provider across a network); rotate adds a
// second RSA key (kid rsa2, rsa2 the private key).
type jwksServer struct {
	*httptest.Server
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	fetches   atomic.Int64
	down      atomic.Bool
	latency   atomic.Int64 // time.Duration
	doc       atomic.Value // []byte
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func newJWKS(t *testing.T) *jwksServer {
	js := &jwksServer{}
	var err error
	if js.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if js.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pad := func(n *big.Int) []byte { return n.FillBytes(make([]byte, 32)) }
	js.publish(rsaJWK("rsa1", js.rsa),
		map[string]string{"kty": "EC", "kid": "ec1", "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(pad(js.ec.X)), "y": b64(pad(js.ec.Y))})
	js.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js.fetches.Add(1)
		time.Sleep(time.Duration(js.latency.Load()))
		if js.down.Load() {
			http.Error(w, "down", 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(js.doc.Load().([]byte))
	}))
	t.Cleanup(js.Close)
	return js
}

func (js *jwksServer) publish(keys ...map[string]string) {
	doc, _ := json.Marshal(map[string]any{"keys": keys})
	js.doc.Store(doc)
}

// rotate publishes a new RSA key, rsa2, beside rsa1.
func (js *jwksServer) rotate(t *testing.T) {
	var err error
	if js.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	js.publish(rsaJWK("rsa1", js.rsa), rsaJWK("rsa2", js.rsa2))
}

// TestCheck_JWKS: RS256 and ES256 keys from a JWKS, fetched once and
// kept; an unknown kid is refused after one refresh of the JWKS (see
// TestCheck_JWKSRotation); the algorithm is
// pinned to the configured family, so an HS256 token signed with the RSA
// public key (key confusion) is refused; a JWKS that cannot be fetched is
// 503, not a verdict on the token.
func TestCheck_JWKS(t *testing.T) {
	js := newJWKS(t)
	c := Checker{HTTPClient: func(string) (*http.Client, error) { return http.DefaultClient, nil }}
	claims := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}
	rs := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, js.URL+"/jwks"), nil)
	es := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, js.URL+"/jwks", MetaAlg, "ES256"), nil)

	if _, d := c.Check(rs, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, js.rsa, "rsa1", claims))); d != nil {
		t.Fatalf("RS256: %v", d)
	}
	if _, d := c.Check(es, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodES256, js.ec, "ec1", claims))); d != nil {
		t.Fatalf("ES256: %v", d)
	}
	if _, d := c.Check(rs, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodES256, js.ec, "ec1", claims))); d == nil {
		t.Fatal("an ES256 token passed an RS-configured check")
	}
	pub, _ := x509.MarshalPKIXPublicKey(&js.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	wantDenied(t, first(c.Check(rs, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodHS256, pubPEM, "rsa1", claims)))), 401, "invalid_token", "algorithm")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	begin := time.Now()
	wantDenied(t, first(c.Check(rs, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, other, "unknown", claims)))), 401, "invalid_token", "")
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("an unknown kid held the request %s", took)
	}
	if n := js.fetches.Load(); n > 3 {
		t.Errorf("the JWKS was fetched %d times for a handful of checks", n)
	}

	js.down.Store(true)
	down := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, js.URL+"/other"), nil)
	wantDenied(t, first(c.Check(down, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, js.rsa, "rsa1", claims)))), 503, "", "cannot be fetched")
	n := js.fetches.Load()
	c.Check(down, "c", "n", []byte("Bearer x.y.z"))
	if js.fetches.Load() != n {
		t.Error("a failed JWKS was fetched again at once")
	}
	// The keys fetched before keep working while the JWKS is down.
	if _, d := c.Check(rs, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, js.rsa, "rsa1", claims))); d != nil {
		t.Fatalf("RS256 while the JWKS is down: %v", d)
	}
	noPolicy := Checker{HTTPClient: func(string) (*http.Client, error) { return nil, errors.New("container c has no outbound policy") }}
	wantDenied(t, first(noPolicy.Check(rs, "c", "n", []byte("Bearer x"))), 503, "", "no outbound policy")
}

// TestCheck_JWKSRotation: a key the JWKS starts to publish (a kid the
// cached keys lack) is fetched by the first request that shows it — which
// then passes, even with the JWKS 50 ms away — and refreshes for unknown
// kids are rate-limited: many tokens with kids the JWKS does not have
// cause one fetch in the window, not one each, and are refused without
// waiting.
func TestCheck_JWKSRotation(t *testing.T) {
	js := newJWKS(t)
	js.latency.Store(int64(50 * time.Millisecond))
	c := Checker{HTTPClient: func(string) (*http.Client, error) { return http.DefaultClient, nil }}
	p := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, js.URL+"/jwks"), nil)
	claims := jwt.MapClaims{"sub": "u", "exp": time.Now().Add(time.Hour).Unix()}
	if _, d := c.Check(p, "c", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, js.rsa, "rsa1", claims))); d != nil {
		t.Fatalf("rsa1: %v", d)
	}
	if n := js.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for the first check, want 1", n)
	}

	js.rotate(t)
	rotated := []byte("Bearer " + sign(t, jwt.SigningMethodRS256, js.rsa2, "rsa2", claims))
	if _, d := c.Check(p, "c", "n", rotated); d != nil {
		t.Fatalf("the rotated key rsa2, after a refresh: %v", d)
	}
	if n := js.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after the rotation, want 2 (one refresh)", n)
	}
	if _, d := c.Check(p, "c", "n", rotated); d != nil {
		t.Fatalf("rsa2 again: %v", d)
	}

	// A stream of unknown kids within the window: refused at once, no
	// fetch (the rotation's refresh used the window's one).
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	begin := time.Now()
	for i := 0; i < 20; i++ {
		tok := sign(t, jwt.SigningMethodRS256, other, fmt.Sprintf("unknown-%d", i), claims)
		wantDenied(t, first(c.Check(p, "c", "n", []byte("Bearer "+tok))), 401, "invalid_token", "no key")
	}
	if n := js.fetches.Load(); n != 2 {
		t.Errorf("unknown kids caused %d more fetches within the window, want 0", n-2)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("20 unknown kids took %s: a request waited for the rate limit", took)
	}
	if _, d := c.Check(p, "c", "n", rotated); d != nil {
		t.Fatalf("rsa2 after the unknown kids: %v", d)
	}

	// In a new container's window, a burst of unknown kids fetches once.
	p2 := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, js.URL+"/jwks"), nil)
	c.Check(p2, "c2", "n", rotated)
	before := js.fetches.Load()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Check(p2, "c2", "n", []byte("Bearer "+sign(t, jwt.SigningMethodRS256, other, fmt.Sprintf("burst-%d", i), claims)))
		}()
	}
	wg.Wait()
	if n := js.fetches.Load() - before; n != 1 {
		t.Errorf("a burst of 20 unknown kids caused %d fetches, want 1", n)
	}
}

// TestCheck_JWKSUnreachable: a JWKS url nothing listens at is 503 (the
// token cannot be judged; the API answers "auth_unavailable"), naming
// the host, never the url's path; it is not tried again at once.
func TestCheck_JWKSUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var dials atomic.Int64
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}}}
	c := Checker{HTTPClient: func(string) (*http.Client, error) { return client, nil }}
	p := mustParse(t, kvs(MetaMiddleware, JWT, MetaJWKS, "http://"+addr+"/tenant-s3cr3t/jwks.json"), nil)
	tok := []byte("Bearer " + sign(t, jwt.SigningMethodHS256, []byte("k"), "k1", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}))
	d := first(c.Check(p, "c", "n", tok))
	wantDenied(t, d, 503, "", "the JWKS at "+addr+" cannot be fetched")
	if strings.Contains(d.Message, "s3cr3t") {
		t.Errorf("the message quotes the url's path: %s", d.Message)
	}
	if d.WWWAuthenticate() != `Bearer realm="wasmtask"` {
		t.Errorf("WWW-Authenticate = %q", d.WWWAuthenticate())
	}
	n := dials.Load()
	wantDenied(t, first(c.Check(p, "c", "n", tok)), 503, "", "cannot be fetched")
	if dials.Load() != n {
		t.Error("an unreachable JWKS was tried again at once")
	}
	if got := c.Stats().Checks[KindJWT][ResultUnavailable]; got != 2 {
		t.Errorf("Stats: %d unavailable JWT checks, want 2", got)
	}
}

// TestChecker_Stats: every middleware's verdicts are counted by result.
func TestChecker_Stats(t *testing.T) {
	var c Checker
	p := mustParse(t, kvs(MetaMiddleware, Bearer+","+JWT, MetaScope, "read"), kvs(SecretBearer, "open-sesame", SecretJWT, "k"))
	c.Check(p, "c", "n", nil)                          // no header: refused for the first middleware
	c.Check(p, "c", "n", []byte("Bearer wrong"))       // bearer refuses
	c.Check(p, "c", "n", []byte("Bearer open-sesame")) // bearer passes, the JWT does not parse
	c.Check(nil, "c", "n", nil)                        // no policy: nothing checked
	want := Stats{}
	want.Checks[KindBearer][ResultUnauthorized] = 2
	want.Checks[KindBearer][ResultOK] = 1
	want.Checks[KindJWT][ResultUnauthorized] = 1
	if got := c.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	if a := testing.AllocsPerRun(100, func() { c.count(KindJWT, nil) }); a != 0 {
		t.Errorf("counting allocates %v times", a)
	}
}

// FuzzCheck: any Authorization header is refused or accepted without a
// panic, and only a token signed with the key passes.
func FuzzCheck(f *testing.F) {
	good := "Bearer " + func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("k"))
		return s
	}()
	f.Add([]byte(good))
	f.Add([]byte("Bearer a.b.c"))
	f.Add([]byte("bearer  eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte("Basic x"))
	p, err := Parse(kvs(MetaMiddleware, JWT+","+Bearer), kvs(SecretJWT, "k", SecretBearer, good[len("Bearer "):]))
	if err != nil {
		f.Fatal(err)
	}
	var c Checker
	f.Fuzz(func(t *testing.T, authz []byte) {
		claims, d := c.Check(p, "c", "n", authz)
		if d == nil && strings.TrimSpace(string(authz[len("Bearer "):])) != good[len("Bearer "):] {
			t.Fatalf("%q passed", authz)
		}
		if d == nil && claims == nil {
			t.Fatal("passed without claims")
		}
	})
}
