package conformance_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/guests/conformance"
	"github.com/wasmtask/wasmtask/host/api"
)

// TestExamples_Hello runs each language's smallest example.
func TestExamples_Hello(t *testing.T) {
	s := start(t, api.Config{})
	for _, lang := range conformance.Languages {
		t.Run(lang, func(t *testing.T) {
			s.mustUpload(t, "hello", lang, guest(t, lang, "hello"), "")
			r := s.get(t, "/api/run/hello/"+lang)
			fromWebtask(t, r, 200, "application/json")
			wantBody(t, r, `{"message":"hello, world"}`)
		})
	}
}

// TestSeed001_SharedSecret is seed 001 ("Securing Webtasks Part 1: Shared
// Secret Authorization") in every language, in the simple and the raw model,
// with the secret stored with the webtask as context.secrets['auth-secret'].
// In JavaScript they are the seed's own code: its simple version (the
// secret written in the code) and its raw version with the stored secret.
func TestSeed001_SharedSecret(t *testing.T) {
	s := start(t, api.Config{})
	const yes = `{"question":"Am I secure?","answer":"Yes!"}`
	const no = `{"code":400,"error":"Script returned an error.","message":"Not Authorized"}`
	for _, lang := range conformance.Languages {
		t.Run(lang, func(t *testing.T) {
			simple, raw := guest(t, lang, "shared-secret-simple"), guest(t, lang, "shared-secret-raw")
			s.mustUpload(t, lang, "simple", simple, "?secret=auth-secret:open-sesame")
			s.mustUpload(t, lang, "raw", raw, "?secret=auth-secret:open-sesame")
			// Without a stored secret nothing authorizes, not even an empty ?secret=.
			s.mustUpload(t, lang, "simple-unset", simple, "")
			s.mustUpload(t, lang, "raw-unset", raw, "")

			for _, q := range []string{"?secret=wrong-key", "", "?secret="} {
				r := s.get(t, "/api/run/"+lang+"/simple"+q)
				fromWebtask(t, r, 400, "application/json")
				wantBody(t, r, no)
				r = s.get(t, "/api/run/"+lang+"/raw"+q)
				fromWebtask(t, r, 403, "")
				wantBody(t, r, "")
			}
			r := s.get(t, "/api/run/"+lang+"/simple?secret=open-sesame")
			fromWebtask(t, r, 200, "application/json")
			wantBody(t, r, yes)
			r = s.get(t, "/api/run/"+lang+"/raw?secret=open-sesame")
			fromWebtask(t, r, 200, "application/json")
			wantBody(t, r, yes)
			for _, q := range []string{"", "?secret=", "?secret=open-sesame"} {
				if q != "?secret=open-sesame" || !gap(t, lang, "seed 001/simple, no stored secret, ?secret=open-sesame") {
					wantBody(t, s.get(t, "/api/run/"+lang+"/simple-unset"+q), no)
				}
				if q != "" || !gap(t, lang, "seed 001/raw, no stored secret, no ?secret") {
					if r := s.get(t, "/api/run/"+lang+"/raw-unset"+q); r.Status != 403 {
						t.Errorf("raw without a stored secret, %q: %d", q, r.Status)
					}
				}
			}
		})
	}
}

// jwtLanguages have a port of seed 003 (JavaScript's: express and jsonwebtoken).
var jwtLanguages = []string{"go", "rust", "js"}

const (
	jwtKey      = "secret_key"
	jwtSecrets  = "?secret=username:twilio&secret=password:ahoy&secret=jwt-secret:" + jwtKey
	jwtSalaries = `[{"username":"jdoe","salary":"$2000.00"},{"username":"mturner","salary":"$2500.00"}]`
)

