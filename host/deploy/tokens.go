package deploy

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
)

// Token is a verified token prepared for the hot path: its claims and what
// is derived from them once per token rather than once per request (the
// parsed ten, the decrypted ectx, params and meta as engine maps).
// Immutable once built; shared by concurrent requests.
type Token struct {
	Claims *token.Claims
	// Ten is the parsed ten claim: the containers the token may use.
	Ten token.Containers
	// Secrets is the decrypted ectx; SecretKV the same as sorted pairs.
	Secrets  map[string]string
	SecretKV []engine.KV
	// Params (pctx) and Meta as sorted pairs.
	Params, Meta []engine.KV
	// CodeSHA is the hash of the module (or JavaScript source) a code or
	// url "sha256:…" claim fixes.
	CodeSHA string

	limited bool
}

// Prepare builds the Token of verified claims. It fails (token.ErrInvalid)
// when a claim the issuer would never have signed does not parse, the ectx
// does not decrypt, or the token carries secrets without being bound to one
// container (issued before that rule: its secrets could reach another
// tenant's code, so it is refused rather than run).
func (r *Registry) Prepare(c *token.Claims) (*Token, error) {
	ten, err := token.ParseContainers(c.Containers)
	if err != nil {
		return nil, fmt.Errorf("%w: its ten claim does not parse", token.ErrInvalid)
	}
	if _, one := ten.Single(); c.EncryptedContext != "" && (!one || !c.FixesCode()) {
		return nil, fmt.Errorf("%w: it carries secrets (ectx) but does not name exactly one container and fix its code; issue it again with ten naming one container", token.ErrInvalid)
	}
	secrets, err := r.signer.OpenContext(c)
	if err != nil {
		return nil, err
	}
	t := &Token{Claims: c, Ten: ten, Secrets: secrets, SecretKV: ToKV(secrets), Params: ToKV(c.PublicContext),
		Meta: ToKV(c.Meta), limited: c.HasLimits()}
	if sha, ok := token.SHA256Ref(c.URL); ok {
		t.CodeSHA = sha
	} else if c.Code != "" {
		if _, sha, _, err := token.CodeSHA256(c.Code); err == nil {
			t.CodeSHA = sha
		}
	}
	return t, nil
}

// Authenticate verifies raw (signature, key, algorithm, window, revocation
// of the token and its ancestors) and returns its prepared form. A token
// seen before costs a map lookup: the cache is keyed by the exact bytes that
// were verified, and the window and revocation are checked every time.
// Errors are ErrUnauthorized.
func (r *Registry) Authenticate(raw []byte) (*Token, error) {
	if len(raw) == 0 {
		return nil, Fail(ErrUnauthorized, "missing token: send Authorization: Bearer <token> or ?key=<token>")
	}
	t := r.tokens.get(raw)
	if t == nil {
		c, err := r.signer.Verify(string(raw))
		if err != nil {
			r.stats.tokenInvalid.Add(1)
			return nil, Fail(ErrUnauthorized, err.Error())
		}
		r.stats.tokenVerified.Add(1)
		if t, err = r.Prepare(c); err != nil {
			return nil, Fail(ErrUnauthorized, err.Error())
		}
		r.tokens.put(string(raw), t)
	} else {
		r.stats.tokenCacheHits.Add(1)
		if err := t.Claims.CheckWindow(tokenClock()); err != nil {
			return nil, Fail(ErrUnauthorized, err.Error())
		}
	}
	if r.revoked.IsRevoked(t.Claims) {
		return nil, Fail(ErrUnauthorized, "token revoked: it, or a token it was issued from, has been revoked")
	}
	return t, nil
}

// Admit checks, on the hot path of a run, that t is still valid and within
// its rate limits in container. webtask names the webtask whose token t is
// when the caller did not send it: then its window and revocation are
// checked here; "" means t is the caller's, checked by Authenticate.
//
// A run of a named webtask goes through AdmitWebtask instead: it runs as the
// webtask's token, whoever calls it.
func (r *Registry) Admit(t *Token, container, webtask string) error {
	if webtask != "" {
		if err := r.checkWebtaskToken(t, webtask); err != nil {
			return err
		}
	}
	if !t.limited {
		return nil
	}
	if d, ok := r.limiter.Allow(t.Claims, container); !ok {
		r.stats.rateLimited.Add(1)
		return &RateLimitError{Denial: d}
	}
	return nil
}

