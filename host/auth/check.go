package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Checker checks requests against webtasks' policies, keeping the JWKS
// it fetched (per container and url) and counting its verdicts (Stats).
// Its zero value (with the fields it needs set) is ready; it is safe for
// concurrent use.
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

	counts [NumKinds][NumResults]atomic.Int64
}

// Middleware kinds, the first index of Stats.Checks.
const (
	KindBearer = iota // @webtask/bearer-auth-middleware
	KindCron          // @webtask/cron-auth-middleware
	KindJWT           // @webtask/jwt-middleware
	NumKinds
)

// Results of one middleware's check, the second index of Stats.Checks:
// as the API answers a refusal ("error" id of its JSON body).
const (
	ResultOK           = iota // passed
	ResultUnauthorized        // 401: no, a malformed or an invalid credential
	ResultForbidden           // 403: a valid JWT without a required scope
	ResultUnavailable         // 503: the JWKS cannot be fetched, the token cannot be judged
	NumResults
)

// Stats counts the checks a Checker made, by middleware kind and result
// (a request to a webtask that declares several middleware counts once
// for each one that ran; one refused for a missing or malformed
// Authorization header counts for the first of them).
type Stats struct {
	Checks [NumKinds][NumResults]int64
}

// Stats returns the counts so far.
func (c *Checker) Stats() Stats {
	var s Stats
	for k := range c.counts {
		for r := range c.counts[k] {
			s.Checks[k][r] = c.counts[k][r].Load()
		}
	}
	return s
}

// count counts one middleware's verdict d (nil: passed) and returns it.
func (c *Checker) count(kind int, d *Denial) *Denial {
	r := ResultOK
	if d != nil {
		switch d.Status {
		case 403:
			r = ResultForbidden
		case 503:
			r = ResultUnavailable
		default:
			r = ResultUnauthorized
		}
	}
	c.counts[kind][r].Add(1)
	return d
}

// jwksEntry is one JWKS: its keys (refreshed hourly by keyfunc, and by
// refreshFor on an unknown kid at most once per jwksUnknownKIDs), or why
// it could not be fetched.
type jwksEntry struct {
	container  string        // whose outbound policy fetches it (Forget)
	expires    time.Time     // the entry is rebuilt after this (set once)
	unknownKID *rate.Limiter // refreshes for unknown kids
	refreshing sync.Mutex    // held while such a refresh runs
	ok         atomic.Bool   // a fetch succeeded: the entry may expire

	mu     sync.Mutex // guards what follows; held while the first fetch runs
	kf     keyfunc.Keyfunc
	gen    int // how many times refreshFor replaced kf
	cancel context.CancelFunc
	err    error
	retry  time.Time // a failed first fetch is tried again after this
	closed bool      // dropped from the cache: its keys stop refreshing
}

// close stops the entry's background refresh (once it is out of the
// cache; it waits for a first fetch that is running).
func (e *jwksEntry) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	if e.cancel != nil {
		e.cancel()
	}
}

// JWKS cache settings.
const (
	maxJWKS         = 256
	jwksTTL         = time.Hour
	jwksRetry       = 10 * time.Second
	jwksTimeout     = 5 * time.Second
	jwksUnknownKIDs = time.Minute // at most one refresh for unknown kids per this
)

// never is the limiter keyfunc is given for unknown kids: it refuses at
// once, so keyfunc neither refreshes on its own nor holds a request
// (refreshFor does it, with its own limiter and the fetch's time limit).
var never = rate.NewLimiter(0, 0)

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
		return nil, c.count(p.firstKind(), d)
	}
	if p.bearer != nil {
		if d := c.count(KindBearer, p.checkBearer(tok)); d != nil {
			return nil, d
		}
	}
	if p.cron {
		var d *Denial
		if c.Token == nil || c.Token(tok, container, name) != nil {
			d = deny(401, "invalid_token", "this webtask runs only with its own token (cron-auth-middleware)")
		}
		if c.count(KindCron, d) != nil {
			return nil, d
		}
	}
	if p.jwt == nil {
		return nil, nil
	}
	claims, d := c.checkJWT(p.jwt, container, tok)
	return claims, c.count(KindJWT, d)
}

// firstKind is the kind of the first middleware p runs.
func (p *Policy) firstKind() int {
	switch {
	case p.bearer != nil:
		return KindBearer
	case p.cron:
		return KindCron
	}
	return KindJWT
}

