package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Checker checks requests against webtasks' policies, keeping the JWKS
// it fetched (per container and url). It is safe for concurrent use.
type Checker struct {
	// Token checks a token of this server for the cron middleware: nil
	// when raw is valid and runs webtask name of container.
	Token func(raw []byte, container, name string) error
	// HTTPClient returns the client container's JWKS fetches go through:
	// its outbound policy, so a tenant's JWKS url can reach only what the
	// admin allowed it to call.
	HTTPClient func(container string) (*http.Client, error)

	mu   sync.Mutex
	jwks map[string]*jwksEntry
}

// jwksEntry is one JWKS: its keys (refreshed hourly, and on an unknown
// kid at most once a minute), or why it could not be fetched.
type jwksEntry struct {
	mu      sync.Mutex // held while the first fetch runs
	kf      keyfunc.Keyfunc
	cancel  context.CancelFunc
	err     error
	retry   time.Time // a failed fetch is tried again after this
	expires time.Time // the entry is rebuilt after this
}

// JWKS cache settings.
const (
	maxJWKS         = 256
	jwksTTL         = time.Hour
	jwksRetry       = 10 * time.Second
	jwksTimeout     = 5 * time.Second
	jwksUnknownKIDs = time.Minute // at most one refresh for unknown kids per this
)

// errJWKSUnavailable: the JWKS cannot be fetched; the request is 503.
var errJWKSUnavailable = errors.New("auth: JWKS unavailable")

// Check checks a request to container/name under p (nil: nothing to
// check) from its Authorization header. It returns the verified JWT
// claims as JSON (nil without the JWT middleware), or why it is refused.
func (c *Checker) Check(p *Policy, container, name string, authz []byte) ([]byte, *Denial) {
	if p == nil {
		return nil, nil
	}
	tok, d := bearerToken(authz)
	if d != nil {
		return nil, d
	}
	if p.bearer != nil {
		if d := p.checkBearer(tok); d != nil {
			return nil, d
		}
	}
	if p.cron {
		if c.Token == nil || c.Token(tok, container, name) != nil {
			return nil, deny(401, "invalid_token", "this webtask runs only with its own token (cron-auth-middleware)")
		}
	}
	if p.jwt == nil {
		return nil, nil
	}
	return c.checkJWT(p.jwt, container, tok)
}

func (c *Checker) checkJWT(j *jwtPolicy, container string, raw []byte) ([]byte, *Denial) {
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods(j.family)), jwt.WithLeeway(j.leeway), jwt.WithExpirationRequired()}
	if j.issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.issuer))
	}
	if j.audience != "" {
		opts = append(opts, jwt.WithAudience(j.audience))
	}
	var keys jwt.Keyfunc
	if j.family == "HS" {
		keys = func(*jwt.Token) (any, error) { return j.secret, nil }
	} else {
		kf, err := c.keyfunc(container, j.jwksURL)
		if err != nil {
			return nil, &Denial{Status: 503, Message: err.Error()}
		}
		ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
		defer cancel()
		keys = kf.KeyfuncCtx(ctx)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(string(raw), claims, keys); err != nil {
		return nil, deny(401, "invalid_token", jwtMessage(err))
	}
	if missing := missingScopes(claims, j.scopes); len(missing) > 0 {
		return nil, deny(403, "insufficient_scope", "the token lacks the scope "+strings.Join(missing, " "))
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, deny(401, "invalid_token", "the token's claims do not encode")
	}
	return b, nil
}

// jwtMessage says why a JWT was refused, without quoting the token.
func jwtMessage(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a JWT"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature does not verify (or its algorithm is not the one configured)"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token cannot be verified: no key for it, or its algorithm is not the one configured"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token has no exp claim"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token's issuer is not the one configured"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token's audience is not the one configured"
	}
	return "the token is not valid"
}