// TestSeed003_JWT is seed 003 ("Protect your Function with JSON Web Token")
// in Go (golang-jwt) and Rust (hand-written HS256): both issue tokens the
// other accepts, and both accept and refuse the same tokens made here.
func TestSeed003_JWT(t *testing.T) {
	s := start(t, api.Config{})
	issued := map[string]string{}
	for _, lang := range jwtLanguages {
		t.Run(lang, func(t *testing.T) {
			skipGap(t, lang, "seed 003")
			s.mustUpload(t, "jwt", lang, guest(t, lang, "jwt"), jwtSecrets)
			base := "/api/run/jwt/" + lang
			json := http.Header{"Content-Type": {"application/json"}}

			r := s.do(t, "POST", base+"/jwt", []byte(`{"username":"twilio","password":"nope"}`), json)
			fromWebtask(t, r, 401, "text/plain; charset=utf-8")
			wantBody(t, r, "Username or password is incorrect")
			if r.Header.Get("access_token") != "" {
				t.Error("a token was issued for a wrong password")
			}
			r = s.do(t, "GET", base+"/jwt", nil, nil)
			fromWebtask(t, r, 404, "application/json")

			r = s.do(t, "POST", base+"/jwt", []byte(`{"username":"twilio","password":"ahoy"}`), json)
			fromWebtask(t, r, 200, "text/plain; charset=utf-8")
			wantBody(t, r, "OK")
			tok := r.Header.Get("access_token")
			checkIssued(t, tok)
			issued[lang] = tok

			// The seed's event merges query and body: credentials in the query work too.
			r = s.do(t, "POST", base+"/jwt?username=twilio&password=ahoy", nil, nil)
			fromWebtask(t, r, 200, "text/plain; charset=utf-8")

			r = s.do(t, "POST", base+"/bearer", nil, nil)
			wantUnauthorized(t, r)
			r = s.do(t, "POST", base+"/bearer", nil, http.Header{"Authorization": {"Bearer " + tok}})
			fromWebtask(t, r, 200, "application/json")
			wantBody(t, r, jwtSalaries)

			for _, tc := range foreignTokens(t) {
				r := s.do(t, "GET", base+"/bearer", nil, http.Header{"Authorization": {"Bearer " + tc.token}})
				if tc.valid {
					fromWebtask(t, r, 200, "application/json")
				} else {
					if r.Status != 401 {
						t.Errorf("%s: status %d, want 401", tc.name, r.Status)
					}
					wantUnauthorized(t, r)
				}
			}
		})
	}
	// Interop: each language accepts the other's token.
	for _, lang := range jwtLanguages {
		if hasGap(lang, "seed 003") {
			continue
		}
		for from, tok := range issued {
			r := s.do(t, "GET", "/api/run/jwt/"+lang+"/bearer", nil, http.Header{"Authorization": {"Bearer " + tok}})
			if r.Status != 200 {
				t.Errorf("%s refuses the token issued by %s: %d %s", lang, from, r.Status, r.Body)
			}
		}
	}
}

// whoC is a C webtask with no check of its own that answers the caller
// the host verified, read with the SDK's accessors: wt_user for one claim
// (a string as it is, an array as its JSON text), wt_user_json for all.
const whoC = `#include "wasmtask.h"

static void str_or_null(wt_buf *b, const char *s) {
	if (s) wt_buf_json_cstr(b, s);
	else wt_buf_str(b, "null");
}

int wasmtask_handle(void) {
	wt_bytes user = wt_user_json();
	wt_buf out = {0};
	wt_buf_str(&out, "{\"sub\":");
	str_or_null(&out, wt_user("sub"));
	wt_buf_str(&out, ",\"perms\":");
	str_or_null(&out, wt_user("perms"));
	wt_buf_str(&out, ",\"user\":");
	if (user.data) wt_buf_write(&out, user.data, user.len);
	else wt_buf_str(&out, "null");
	wt_buf_str(&out, "}");
	wt_result(out.data, out.len);
	return 0;
}
`

