package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/auth"
)

// middleware is the upload query that declares auth: meta wt-middleware
// and more query parameters.
func middleware(name string, more ...string) string {
	q := "?meta=" + url.QueryEscape(auth.MetaMiddleware+":"+name)
	for _, m := range more {
		q += "&" + m
	}
	return q
}

// wantDenied checks a request the host refused before the guest ran: the
// status, the JSON error and its id ("unauthorized" 401, "forbidden" 403,
// "auth_unavailable" 503: the token could not be judged),
// WWW-Authenticate, and no request id (no run).
func wantDenied(t *testing.T, r response, status int, msg string) {
	t.Helper()
	wantError(t, r, status, msg)
	id := map[int]string{401: "unauthorized", 403: "forbidden", 503: "auth_unavailable"}[status]
	if got := r.JSON(t)["error"]; got != id {
		t.Errorf("error id = %v, want %q", got, id)
	}
	if status != 503 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	if id := r.Header.Get("x-wt-request-id"); id != "" {
		t.Errorf("a refused request ran the guest (request %s)", id)
	}
}

// TestE2E_AuthBearer is seed 001 part 2 declared: the shared secret
// checked by the host before any code runs.
func TestE2E_AuthBearer(t *testing.T) {
	ts := start(t, api.Config{})
	wantError(t, ts.req("PUT", "/api/webtask/acme/echo"+middleware(auth.Bearer), ts.Admin, goGuest(t, "echo")), 400, "needs the secret wt-auth-secret")
	wantError(t, ts.req("PUT", "/api/webtask/acme/echo"+middleware("left-pad@1.0.0"), ts.Admin, goGuest(t, "echo")), 400, "unknown middleware")
	ts.upload("acme", "echo", goGuest(t, "echo"), middleware(auth.Bearer+"@1.0.0", "secret=wt-auth-secret:open-sesame"))
	path := "/api/run/acme/echo"
	wantDenied(t, ts.req("GET", path, "", nil), 401, "missing Authorization")
	wantDenied(t, ts.req("GET", path, "", nil, "Authorization: open-sesame"), 401, "malformed Authorization")
	wantDenied(t, ts.req("GET", path, "", nil, "Authorization: Bearer open-sesam"), 401, "not the webtask's")
	if r := ts.req("GET", path, "", nil, "Authorization: Bearer open-sesame"); r.Status != 200 || r.Header.Get("x-wt-request-id") == "" {
		t.Fatalf("right secret: %d %s", r.Status, r.Body)
	}
}

