// Package token issues, verifies, narrows and revokes webtask tokens: JWTs
// signed with HS256 under a key id ("kid") from the server's key set,
// carrying the claims of the original Webtask platform (see Claims).
//
// Verification pins the algorithm to HS256, requires a known kid, and checks
// the validity window; "none", RSA/ECDSA and algorithm confusion are refused
// by construction. Issuing (Signer.Issue, Derive) only ever narrows: a child
// token is never wider than its parent on any axis. Secrets ("ectx") are
// sealed with the server's AES-GCM key. Revocations and Limiter keep the
// revoked set and the rate-limit counters in memory, backed by a store.KV.
package token

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wasmtask/wasmtask/host/keys"
)

// Claims are the claims of a webtask token. Field names follow the original
// platform (BRIEF.md, "Webtask token").
type Claims struct {
	// ID is the token id ("jti"), hex.
	ID string `json:"jti"`
	// IssuedAt ("iat"), NotBefore ("nbf") and ExpiresAt ("exp") are Unix seconds; 0 means unset.
	IssuedAt  int64 `json:"iat,omitempty"`
	NotBefore int64 `json:"nbf,omitempty"`
	ExpiresAt int64 `json:"exp,omitempty"`
	// Ancestors ("ca") are the ids of the tokens that issued this one, root first.
	Ancestors []string `json:"ca,omitempty"`
	// AncestorLimits ("cal") are the token limits the ancestors set
	// themselves, by jti, root first: a use of this token counts against
	// each of them too, so an ancestor's limit holds across all its
	// descendants together (see Limiter). Set by the server.
	AncestorLimits []AncestorLimit `json:"cal,omitempty"`
	// Depth ("dd") is how many more levels of tokens this token may issue.
	Depth int `json:"dd"`
	// Containers ("ten") restricts the containers: "" (any), a name, a comma
	// list "a,b", or a regular expression "/^wt-x-[0-9]$/".
	Containers string `json:"ten,omitempty"`
	// WebtaskName ("jtn") names the webtask this token runs.
	WebtaskName string `json:"jtn,omitempty"`
	// URL and Code fix the code the token runs; mutually exclusive.
	URL  string `json:"url,omitempty"`
	Code string `json:"code,omitempty"`
	// EncryptedContext ("ectx") is the sealed secrets, base64; never clear text.
	EncryptedContext string `json:"ectx,omitempty"`
	// PublicContext ("pctx") is public parameters.
	PublicContext map[string]string `json:"pctx,omitempty"`
	// ParseBody ("pb") and MergeBody ("mb") control body handling (0 or 1).
	ParseBody int `json:"pb,omitempty"`
	MergeBody int `json:"mb,omitempty"`
	// DenyRevokeSelf ("dr") = 1 forbids the token to revoke itself.
	DenyRevokeSelf int `json:"dr,omitempty"`
	// Meta is string metadata (with jtn).
	Meta map[string]string `json:"meta,omitempty"`
	// Container rate limits per second/minute/hour/day/week/month.
	LimitSecond int64 `json:"ls,omitempty"`
	LimitMinute int64 `json:"lm,omitempty"`
	LimitHour   int64 `json:"lh,omitempty"`
	LimitDay    int64 `json:"ld,omitempty"`
	LimitWeek   int64 `json:"lw,omitempty"`
	LimitMonth  int64 `json:"lo,omitempty"`
	// Token rate limits per second/minute/hour/day/week/month.
	TokenLimitSecond int64 `json:"lts,omitempty"`
	TokenLimitMinute int64 `json:"ltm,omitempty"`
	TokenLimitHour   int64 `json:"lth,omitempty"`
	TokenLimitDay    int64 `json:"ltd,omitempty"`
	TokenLimitWeek   int64 `json:"ltw,omitempty"`
	TokenLimitMonth  int64 `json:"lto,omitempty"`
}

// The jwt.Claims methods; the window itself is checked in Verify with the
// package's own messages.

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return numeric(c.ExpiresAt), nil }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return numeric(c.IssuedAt), nil }

// GetNotBefore implements jwt.Claims.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return numeric(c.NotBefore), nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return "", nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return "", nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) { return nil, nil }

func numeric(s int64) *jwt.NumericDate {
	if s == 0 {
		return nil
	}
	return jwt.NewNumericDate(time.Unix(s, 0))
}

// AllowsContainer reports whether the token may act on container. A "ten"
// that does not parse allows nothing.
func (c *Claims) AllowsContainer(container string) bool {
	ten, err := ParseContainers(c.Containers)
	return err == nil && ten.Allows(container)
}