// buildC compiles one C webtask with the C SDK as guests/Makefile builds
// the examples (its CFLAGS_WASM and LDFLAGS_WASM; $CLANG, else clang-14):
// for a check no example is written for.
func buildC(t *testing.T, src string) guestCode {
	t.Helper()
	clang := os.Getenv("CLANG")
	if clang == "" {
		clang = "clang-14"
	}
	dir, sdk := t.TempDir(), filepath.Join("..", "c")
	main, out := filepath.Join(dir, "main.c"), filepath.Join(dir, "main.wasm")
	if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-mexec-model=reactor", "-Os", "-std=c11", "-D_GNU_SOURCE",
		"-Wall", "-Wextra", "-Werror", "-I"+sdk, "-o", out, main, filepath.Join(sdk, "wasmtask.c"), "-Wl,--strip-all", "-Wl,--stack-first")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building a C guest (make -C guests toolchain-c installs the compiler): %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return guestCode{b, "application/wasm"}
}

// TestSeed003_DeclaredUser is seed 003's /bearer declared, in C: the
// host checks the JWT (meta wt-middleware) before the webtask runs, and
// the webtask reads the verified claims through the C SDK — one claim
// (wt_user) and all of them (wt_user_json). Without JWT auth declared
// there is no user.
func TestSeed003_DeclaredUser(t *testing.T) {
	s := start(t, api.Config{})
	who := buildC(t, whoC)
	declared := "?meta=" + url.QueryEscape("wt-middleware:@webtask/jwt-middleware") + "&meta=" + url.QueryEscape("wt-jwt-issuer:twil.io") +
		"&secret=" + url.QueryEscape("wt-jwt-secret:"+jwtKey)
	s.mustUpload(t, "jwt", "c-who", who, declared)
	s.mustUpload(t, "jwt", "c-open", who, "")

	// The claims seed 003's /jwt issues.
	claims := jwt.MapClaims{"sub": "twilio", "iss": "twil.io", "org": "twilio", "perms": []string{"read"}, "exp": time.Now().Add(time.Hour).Unix()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(jwtKey))
	if err != nil {
		t.Fatal(err)
	}
	r := s.do(t, "GET", "/api/run/jwt/c-who", nil, http.Header{"Authorization": {"Bearer " + tok}})
	fromWebtask(t, r, 200, "application/json")
	var got struct {
		Sub, Perms *string
		User       map[string]any
	}
	r.JSON(t, &got)
	if got.Sub == nil || *got.Sub != "twilio" || got.Perms == nil || *got.Perms != `["read"]` {
		t.Errorf("wt_user: sub %v, perms %v in %s", got.Sub, got.Perms, r.Body)
	}
	if got.User["org"] != "twilio" || !reflect.DeepEqual(got.User["perms"], []any{"read"}) {
		t.Errorf("wt_user_json: %v", got.User)
	}
	hostError(t, s.do(t, "GET", "/api/run/jwt/c-who", nil, nil), 401, "unauthorized", "missing Authorization")

	r = s.do(t, "GET", "/api/run/jwt/c-open", nil, http.Header{"Authorization": {"Bearer " + tok}})
	fromWebtask(t, r, 200, "application/json")
	wantBody(t, r, `{"sub":null,"perms":null,"user":null}`)
}

func wantUnauthorized(t *testing.T, r response) {
	t.Helper()
	fromWebtask(t, r, 401, "text/plain; charset=utf-8")
	wantBody(t, r, "Unauthorized")
	if got := r.Header.Get("WWW-Authenticate"); got != `Bearer realm="Access to read salaries"` {
		t.Errorf("www-authenticate = %q", got)
	}
}