// TestE2E_AuthJWT is seed 003 done declaratively: the /jwt webtask issues
// an HS256 token (guests/go/examples/jwt), and a webtask protected by the
// JWT middleware with the same key answers only with a valid one — its
// code never checks anything, and sees the verified claims as its user.
func TestE2E_AuthJWT(t *testing.T) {
	ts := start(t, api.Config{})
	ts.upload("auth", "issuer", goGuest(t, "jwt"), "?secret=username:twilio&secret=password:ahoy&secret=jwt-secret:secret_key")
	ts.upload("auth", "salaries", goGuest(t, "echo"), middleware(auth.JWT,
		"secret=wt-jwt-secret:secret_key", "meta="+url.QueryEscape(auth.MetaIssuer+":twil.io")))
	r := ts.req("POST", "/api/run/auth/issuer/jwt", "", []byte(`{"username":"twilio","password":"ahoy"}`), "Content-Type: application/json")
	tok := r.Header.Get("access_token")
	if r.Status != 200 || tok == "" {
		t.Fatalf("/jwt: %d %s", r.Status, r.Body)
	}
	path := "/api/run/auth/salaries"
	wantDenied(t, ts.req("POST", path, "", nil), 401, "missing Authorization")
	r = ts.req("POST", path, "", nil, "Authorization: Bearer "+tok)
	var echo struct{ User map[string]string }
	if r.Status != 200 || json.Unmarshal(r.Body, &echo) != nil || echo.User["sub"] != "twilio" || echo.User["perms"] != `["read"]` {
		t.Fatalf("with the token: %d %s", r.Status, r.Body)
	}

	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	day := time.Now().Add(24 * time.Hour).Unix()
	parts := strings.Split(tok, ".")
	forged, _ := json.Marshal(map[string]any{"sub": "admin", "iss": "twil.io", "exp": day})
	for _, c := range []struct{ name, tok, msg string }{
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "x", "iss": "twil.io", "exp": day}), "algorithm"},
		{"wrong key", sign(jwt.SigningMethodHS256, []byte("guess"), jwt.MapClaims{"sub": "x", "iss": "twil.io", "exp": day}), "signature"},
		{"wrong issuer", sign(jwt.SigningMethodHS256, []byte("secret_key"), jwt.MapClaims{"sub": "x", "iss": "evil", "exp": day}), "issuer"},
		{"expired", sign(jwt.SigningMethodHS256, []byte("secret_key"), jwt.MapClaims{"sub": "x", "iss": "twil.io", "exp": time.Now().Add(-time.Hour).Unix()}), "expired"},
		{"forged payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2], "signature"},
		{"garbage", "not-a-jwt", "not a JWT"},
	} {
		r := ts.req("POST", path, "", nil, "Authorization: Bearer "+c.tok)
		wantDenied(t, r, 401, c.msg)
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate = %q", c.name, r.Header.Get("WWW-Authenticate"))
		}
	}

	// JavaScript reads the verified claims as context.user, typed.
	t.Run("javascript context.user", func(t *testing.T) {
		js := start(t, api.Config{JSEngine: jsEngine(t)})
		js.uploadJS("auth", "who", "module.exports = function (ctx, cb) { cb(null, {sub: ctx.user.sub, perms: ctx.user.perms}); };",
			middleware(auth.JWT, "secret=wt-jwt-secret:secret_key"))
		if r := js.req("GET", "/api/run/auth/who", "", nil, "Authorization: Bearer "+tok); r.Status != 200 || string(r.Body) != `{"sub":"twilio","perms":["read"]}` {
			t.Fatalf("JavaScript context.user: %d %s", r.Status, r.Body)
		}
	})

	// Scopes: a missing one is 403 insufficient_scope.
	ts.upload("auth", "admin", goGuest(t, "echo"), middleware(auth.JWT, "secret=wt-jwt-secret:secret_key", "meta="+url.QueryEscape(auth.MetaScope+":admin")))
	r = ts.req("POST", "/api/run/auth/admin", "", nil, "Authorization: Bearer "+sign(jwt.SigningMethodHS256, []byte("secret_key"), jwt.MapClaims{"sub": "x", "scope": "read", "exp": day}))
	wantDenied(t, r, 403, "lacks the scope admin")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
	if r := ts.req("POST", "/api/run/auth/admin", "", nil, "Authorization: Bearer "+sign(jwt.SigningMethodHS256, []byte("secret_key"), jwt.MapClaims{"sub": "x", "scope": "read admin", "exp": day})); r.Status != 200 {
		t.Fatalf("with the scope: %d %s", r.Status, r.Body)
	}
}

// seed003Bearer is seed 003's /bearer with its check declared instead of
// written: the salary list, to whoever reaches the code.
const seed003Bearer = `module.exports = function (context, cb) {
  cb(null, [{username: 'jdoe', salary: '$2000.00'}, {username: 'mturner', salary: '$2500.00'}]);
};`

