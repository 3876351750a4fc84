// Package auth checks a webtask's callers before any of its code runs:
// the declarative middleware a webtask names in its meta, as the original
// platform's wt-middleware did.
//
//	wt-middleware: @webtask/bearer-auth-middleware
//	    Authorization: Bearer <the webtask's secret wt-auth-secret>
//	    (seed 001 part 2, compared in constant time)
//	wt-middleware: @webtask/cron-auth-middleware
//	    Authorization: Bearer <a token of this server for this webtask>
//	    (what wt cron create adds: only the scheduler, or a holder of the
//	    webtask's token, may run it)
//	wt-middleware: @webtask/jwt-middleware
//	    Authorization: Bearer <a JWT>: HS256/384/512 with the secret
//	    wt-jwt-secret, or RS/ES from the JWKS at meta wt-jwt-jwks-url;
//	    wt-jwt-issuer, wt-jwt-audience, wt-jwt-scope (space-separated,
//	    all required), wt-jwt-leeway (seconds of clock skew, default 30).
//
// Several may be listed (comma-separated, each optionally @version, as
// wt-cli writes them); all must pass. A request refused here costs no
// guest instance: 401 with WWW-Authenticate: Bearer and a JSON body (403
// for a missing scope). The verified JWT claims reach the guest as the
// context's "user".
package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

// Meta keys and names of the middleware.
const (
	MetaMiddleware = "wt-middleware"

	Bearer = "@webtask/bearer-auth-middleware"
	Cron   = "@webtask/cron-auth-middleware"
	JWT    = "@webtask/jwt-middleware"

	SecretBearer = "wt-auth-secret"
	SecretJWT    = "wt-jwt-secret"
	MetaJWKS     = "wt-jwt-jwks-url"
	MetaIssuer   = "wt-jwt-issuer"
	MetaAudience = "wt-jwt-audience"
	MetaScope    = "wt-jwt-scope"
	MetaAlg      = "wt-jwt-alg"
	MetaLeeway   = "wt-jwt-leeway"
)

// Middleware lists the built-in middleware (wt-cli's wt-node-dependencies
// names them, and /api/env/node/modules answers for them).
func Middleware() []string { return []string{Bearer, Cron, JWT} }

// Policy is a webtask's declarative auth, parsed from its meta and
// secrets when it is deployed or loaded. A nil *Policy checks nothing.
type Policy struct {
	bearer []byte // the shared secret; nil unless bearer auth is on
	cron   bool
	jwt    *jwtPolicy
}

type jwtPolicy struct {
	family   string // "HS", "RS" or "ES": the only algorithms accepted
	secret   []byte // HS
	jwksURL  string // RS, ES
	issuer   string
	audience string
	scopes   []string
	leeway   time.Duration
}

// Parse reads the policy meta asks for (nil when it asks for none),
// checking that what it needs is there: an unknown middleware, a missing
// secret or a bad setting is an error that names it.
func Parse(meta, secrets []engine.KV) (*Policy, error) {
	list, ok := engine.Lookup(meta, MetaMiddleware)
	if !ok || strings.TrimSpace(list) == "" {
		return nil, nil
	}
	p := &Policy{}
	for _, spec := range strings.Split(list, ",") {
		name := middlewareName(strings.TrimSpace(spec))
		switch name {
		case "":
			continue
		case Bearer:
			s, _ := engine.Lookup(secrets, SecretBearer)
			if s == "" {
				return nil, fmt.Errorf("%s needs the secret %s (the bearer token callers send)", Bearer, SecretBearer)
			}
			p.bearer = []byte(s)
		case Cron:
			p.cron = true
		case JWT:
			j, err := parseJWT(meta, secrets)
			if err != nil {
				return nil, err
			}
			p.jwt = j
		default:
			return nil, fmt.Errorf("%s: unknown middleware %q; this server has %s", MetaMiddleware, clip(spec), strings.Join(Middleware(), ", "))
		}
	}
	if p.bearer == nil && !p.cron && p.jwt == nil {
		return nil, nil
	}
	return p, nil
}

// middlewareName drops a version from "@scope/name@1.2.3" or "name@1".
func middlewareName(spec string) string {
	at := strings.LastIndexByte(spec, '@')
	if at > 0 {
		return spec[:at]
	}
	return spec
}