// checkIssued verifies an issued token with golang-jwt and checks the
// seed's claims.
func checkIssued(t *testing.T, tok string) {
	t.Helper()
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(jwtKey), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("issued token %q does not verify: %v", tok, err)
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if d := time.Since(time.Unix(int64(iat), 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("iat is %s away from now", d)
	}
	if exp-iat != 24*60*60 {
		t.Errorf("exp - iat = %v, want one day", exp-iat)
	}
	want := map[string]any{"sub": "twilio", "iss": "twil.io", "org": "twilio", "perms": []any{"read"}}
	for k, v := range want {
		if !reflect.DeepEqual(claims[k], v) {
			t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
		}
	}
}

type foreignToken struct {
	name  string
	token string
	valid bool
}

// foreignTokens are made here, with golang-jwt, for the bearer route.
func foreignTokens(t *testing.T) []foreignToken {
	t.Helper()
	now := time.Now()
	sign := func(m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	day := jwt.MapClaims{"sub": "twilio", "exp": now.Add(time.Hour).Unix()}
	good := sign(jwt.SigningMethodHS256, []byte(jwtKey), day)
	parts := strings.Split(good, ".")
	tampered, _ := json.Marshal(map[string]any{"sub": "admin", "exp": now.Add(time.Hour).Unix()})
	return []foreignToken{
		{"signed here", good, true},
		{"expired", sign(jwt.SigningMethodHS256, []byte(jwtKey), jwt.MapClaims{"sub": "twilio", "exp": now.Add(-time.Minute).Unix()}), false},
		{"no exp", sign(jwt.SigningMethodHS256, []byte(jwtKey), jwt.MapClaims{"sub": "twilio"}), false},
		{"wrong key", sign(jwt.SigningMethodHS256, []byte("other"), day), false},
		{"HS384", sign(jwt.SigningMethodHS384, []byte(jwtKey), day), false},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, day), false},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tampered) + "." + parts[2], false},
		{"signature cut", parts[0] + "." + parts[1] + "." + parts[2][:10], false},
		{"two parts", parts[0] + "." + parts[1], false},
		{"garbage", "abc", false},
	}
}

// smsLanguages have a port of seed 004 (JavaScript's is the seed's own
// code: sms.js the receiver, sms-provider.js section 4 with the provider).
var smsLanguages = []string{"c", "go", "rust", "assemblyscript", "js"}

// TestSeed004_SMS is seed 004 ("Using Webtask for a custom Passwordless
// connection in Auth0"), the SMS gateway receiver: Auth0 POSTs the
// message, the webtask logs it and answers 200.
func TestSeed004_SMS(t *testing.T) {
	s := start(t, api.Config{})
	logs := s.followLogs(t, "sms")
	for _, lang := range smsLanguages {
		t.Run(lang, func(t *testing.T) {
			skipGap(t, lang, "seed 004")
			testSMS(t, s, logs, lang)
		})
	}
}

// testSMS checks one language's port: the message logged as its JSON,
// 400 for a body that is not a message, 404 for anything but POST, and
// with an auth-token secret the bearer check the seed recommends.
func testSMS(t *testing.T, s *server, logs *logCollector, lang string) {
	g := guest(t, lang, "sms")
	open, secured := "/api/run/sms/"+lang+"-open", "/api/run/sms/"+lang+"-secured"
	s.mustUpload(t, "sms", lang+"-open", g, "")
	s.mustUpload(t, "sms", lang+"-secured", g, "?secret=auth-token:t0ken")
	msg := `{"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}`
	ct := http.Header{"Content-Type": {"application/json"}}

	r := s.do(t, "POST", open, []byte(msg), ct)
	fromWebtask(t, r, 200, "")
	wantBody(t, r, "")
	logged := !gap(t, lang, "seed 004/message logged as JSON")
	id := r.Header.Get("x-wt-request-id")
	if recs := logs.wait(id, 2, 10*time.Second); logged && (len(recs) != 2 || recs[1].Level.String() != "info" || recs[1].Msg != msg) {
		t.Errorf("log records = %+v, want the message %s at info", recs, msg)
	}

	// Escapes in, escapes out.
	r = s.do(t, "POST", open+"/", []byte(`{"sender":"x","body":"caf\u00e9 \"ok\"","recipient":"+1","extra":[1,{"a":"}"}]}`), ct)
	fromWebtask(t, r, 200, "")
	recs := logs.wait(r.Header.Get("x-wt-request-id"), 2, 10*time.Second)
	if logged && (len(recs) != 2 || recs[1].Msg != `{"recipient":"+1","body":"café \"ok\"","sender":"x"}`) {
		t.Errorf("log records = %+v", recs)
	}

	if !gap(t, lang, "seed 004/400 and 404 as JSON") {
		for _, body := range []string{``, `[]`, `{"recipient":"+1","body":"x"}`, `{"recipient":1,"body":"x","sender":"y"}`, `{"recipient":"+1"`} {
			r := s.do(t, "POST", open, []byte(body), ct)
			fromWebtask(t, r, 400, "application/json")
		}
		fromWebtask(t, s.get(t, open), 404, "application/json")
	}

	// The seed's "Don't do this!": with an auth-token secret the gateway
	// wants Authorization: Bearer <auth-token>.
	if gap(t, lang, "seed 004/auth-token") {
		return
	}
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer wrong"}}, {"Authorization": {"t0ken"}}} {
		r := s.do(t, "POST", secured, []byte(msg), h)
		fromWebtask(t, r, 401, "")
		if r.Header.Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("www-authenticate = %q", r.Header.Get("WWW-Authenticate"))
		}
	}
	r = s.do(t, "POST", secured, []byte(msg), http.Header{"Authorization": {"Bearer t0ken"}})
	fromWebtask(t, r, 200, "")
}