// missingScopes returns the scopes of want the claims do not grant: the
// "scope" claim (space-separated, OAuth 2) or an array "scp" or
// "permissions" (Auth0).
func missingScopes(claims jwt.MapClaims, want []string) []string {
	if len(want) == 0 {
		return nil
	}
	have := map[string]bool{}
	if s, ok := claims["scope"].(string); ok {
		for _, f := range strings.Fields(s) {
			have[f] = true
		}
	}
	for _, k := range []string{"scp", "permissions"} {
		switch v := claims[k].(type) {
		case string:
			for _, f := range strings.Fields(v) {
				have[f] = true
			}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					have[s] = true
				}
			}
		}
	}
	var missing []string
	for _, w := range want {
		if !have[w] {
			missing = append(missing, w)
		}
	}
	return missing
}

// keyfunc returns the keys of the JWKS at url for container, fetching it
// on first use (once for concurrent callers); a failed fetch is reported
// for jwksRetry before it is tried again.
func (c *Checker) keyfunc(container, url string) (keyfunc.Keyfunc, error) {
	k := container + " " + url
	now := time.Now()
	c.mu.Lock()
	if c.jwks == nil {
		c.jwks = map[string]*jwksEntry{}
	}
	e := c.jwks[k]
	if e != nil && now.After(e.expires) && e.err == nil {
		e.cancel()
		delete(c.jwks, k)
		e = nil
	}
	if e == nil {
		if len(c.jwks) >= maxJWKS {
			c.evictOldest()
		}
		e = &jwksEntry{expires: now.Add(jwksTTL)}
		c.jwks[k] = e
	}
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.kf != nil:
		return e.kf, nil
	case e.err != nil && now.Before(e.retry):
		return nil, e.err
	}
	e.kf, e.cancel, e.err = c.fetch(container, url)
	if e.err != nil {
		e.retry = time.Now().Add(jwksRetry)
	}
	return e.kf, e.err
}

// evictOldest drops the entry that expires first (c.mu held).
func (c *Checker) evictOldest() {
	var oldest string
	var at time.Time
	for k, e := range c.jwks {
		if oldest == "" || e.expires.Before(at) {
			oldest, at = k, e.expires
		}
	}
	if e := c.jwks[oldest]; e != nil && e.cancel != nil {
		e.cancel()
	}
	delete(c.jwks, oldest)
}

// fetch builds the keyfunc of a JWKS: the first fetch must succeed;
// later refreshes that fail keep the keys there are.
func (c *Checker) fetch(container, url string) (keyfunc.Keyfunc, context.CancelFunc, error) {
	if c.HTTPClient == nil {
		return nil, nil, fmt.Errorf("%w: this server fetches no JWKS", errJWKSUnavailable)
	}
	client, err := c.HTTPClient(container)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the JWKS at %s cannot be fetched: %v", errJWKSUnavailable, hostOf(url), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mustFetch := false
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{url}, keyfunc.Override{
		Client:                    client,
		HTTPTimeout:               jwksTimeout,
		NoErrorReturnFirstHTTPReq: &mustFetch,
		RateLimitWaitMax:          time.Millisecond, // never hold a request for a refresh
		RefreshInterval:           jwksTTL,
		RefreshUnknownKID:         rate.NewLimiter(rate.Every(jwksUnknownKIDs), 1),
		RefreshErrorHandlerFunc:   func(string) func(context.Context, error) { return func(context.Context, error) {} },
	})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("%w: the JWKS at %s cannot be fetched: %v", errJWKSUnavailable, hostOf(url), rootCause(err))
	}
	return kf, cancel, nil
}

// rootCause is the innermost error's text (keyfunc wraps it in layers
// that say "failed to create HTTP client storage").
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 0 {
			next = j.Unwrap()[0]
		}
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func hostOf(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		raw = raw[i+3:]
	}
	if i := strings.IndexAny(raw, "/?#"); i >= 0 {
		raw = raw[:i]
	}
	return raw
}
