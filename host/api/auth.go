package api

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/token"
)

// authToken is a verified token prepared for the hot path: its claims and
// what is derived from them once per token rather than once per request
// (the parsed ten, the decrypted ectx, params and meta as engine maps).
// Immutable once built; shared by concurrent requests.
type authToken struct {
	c       *token.Claims
	ten     token.Containers
	secrets map[string]string // decrypted ectx
	secKV   []engine.KV
	params  []engine.KV
	meta    []engine.KV
	limited bool
	// codeSHA is the module hash a code or url "sha256:…" claim fixes.
	codeSHA string
}

// prepare builds the authToken of verified claims. It fails (ErrInvalid) when
// a claim the issuer would never have signed does not parse, or the ectx
// does not decrypt.
func (s *Server) prepare(c *token.Claims) (*authToken, error) {
	ten, err := token.ParseContainers(c.Containers)
	if err != nil {
		return nil, fmt.Errorf("%w: its ten claim does not parse", token.ErrInvalid)
	}
	secrets, err := s.signer.OpenContext(c)
	if err != nil {
		return nil, err
	}
	at := &authToken{c: c, ten: ten, secrets: secrets, secKV: toKV(secrets), params: toKV(c.PublicContext),
		meta: toKV(c.Meta), limited: c.HasLimits()}
	if sha, ok := token.SHA256Ref(c.URL); ok {
		at.codeSHA = sha
	} else if c.Code != "" {
		if _, sha, err := token.CodeSHA256(c.Code); err == nil {
			at.codeSHA = sha
		}
	}
	return at, nil
}

// tokenCache maps token text to its prepared form, so a token seen before
// costs a map lookup instead of base64, JSON, HMAC and AES work. Keyed by the
// exact bytes that were verified, so a hit needs no new signature check; the
// validity window and revocation are still checked on every request.
// Bounded: when full, an arbitrary entry makes room.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]*authToken
}

const (
	tokenCacheEntries = 4096
	// maxCachedToken keeps the cache's memory bounded (about 16 MiB of keys).
	maxCachedToken = 4 << 10
)

func (tc *tokenCache) get(raw []byte) *authToken {
	tc.mu.RLock()
	at := tc.m[string(raw)] // no allocation: the compiler converts in place
	tc.mu.RUnlock()
	return at
}

func (tc *tokenCache) put(raw string, at *authToken) {
	if len(raw) > maxCachedToken {
		return
	}
	tc.mu.Lock()
	if tc.m == nil {
		tc.m = make(map[string]*authToken)
	}
	if len(tc.m) >= tokenCacheEntries {
		for k := range tc.m {
			delete(tc.m, k)
			break
		}
	}
	tc.m[raw] = at
	tc.mu.Unlock()
}

// authError is a failed authentication: the status and message to answer.
type authError struct {
	status int
	msg    string
}

// authenticate verifies raw (signature, key, algorithm, window, revocation
// of the token and its ancestors) and returns its prepared form.
func (s *Server) authenticate(raw []byte) (*authToken, *authError) {
	if len(raw) == 0 {
		return nil, &authError{401, "missing token: send Authorization: Bearer <token> or ?key=<token>"}
	}
	at := s.tokens.get(raw)
	if at == nil {
		c, err := s.signer.Verify(string(raw))
		if err != nil {
			return nil, &authError{401, err.Error()}
		}
		if at, err = s.prepare(c); err != nil {
			return nil, &authError{401, err.Error()}
		}
		s.tokens.put(string(raw), at)
	} else if err := at.c.CheckWindow(time.Now()); err != nil {
		return nil, &authError{401, err.Error()}
	}
	if s.revoked.IsRevoked(at.c) {
		return nil, &authError{401, "token revoked: it, or a token it was issued from, has been revoked"}
	}
	return at, nil
}

// caller authenticates the request's token, writing the error on failure.
func (s *Server) caller(ctx *fasthttp.RequestCtx) *authToken {
	at, ae := s.authenticate(bearerBytes(ctx))
	if ae != nil {
		writeError(ctx, ae.status, errUnauthorized, ae.msg)
		return nil
	}
	return at
}

// admit checks, on the hot path of a run, that at is still valid and within
// its rate limits in container. what names the token in messages ("token",
// or the webtask's token when the caller sent none). It writes the error and
// returns false on failure.
func (s *Server) admit(ctx *fasthttp.RequestCtx, at *authToken, container, what string) bool {
	if what != "" { // the caller's token was checked by authenticate
		if err := at.c.CheckWindow(time.Now()); err != nil {
			writeError(ctx, 401, errUnauthorized, what+": "+err.Error())
			return false
		}
		if s.revoked.IsRevoked(at.c) {
			writeError(ctx, 401, errUnauthorized, what+": the token it was created with has been revoked")
			return false
		}
	}
	if !at.limited {
		return true
	}
	if d, ok := s.limiter.Allow(at.c, container); !ok {
		writeError(ctx, 429, errRateLimited, d.Message())
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(int64(d.RetryAfter/time.Second), 10))
		return false
	}
	return true
}

// bearerBytes returns the request's token without copying: the bearer
// credential of the Authorization header, else the ?key= parameter.
func bearerBytes(ctx *fasthttp.RequestCtx) []byte {
	if h := ctx.Request.Header.Peek("Authorization"); len(h) > 7 && bytes.EqualFold(h[:7], []byte("bearer ")) {
		return bytes.TrimSpace(h[7:])
	}
	return ctx.QueryArgs().Peek("key")
}

// tokenStatus maps a token package error to an HTTP status and error id.
func tokenStatus(err error) (int, string) {
	switch {
	case errors.Is(err, token.ErrMalformed):
		return 400, errBadRequest
	case errors.Is(err, token.ErrTooWide):
		return 403, errForbidden
	case errors.Is(err, token.ErrInvalid), errors.Is(err, token.ErrRevoked):
		return 401, errUnauthorized
	}
	return 500, errInternal
}