// The provider's credentials, as the webtasks' secrets. The password needs
// URL-encoding and must never reach a log.
const (
	smsUser     = "auth0-user"
	smsPassword = "s3cr&t pass=wörd"
	smsAPIID    = "3141592"
)

// fakeProvider is Clickatell's HTTP API as seed 004 calls it: it checks
// the call and answers by recipient: "+1500" 500, "+1err" the API's ERR
// line, anything else 200 "ID: 123".
type fakeProvider struct {
	*httptest.Server
	mu       sync.Mutex
	calls    int
	problems []string
}

func newFakeProvider(t *testing.T) *fakeProvider {
	p := &fakeProvider{}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.Close)
	return p
}

func (p *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	want := map[string]string{"user": smsUser, "password": smsPassword, "api_id": smsAPIID,
		"from": "+11111111", "text": smsText}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			p.problems = append(p.problems, fmt.Sprintf("query %s = %q, want %q", k, got, v))
		}
	}
	if r.Method != "POST" || r.URL.Path != "/http/sendmsg" || len(body) != 0 {
		p.problems = append(p.problems, fmt.Sprintf("%s %s with a body of %d bytes, want POST /http/sendmsg without", r.Method, r.URL.Path, len(body)))
	}
	if ua := r.Header.Get("User-Agent"); ua != "Auth0 - Passwordless" {
		p.problems = append(p.problems, fmt.Sprintf("user-agent = %q", ua))
	}
	switch q.Get("to") {
	case "+1500":
		http.Error(w, "provider down", 500)
	case "+1err":
		_, _ = io.WriteString(w, "ERR: 001, Authentication failed")
	default:
		_, _ = io.WriteString(w, "ID: 123")
	}
}

// check reports the calls so far and fails on a malformed one.
func (p *fakeProvider) check(t *testing.T) int {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		t.Errorf("provider: %s", pr)
	}
	p.problems = nil
	return p.calls
}

// smsText is the message's text: it needs URL-encoding.
const smsText = "Your code is > 326162 & é"

