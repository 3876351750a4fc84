//go:build wasip1

// Command jwt is seed 003 ("Protect your Function with JSON Web Token") as
// one webtask with two routes:
//
//	POST /jwt     {"username":"…","password":"…"} (or ?username=&password=)
//	              right credentials: 200 "OK" with the token in the
//	              access_token header; wrong ones: 401
//	              "Username or password is incorrect"
//	ANY  /bearer  Authorization: Bearer <token>: 200 and the salary list;
//	              anything else: 401 "Unauthorized" with
//	              WWW-Authenticate: Bearer realm="Access to read salaries"
//
// The credentials and the signing key are the webtask's secrets, not code:
// username, password and jwt-secret. Tokens are HS256 JWTs valid for a day
// with the seed's claims (sub, iss, org, perms, iat, exp); the Rust port,
// guests/rust/examples/jwt.rs, issues and accepts the same tokens.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

const salaries = `[{"username":"jdoe","salary":"$2000.00"},{"username":"mturner","salary":"$2500.00"}]`

func init() {
	r := wasmtask.NewRouter()
	r.Post("/jwt", issue)
	r.Any("/bearer", bearer)
	wasmtask.HandleRaw(r.Serve)
}

func text(w *wasmtask.ResponseWriter, status int, body string) {
	w.SetStatus(status)
	w.SetHeader("content-type", "text/plain; charset=utf-8")
	_, _ = w.WriteString(body)
}

// credentials reads username and password from a JSON body, else the query.
func credentials(ctx *wasmtask.Context) (user, pass string) {
	var body struct {
		Username *string `json:"username"`
		Password *string `json:"password"`
	}
	if json.Unmarshal(ctx.Body(), &body) == nil && body.Username != nil && body.Password != nil {
		return *body.Username, *body.Password
	}
	return ctx.Query("username"), ctx.Query("password")
}

func same(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func issue(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
	key := ctx.Secret("jwt-secret")
	if key == "" {
		text(w, 500, "jwt-secret is not set")
		return
	}
	wantUser, wantPass := ctx.Secret("username"), ctx.Secret("password")
	user, pass := credentials(ctx)
	if wantUser == "" || wantPass == "" || !same(user, wantUser) || !same(pass, wantPass) {
		text(w, 401, "Username or password is incorrect")
		return
	}
	now := time.Now().Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": user, "iss": "twil.io", "org": "twilio", "perms": []string{"read"},
		"iat": now, "exp": now + 24*60*60,
	}).SignedString([]byte(key))
	if err != nil {
		text(w, 500, err.Error())
		return
	}
	w.SetHeader("access_token", tok)
	text(w, 200, "OK")
}

func bearer(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
	key := ctx.Secret("jwt-secret")
	h := ctx.Header("authorization")
	const prefix = "Bearer "
	ok := key != "" && len(h) > len(prefix) && h[:len(prefix)] == prefix
	if ok {
		_, err := jwt.Parse(h[len(prefix):], func(*jwt.Token) (any, error) { return []byte(key), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
		ok = err == nil
	}
	if !ok {
		w.SetHeader("www-authenticate", `Bearer realm="Access to read salaries"`)
		text(w, 401, "Unauthorized")
		return
	}
	w.SetStatus(200)
	w.SetHeader("content-type", "application/json")
	_, _ = w.WriteString(salaries)
}

func main() {}