func (c *Checker) checkJWT(j *jwtPolicy, container string, raw []byte) ([]byte, *Denial) {
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods(j.family)), jwt.WithLeeway(j.leeway), jwt.WithExpirationRequired()}
	if j.issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.issuer))
	}
	if j.audience != "" {
		opts = append(opts, jwt.WithAudience(j.audience))
	}
	parser := jwt.NewParser(opts...)
	claims := jwt.MapClaims{}
	var err error
	if j.family == "HS" {
		_, err = parser.ParseWithClaims(string(raw), claims, func(*jwt.Token) (any, error) { return j.secret, nil })
	} else {
		e, kf, gen, ferr := c.keyfunc(container, j.jwksURL)
		if ferr != nil {
			return nil, &Denial{Status: 503, Message: ferr.Error()}
		}
		if _, err = parser.ParseWithClaims(string(raw), claims, kf.KeyfuncCtx(context.Background())); err != nil && lacksKID(kf, raw) {
			// A kid the keys lack: the JWKS may have rotated.
			if kf = c.refreshFor(e, gen, container, j.jwksURL); kf != nil {
				claims = jwt.MapClaims{}
				_, err = parser.ParseWithClaims(string(raw), claims, kf.KeyfuncCtx(context.Background()))
			}
		}
	}
	if err != nil {
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

// keyfunc returns the entry and keys of the JWKS at url for container,
// fetching it on first use (once for concurrent callers); a failed fetch
// is reported for jwksRetry before it is tried again. gen identifies the
// keys for refreshFor.
func (c *Checker) keyfunc(container, url string) (e *jwksEntry, kf keyfunc.Keyfunc, gen int, err error) {
	k := container + " " + url
	now := time.Now()
	var dropped []*jwksEntry
	c.mu.Lock()
	if c.jwks == nil {
		c.jwks = map[string]*jwksEntry{}
	}
	e = c.jwks[k]
	if e != nil && now.After(e.expires) && e.ok.Load() {
		delete(c.jwks, k)
		dropped, e = append(dropped, e), nil
	}
	if e == nil {
		if len(c.jwks) >= maxJWKS {
			dropped = append(dropped, c.evictOldest())
		}
		e = &jwksEntry{container: container, expires: now.Add(jwksTTL), unknownKID: rate.NewLimiter(rate.Every(jwksUnknownKIDs), 1)}
		c.jwks[k] = e
	}
	c.mu.Unlock()
	closeDropped(dropped)

	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.kf != nil:
		return e, e.kf, e.gen, nil
	case e.err != nil && now.Before(e.retry):
		return nil, nil, 0, e.err
	}
	if e.kf, e.cancel, e.err = c.fetch(container, url); e.err != nil {
		e.retry = time.Now().Add(jwksRetry)
		return nil, nil, 0, e.err
	}
	e.ok.Store(true)
	if e.closed { // dropped while it was fetched: no background refresh
		e.cancel()
	}
	return e, e.kf, e.gen, nil
}

// refreshFor fetches the JWKS of e again for a token whose kid its keys
// (generation gen) lack — a key the issuer has just started to use — and
// returns the keys to try again with, or nil. At most one such fetch runs
// per jwksUnknownKIDs for an entry, so a stream of made-up kids costs the
// JWKS host one fetch a minute: the request that gets the window's fetch
// waits for it (at most jwksTimeout), requests arriving meanwhile wait for
// the same fetch, later ones are refused at once. A fetch that fails
// keeps the keys there are.
func (c *Checker) refreshFor(e *jwksEntry, gen int, container, url string) keyfunc.Keyfunc {
	e.refreshing.Lock()
	defer e.refreshing.Unlock()
	e.mu.Lock()
	kf, now := e.kf, e.gen
	e.mu.Unlock()
	if now != gen { // refreshed while this request waited
		return kf
	}
	if !e.unknownKID.Allow() {
		return nil
	}
	kf, cancel, err := c.fetch(container, url)
	if err != nil {
		return nil
	}
	e.mu.Lock()
	old := e.cancel
	e.kf, e.cancel, e.gen = kf, cancel, e.gen+1
	closed := e.closed
	e.mu.Unlock()
	old()
	if closed {
		cancel()
	}
	return kf
}

// lacksKID reports whether raw names a kid that the keys of kf do not
// have (it does not verify raw).
func lacksKID(kf keyfunc.Keyfunc, raw []byte) bool {
	tok, _, err := jwt.NewParser().ParseUnverified(string(raw), jwt.MapClaims{})
	if err != nil {
		return false
	}
	kid, _ := tok.Header["kid"].(string)
	if kid == "" {
		return false
	}
	keys, err := kf.Storage().KeyReadAll(context.Background())
	if err != nil {
		return false
	}
	for _, k := range keys {
		if k.Marshal().KID == kid {
			return false
		}
	}
	return true
}

// evictOldest drops the entry that expires first (c.mu held) and returns
// it, to be closed.
func (c *Checker) evictOldest() *jwksEntry {
	var oldest string
	var at time.Time
	for k, e := range c.jwks {
		if oldest == "" || e.expires.Before(at) {
			oldest, at = k, e.expires
		}
	}
	e := c.jwks[oldest]
	delete(c.jwks, oldest)
	return e
}

// Forget drops the JWKS fetched for container ("" for every container):
// the next check fetches them again. Called when a container's outbound
// policy changes, so a policy that now allows the JWKS host takes effect
// at once instead of after a failed fetch's jwksRetry.
func (c *Checker) Forget(container string) {
	var dropped []*jwksEntry
	c.mu.Lock()
	for k, e := range c.jwks {
		if container == "" || e.container == container {
			delete(c.jwks, k)
			dropped = append(dropped, e)
		}
	}
	c.mu.Unlock()
	closeDropped(dropped)
}

// closeDropped closes entries taken out of the cache, in the background:
// one may wait for a first fetch, and nobody waits for it.
func closeDropped(dropped []*jwksEntry) {
	for _, e := range dropped {
		go e.close()
	}
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
		RateLimitWaitMax:          time.Millisecond,
		RefreshInterval:           jwksTTL,
		RefreshUnknownKID:         never, // refreshFor refreshes for unknown kids
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