// IsAdmin reports whether the token is unrestricted: any container, any code.
func (c *Claims) IsAdmin() bool {
	return c.Containers == "" && !c.FixesCode()
}

// IsRoot reports whether the token is an admin token nobody issued: the
// server's master token.
func (c *Claims) IsRoot() bool { return c.IsAdmin() && len(c.Ancestors) == 0 }

// FixesCode reports whether the token restricts the code it runs (url,
// code or jtn). Such a token runs code; it cannot manage webtasks.
func (c *Claims) FixesCode() bool { return c.URL != "" || c.Code != "" || c.WebtaskName != "" }

// HasAncestor reports whether jti issued this token, directly or not.
func (c *Claims) HasAncestor(jti string) bool {
	for _, a := range c.Ancestors {
		if a == jti {
			return true
		}
	}
	return false
}

// HasLimits reports whether any rate limit applies to a use of the token:
// its own or an ancestor's.
func (c *Claims) HasLimits() bool {
	return len(c.AncestorLimits) > 0 || !c.ContainerLimits().Zero() || !c.TokenLimits().Zero()
}

// CheckWindow checks nbf and exp against now. Errors wrap ErrInvalid.
func (c *Claims) CheckWindow(now time.Time) error {
	t := now.Unix()
	if c.ExpiresAt != 0 && t >= c.ExpiresAt {
		return fmt.Errorf("%w: token expired at %s", ErrInvalid, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	if c.NotBefore != 0 && t < c.NotBefore {
		return fmt.Errorf("%w: token not valid before %s", ErrInvalid, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// Signer signs and verifies tokens with the server's keys.
type Signer struct {
	keys   *keys.Keys
	parser *jwt.Parser
	now    func() time.Time
}

// NewSigner returns a signer over k.
func NewSigner(k *keys.Keys) *Signer {
	return &Signer{
		keys:   k,
		parser: jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithoutClaimsValidation()),
		now:    time.Now,
	}
}

// NewID returns a fresh random token id.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Sign returns the signed token text for c, setting jti and iat when unset.
func (s *Signer) Sign(c *Claims) (string, error) {
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.IssuedAt == 0 {
		c.IssuedAt = s.now().Unix()
	}
	cur := s.keys.Current()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = cur.ID
	// No "typ": the original platform's tokens carry none, and its client
	// library (sandboxjs) takes a token whose header says "JWT" for an
	// OpenID access token and refuses every token command with it.
	delete(t.Header, "typ")
	out, err := t.SignedString(cur.Key)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return out, nil
}

// MaxTokenBytes is the longest token Verify accepts.
const MaxTokenBytes = 16 << 10

// Verify checks the signature, algorithm, key id and validity window of raw
// and returns its claims. Every failure wraps ErrInvalid with a message fit
// for the caller: it never reveals key material or claims of other tokens.
// Revocation is not checked here (see Revocations).
func (s *Signer) Verify(raw string) (*Claims, error) {
	c, err := s.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := c.CheckWindow(s.now()); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse checks the signature, algorithm and key id of raw, but not its
// validity window: for inspecting and revoking tokens that may have expired.
func (s *Signer) Parse(raw string) (*Claims, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no token", ErrInvalid)
	}
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: token longer than %d bytes", ErrInvalid, MaxTokenBytes)
	}
	c := &Claims{}
	_, err := s.parser.ParseWithClaims(raw, c, s.keyFunc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, describe(err))
	}
	if c.ID == "" {
		return nil, fmt.Errorf("%w: token has no id (jti)", ErrInvalid)
	}
	// Bounds Issue never exceeds: they keep the per-request work on a
	// token (revocation of its chain, its limits) small, whatever was signed.
	if len(c.Ancestors) > MaxChain || len(c.AncestorLimits) > MaxChain {
		return nil, fmt.Errorf("%w: token has more than %d ancestors", ErrInvalid, MaxChain)
	}
	if c.Depth < 0 || c.Depth > MaxDepth {
		return nil, fmt.Errorf("%w: token delegation depth (dd) is out of range", ErrInvalid)
	}
	return c, nil
}

func (s *Signer) keyFunc(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKID
	}
	k, ok := s.keys.Lookup(kid)
	if !ok {
		return nil, errUnknownKID
	}
	return k, nil
}

var (
	errNoKID      = errors.New("token has no key id (kid)")
	errUnknownKID = errors.New("token signed with an unknown key id")
)

// describe turns a jwt error into a short message without internals.
func describe(err error) string {
	switch {
	case errors.Is(err, errNoKID):
		return errNoKID.Error()
	case errors.Is(err, errUnknownKID):
		return errUnknownKID.Error()
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return "token algorithm is not HS256"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "signature is invalid"
	}
	return "token cannot be verified"
}