// TestE2E_AuthSeed003 is seed 003's flow with the check declared: the
// /jwt webtask (guests/go/examples/jwt) issues a token for the right
// credentials, and /bearer — JavaScript that checks nothing itself, with
// the JWT middleware in its meta — answers the salary list only with a
// valid token: no token, a malformed header, a token signed with another
// key or one from another issuer get the host's 401 with
// WWW-Authenticate and the JSON error "unauthorized", and its code never
// runs.
func TestE2E_AuthSeed003(t *testing.T) {
	ts := start(t, api.Config{JSEngine: jsEngine(t)})
	ts.upload("auth", "jwt", goGuest(t, "jwt"), "?secret=username:twilio&secret=password:ahoy&secret=jwt-secret:secret_key")
	ts.uploadJS("auth", "bearer", seed003Bearer, middleware(auth.JWT,
		"secret=wt-jwt-secret:secret_key", "meta="+url.QueryEscape(auth.MetaIssuer+":twil.io")))

	r := ts.req("POST", "/api/run/auth/jwt/jwt", "", []byte(`{"username":"twilio","password":"nope"}`), "Content-Type: application/json")
	if r.Status != 401 || r.Header.Get("access_token") != "" {
		t.Fatalf("/jwt with a wrong password: %d %s", r.Status, r.Body)
	}
	r = ts.req("POST", "/api/run/auth/jwt/jwt", "", []byte(`{"username":"twilio","password":"ahoy"}`), "Content-Type: application/json")
	tok := r.Header.Get("access_token")
	if r.Status != 200 || string(r.Body) != "OK" || tok == "" {
		t.Fatalf("/jwt: %d %s", r.Status, r.Body)
	}

	const path = "/api/run/auth/bearer"
	const salaries = `[{"username":"jdoe","salary":"$2000.00"},{"username":"mturner","salary":"$2500.00"}]`
	for _, method := range []string{"POST", "GET"} {
		r := ts.req(method, path, "", nil, "Authorization: Bearer "+tok)
		if r.Status != 200 || string(r.Body) != salaries || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s /bearer with the token: %d %s", method, r.Status, r.Body)
		}
	}
	day := time.Now().Add(24 * time.Hour).Unix()
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "twilio", "iss": "twil.io", "exp": day}).SignedString([]byte("not_the_key"))
	elsewhere, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "twilio", "iss": "evil.example", "exp": day}).SignedString([]byte("secret_key"))
	for _, c := range []struct {
		name, authz, msg, code string
	}{
		{"no token", "", "missing Authorization", ""},
		{"not bearer", "Authorization: Basic dHdpbGlvOmFob3k=", "malformed Authorization", `error="invalid_request"`},
		{"another key", "Authorization: Bearer " + other, "signature", `error="invalid_token"`},
		{"another issuer", "Authorization: Bearer " + elsewhere, "issuer", `error="invalid_token"`},
		{"the token cut short", "Authorization: Bearer " + tok[:len(tok)-4], "signature", `error="invalid_token"`},
	} {
		var hdr []string
		if c.authz != "" {
			hdr = append(hdr, c.authz)
		}
		r := ts.req("POST", path, "", nil, hdr...)
		wantDenied(t, r, 401, c.msg)
		if www := r.Header.Get("WWW-Authenticate"); !strings.Contains(www, c.code) {
			t.Errorf("%s: WWW-Authenticate = %q, want %s", c.name, www, c.code)
		}
		if strings.Contains(string(r.Body), "jdoe") {
			t.Errorf("%s: the salaries reached a refused caller", c.name)
		}
	}
}

// TestE2E_AuthJWKS: RS256 keys from a JWKS fetched through the
// container's outbound policy — without a policy the check cannot be
// made (503 "auth_unavailable", the guest does not run); with the JWKS
// host allowed, a token signed by its key passes at once (the policy
// change drops the failed fetch) and an HS256 token made with the public
// key (key confusion) does not.
func TestE2E_AuthJWKS(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	doc, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes())}}})
	jwks := newProvider(t, func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })
	ts := start(t, api.Config{})
	ts.upload("acme", "api", goGuest(t, "echo"), middleware(auth.JWT, "meta="+url.QueryEscape(auth.MetaJWKS+":"+jwks.URL+"/.well-known/jwks.json")))
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": "svc", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	good, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, ts.req("GET", "/api/run/acme/api", "", nil, "Authorization: Bearer "+good), 503, "no outbound policy")
	if jwks.hits.Load() != 0 {
		t.Fatal("the JWKS was fetched without a policy")
	}
	if r := ts.req("PUT", "/api/outbound/acme", ts.Admin, []byte(`{"allow":["127.0.0.1:`+jwks.port+`"]}`)); r.Status != 200 {
		t.Fatalf("policy: %d %s", r.Status, r.Body)
	}
	// The policy change drops the failed fetch (retried after 10 s
	// otherwise): the next check fetches the JWKS.
	if r := ts.req("GET", "/api/run/acme/api", "", nil, "Authorization: Bearer "+good); r.Status != 200 || !strings.Contains(string(r.Body), `"sub":"svc"`) {
		t.Fatalf("RS256 from the JWKS: %d %s", r.Status, r.Body)
	}

	// Key confusion: an HS256 token whose HMAC key is the RSA public key
	// (PEM, as a verifier that trusts the token's alg would use it).
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	confused := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "admin", "exp": time.Now().Add(time.Hour).Unix()})
	confused.Header["kid"] = "k1"
	forged, err := confused.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	r := ts.req("GET", "/api/run/acme/api", "", nil, "Authorization: Bearer "+forged)
	wantDenied(t, r, 401, "algorithm")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", r.Header.Get("WWW-Authenticate"))
	}
}