func parseJWT(meta, secrets []engine.KV) (*jwtPolicy, error) {
	j := &jwtPolicy{leeway: 30 * time.Second}
	secret, _ := engine.Lookup(secrets, SecretJWT)
	j.jwksURL, _ = engine.Lookup(meta, MetaJWKS)
	j.issuer, _ = engine.Lookup(meta, MetaIssuer)
	j.audience, _ = engine.Lookup(meta, MetaAudience)
	if s, _ := engine.Lookup(meta, MetaScope); s != "" {
		j.scopes = strings.Fields(s)
	}
	if s, ok := engine.Lookup(meta, MetaLeeway); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 3600 {
			return nil, fmt.Errorf("%s must be whole seconds, 0 to 3600", MetaLeeway)
		}
		j.leeway = time.Duration(n) * time.Second
	}
	alg, _ := engine.Lookup(meta, MetaAlg)
	switch {
	case secret != "" && j.jwksURL != "":
		return nil, fmt.Errorf("%s: give the secret %s (HS256) or the meta %s (RS256, ES256), not both", JWT, SecretJWT, MetaJWKS)
	case secret != "":
		j.family, j.secret = "HS", []byte(secret)
		if alg != "" && family(alg) != "HS" {
			return nil, fmt.Errorf("%s %q does not go with the secret %s: an HMAC key means HS256, HS384 or HS512", MetaAlg, alg, SecretJWT)
		}
	case j.jwksURL != "":
		u, err := url.Parse(j.jwksURL)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("%s must be an http(s) url", MetaJWKS)
		}
		j.family = "RS"
		if alg != "" {
			if f := family(alg); f == "RS" || f == "ES" {
				j.family = f
			} else {
				return nil, fmt.Errorf("%s %q: a JWKS means RS256/384/512 or ES256/384/512", MetaAlg, alg)
			}
		}
	default:
		return nil, fmt.Errorf("%s needs the secret %s (HS256) or the meta %s (RS256, ES256)", JWT, SecretJWT, MetaJWKS)
	}
	return j, nil
}

// family is the algorithm family of "HS256" and the like ("" if unknown).
func family(alg string) string {
	switch strings.ToUpper(alg) {
	case "HS256", "HS384", "HS512":
		return "HS"
	case "RS256", "RS384", "RS512":
		return "RS"
	case "ES256", "ES384", "ES512":
		return "ES"
	}
	return ""
}

// methods are the JWT algorithms of a family.
func methods(family string) []string {
	return []string{family + "256", family + "384", family + "512"}
}

// Denial is a refused request: its status (401, 403, 503), the OAuth
// error of the WWW-Authenticate header ("invalid_request",
// "invalid_token", "insufficient_scope"; "" for 503) and a message.
type Denial struct {
	Status  int
	Code    string
	Message string
}

func (d *Denial) Error() string { return d.Message }

// WWWAuthenticate is the header value of a 401 or 403.
func (d *Denial) WWWAuthenticate() string {
	if d.Code == "" {
		return `Bearer realm="wasmtask"`
	}
	return `Bearer realm="wasmtask", error="` + d.Code + `", error_description="` + strings.ReplaceAll(d.Message, `"`, `'`) + `"`
}

func deny(status int, code, msg string) *Denial {
	return &Denial{Status: status, Code: code, Message: msg}
}

// bearerToken returns the token of an Authorization header, or a Denial.
func bearerToken(authz []byte) ([]byte, *Denial) {
	if len(authz) == 0 {
		return nil, &Denial{Status: 401, Message: "missing Authorization: Bearer token"}
	}
	scheme, tok, ok := strings.Cut(string(authz), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, deny(401, "invalid_request", "malformed Authorization header: want \"Bearer <token>\"")
	}
	return []byte(strings.TrimSpace(tok)), nil
}

// checkBearer compares the token with the shared secret in constant time.
func (p *Policy) checkBearer(tok []byte) *Denial {
	if subtle.ConstantTimeCompare(tok, p.bearer) != 1 {
		return deny(401, "invalid_token", "the bearer token is not the webtask's")
	}
	return nil
}

// errNoKey: the JWKS has no key for the token.
var errNoKey = errors.New("auth: no key")

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