// TestSeed004_Provider is seed 004's section 4, "Plugging in a real SMS
// provider": with the SMS_* secrets the gateway sends the message through
// the provider's HTTP API, with the host's outbound HTTP under the
// container's policy. A fake provider on loopback checks the call (query,
// user-agent) and answers by recipient; a closed port on the allow-list
// is a provider that is down, and a live provider not on it is refused
// before any connection (it counts the connections it accepts). Every
// call is a host line in the container's logs, which never show the
// password. In JavaScript it is the seed's own code, whose
// next(err) is Express's 500 page with the error in the log.
func TestSeed004_Provider(t *testing.T) {
	s := start(t, api.Config{})
	logs := s.followLogs(t, "sms")
	p := newFakeProvider(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String() // a provider that is down
	ln.Close()
	// A live provider not on the allow-list, counting the connections it
	// accepts: a denied call must make none.
	var accepts atomic.Int64
	unlisted := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	unlisted.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			accepts.Add(1)
		}
	}
	unlisted.Start()
	t.Cleanup(unlisted.Close)
	provider := strings.TrimPrefix(p.URL, "http://")
	s.setOutbound(t, "sms", provider, closed)

	for _, lang := range smsLanguages {
		t.Run(lang, func(t *testing.T) {
			g := guest(t, lang, "sms")
			if lang == "js" {
				g = guest(t, lang, "sms-provider")
			}
			secrets := "?secret=" + url.QueryEscape("SMS_API_ID:"+smsAPIID) + "&secret=" + url.QueryEscape("SMS_USERNAME:"+smsUser) +
				"&secret=" + url.QueryEscape("SMS_PASSWORD:"+smsPassword) + "&secret="
			up := func(name, smsURL string) string {
				s.mustUpload(t, "sms", lang+"-"+name, g, secrets+url.QueryEscape("SMS_URL:"+smsURL))
				return "/api/run/sms/" + lang + "-" + name
			}
			ok := up("provider", p.URL+"/http/sendmsg")
			down := up("down", "http://"+closed+"/http/sendmsg")
			denied := up("denied", unlisted.URL+"/http/sendmsg")
			send := func(path, recipient string) response {
				msg, _ := json.Marshal(map[string]string{"recipient": recipient, "body": smsText, "sender": "+11111111"})
				return s.do(t, "POST", path, msg, http.Header{"Content-Type": {"application/json"}})
			}
			// failed checks a 500: the compiled ports answer the message
			// (simple-model error); the seed's Express answers its error
			// page and logs the error.
			failed := func(r response, msg string) {
				t.Helper()
				if lang == "js" {
					fromWebtask(t, r, 500, "text/html; charset=utf-8")
					// The webtask's error line, not the host's "outbound …" line.
					logged := func(rec logRecord) bool {
						return rec.Level.String() == "error" && strings.Contains(rec.Msg, msg) && !strings.HasPrefix(rec.Msg, "outbound ")
					}
					recs := logs.waitFor(r.Header.Get("x-wt-request-id"), logged, 10*time.Second)
					for _, rec := range recs {
						if logged(rec) {
							return
						}
					}
					t.Errorf("no error line contains %q: %+v", msg, recs)
					return
				}
				fromWebtask(t, r, 500, "application/json")
				var e struct{ Message string }
				r.JSON(t, &e)
				if !strings.Contains(e.Message, msg) {
					t.Errorf("message %q does not contain %q", e.Message, msg)
				}
			}

			calls := p.check(t)
			r := send(ok, "+12223334444")
			fromWebtask(t, r, 200, "")
			wantBody(t, r, "")
			if n := p.check(t); n != calls+1 {
				t.Errorf("the provider got %d calls, want 1", n-calls)
			}
			line := "outbound POST " + provider + " 200"
			recs := logs.waitFor(r.Header.Get("x-wt-request-id"), func(rec logRecord) bool { return strings.HasPrefix(rec.Msg, line) }, 10*time.Second)
			if !hasLine(recs, line) {
				t.Errorf("no log line %q: %+v", line, recs)
			}

			prefix := "Send SMS - "
			if lang == "js" {
				prefix = "" // next(e): the host's reason as it is
			}
			failed(send(ok, "+1500"), "Send SMS - request failed: 500")
			failed(send(ok, "+1err"), "Send SMS failed: ERR: 001, Authentication failed")
			failed(send(down, "+12223334444"), prefix+"cannot connect to "+closed)
			failed(send(denied, "+12223334444"), prefix+strings.TrimPrefix(unlisted.URL, "http://")+" is not on the container's outbound allow-list")
			if n := accepts.Load(); n != 0 {
				t.Errorf("a provider not on the allow-list accepted %d connections", n)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // the last lines
	for _, rec := range logs.all() {
		if strings.Contains(rec.Msg, smsPassword) || strings.Contains(rec.Msg, url.QueryEscape(smsPassword)) {
			t.Errorf("a log line shows the password: %+v", rec)
		}
	}
}

func hasLine(recs []logRecord, prefix string) bool {
	for _, r := range recs {
		if strings.HasPrefix(r.Msg, prefix) {
			return true
		}
	}
	return false
}