// AdmitWebtask checks, on the hot path, a run of the named webtask d in
// container. caller is the token the client sent to run it (a jtn token,
// already authenticated), nil for the public run URL.
//
// A named webtask runs as its own token, a descendant of the token that
// uploaded it: whoever calls it, that token must be valid and not revoked
// (revoking the uploader or any ancestor stops the webtask, by its public URL
// and by every jtn token), and the run counts against its limits — the
// uploader's, inherited. A caller's token adds its own limits; a limit both
// share counts the run once. A webtask whose stored token is not valid on
// this server does not run.
func (r *Registry) AdmitWebtask(caller *Token, container string, d *Deployment) error {
	if d.TokenErr != nil {
		return d.TokenErr
	}
	var a, b *token.Claims
	if caller != nil && caller.limited {
		a = caller.Claims
	}
	if w := d.Token; w != nil {
		if err := r.checkWebtaskToken(w, d.Webtask.Name); err != nil {
			return err
		}
		if w.limited {
			b = w.Claims
		}
	}
	if a == nil && b == nil {
		return nil
	}
	if den, ok := r.limiter.AllowBoth(a, b, container); !ok {
		r.stats.rateLimited.Add(1)
		return &RateLimitError{Denial: den}
	}
	return nil
}

// checkWebtaskToken checks the window and revocation of the token of a
// named webtask.
func (r *Registry) checkWebtaskToken(t *Token, webtask string) error {
	if err := t.Claims.CheckWindow(tokenClock()); err != nil {
		return Fail(ErrUnauthorized, "webtask "+webtask+": "+err.Error())
	}
	if r.revoked.IsRevoked(t.Claims) {
		return Fail(ErrUnauthorized, "webtask "+webtask+": the token it was created with, or a token that one was issued from, has been revoked")
	}
	return nil
}

// Revoke revokes c and, through ancestry, its descendants; durable.
func (r *Registry) Revoke(c *token.Claims) error {
	if err := r.revoked.Revoke(c); err != nil {
		return internal("cannot store the revocation", err)
	}
	return nil
}

// IsRevoked reports whether c or an ancestor is revoked.
func (r *Registry) IsRevoked(c *token.Claims) bool { return r.revoked.IsRevoked(c) }

// tokenClock is the clock of the validity checks of cached and webtask
// tokens; tests move it.
var tokenClock = time.Now

// tokenCache maps token text to its prepared form. Bounded: when full, an
// arbitrary entry makes room.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]*Token
}

const (
	tokenCacheEntries = 4096
	// maxCachedToken keeps the cache's memory bounded (about 16 MiB of keys).
	maxCachedToken = 4 << 10
)

func (tc *tokenCache) get(raw []byte) *Token {
	tc.mu.RLock()
	t := tc.m[string(raw)] // no allocation: the compiler converts in place
	tc.mu.RUnlock()
	return t
}

func (tc *tokenCache) put(raw string, t *Token) {
	if len(raw) > maxCachedToken {
		return
	}
	tc.mu.Lock()
	if tc.m == nil {
		tc.m = make(map[string]*Token)
	}
	if len(tc.m) >= tokenCacheEntries {
		for k := range tc.m {
			delete(tc.m, k)
			break
		}
	}
	tc.m[raw] = t
	tc.mu.Unlock()
}

// ToKV returns m as pairs sorted by key.
func ToKV(m map[string]string) []engine.KV {
	kvs := make([]engine.KV, 0, len(m))
	for k, v := range m {
		kvs = append(kvs, engine.KV{Key: k, Value: v})
	}
	engine.SortKV(kvs)
	return kvs
}

// MergeSecrets is the secrets a webtask sees: its stored secrets, then a
// token's ectx over them (the token wins, SPEC.md).
func MergeSecrets(stored []engine.KV, tokenSecrets map[string]string) []engine.KV {
	if len(tokenSecrets) == 0 {
		return stored
	}
	m := make(map[string]string, len(stored)+len(tokenSecrets))
	for _, kv := range stored {
		m[kv.Key] = kv.Value
	}
	for k, v := range tokenSecrets {
		m[k] = v
	}
	return ToKV(m)
}

// sortedKeys returns the sorted keys of m.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
