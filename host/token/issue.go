package token

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what an issue request may ask for.
const (
	// MaxIssuedBytes is the longest token Issue produces. Tokens travel in
	// a header or the query string, so they must stay well under the
	// server's header limit.
	MaxIssuedBytes = 8 << 10
	// MaxCodeBytes is the largest module the "code" claim may carry inline
	// (decoded). Larger modules: upload them and use url "sha256:<hex>".
	MaxCodeBytes = 4 << 10
	// MaxChain is the longest ancestor chain ("ca").
	MaxChain = 32
	// MaxDepth is the largest delegation depth ("dd").
	MaxDepth = 64
	// MaxURLBytes is the longest "url".
	MaxURLBytes = 2048

	maxMapEntries = 64
	maxKeyBytes   = 128
	maxValueBytes = 4096
)

// URLPrefixSHA256 prefixes a "url" that names an uploaded module by its
// content hash instead of an address: "sha256:<64 hex digits>".
const URLPrefixSHA256 = "sha256:"

var webtaskName = containerName

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Request is the body of POST /api/tokens/issue: the claims the caller asks
// for. Zero fields mean "as the parent" (inherit); the server sets jti, iat
// and ca.
type Request struct {
	Depth            *int              `json:"dd"`
	Containers       string            `json:"ten"`
	WebtaskName      string            `json:"jtn"`
	URL              string            `json:"url"`
	Code             string            `json:"code"`
	EncryptedContext map[string]string `json:"ectx"` // clear text in the request
	PublicContext    map[string]string `json:"pctx"`
	ParseBody        *int              `json:"pb"`
	MergeBody        *int              `json:"mb"`
	NotBefore        int64             `json:"nbf"`
	ExpiresAt        int64             `json:"exp"`
	DenyRevokeSelf   int               `json:"dr"`
	Meta             map[string]string `json:"meta"`
	// Host is the original platform's custom-domain claim, which sandboxjs
	// sends when asked; accepted and ignored (this server has no custom
	// domains).
	Host string `json:"host"`

	LimitSecond      int64 `json:"ls"`
	LimitMinute      int64 `json:"lm"`
	LimitHour        int64 `json:"lh"`
	LimitDay         int64 `json:"ld"`
	LimitWeek        int64 `json:"lw"`
	LimitMonth       int64 `json:"lo"`
	TokenLimitSecond int64 `json:"lts"`
	TokenLimitMinute int64 `json:"ltm"`
	TokenLimitHour   int64 `json:"lth"`
	TokenLimitDay    int64 `json:"ltd"`
	TokenLimitWeek   int64 `json:"ltw"`
	TokenLimitMonth  int64 `json:"lto"`
}

func (r *Request) containerLimits() Limits {
	return Limits{r.LimitSecond, r.LimitMinute, r.LimitHour, r.LimitDay, r.LimitWeek, r.LimitMonth}
}

func (r *Request) tokenLimits() Limits {
	return Limits{r.TokenLimitSecond, r.TokenLimitMinute, r.TokenLimitHour, r.TokenLimitDay, r.TokenLimitWeek, r.TokenLimitMonth}
}

// serverClaims are set by the server, never by a request.
var serverClaims = []string{"jti", "iat", "ca", "cal"}

// ParseRequest decodes an issue request: one JSON object, strictly typed,
// unknown claims refused (a typo must not silently issue a wider token). An
// empty body is the empty request. Errors wrap ErrMalformed.
func ParseRequest(body []byte) (*Request, error) {
	req := &Request{}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("%w: the body must be one JSON object of claims", ErrMalformed)
	}
	for _, k := range serverClaims {
		if _, ok := probe[k]; ok {
			return nil, fmt.Errorf("%w: %s is set by the server", ErrMalformed, k)
		}
	}
	if numbersAsStrings(probe) {
		body, _ = json.Marshal(probe)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			field, _, _ := strings.Cut(te.Field, ".")
			want := typeName(te.Type.String())
			if field == "ectx" || field == "pctx" || field == "meta" {
				want = "an object of strings"
			}
			return nil, fmt.Errorf("%w: claim %s must be %s, not a JSON %s", ErrMalformed, field, want, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return nil, fmt.Errorf("%w: unknown claim %s", ErrMalformed, strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return nil, fmt.Errorf("%w: the body must be one JSON object of claims", ErrMalformed)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: the body must be one JSON object of claims", ErrMalformed)
	}
	return req, nil
}

// numericClaims are the integer claims, which clients (wt-cli) may send as
// JSON strings of digits ("lm": "600").
var numericClaims = []string{"dd", "pb", "mb", "nbf", "exp", "dr", "ls", "lm", "lh", "ld", "lw", "lo",
	"lts", "ltm", "lth", "ltd", "ltw", "lto"}

// numbersAsStrings turns the numeric claims given as strings of digits in
// probe into JSON numbers, reporting whether it changed any. Other strings
// stay, for the decoder to refuse with its usual message.
func numbersAsStrings(probe map[string]json.RawMessage) bool {
	changed := false
	for _, k := range numericClaims {
		v, ok := probe[k]
		if !ok || len(v) < 3 || v[0] != '"' {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) != nil {
			continue
		}
		if _, err := strconv.ParseInt(str, 10, 64); err == nil {
			probe[k] = json.RawMessage(str)
			changed = true
		}
	}
	return changed
}

func typeName(t string) string {
	switch {
	case strings.HasPrefix(t, "map["):
		return "an object of strings"
	case t == "string":
		return "a string"
	case strings.Contains(t, "int"):
		return "an integer"
	}
	return t
}

// Derive computes the claims of a child of parent from req, at now. parentCtx
// is the parent's decrypted ectx; the returned map is the child's (to be
// sealed). Every axis narrows or stays:
//
//   - dd: less than the parent's (default parent−1); a parent with dd 0
//     cannot issue.
//   - ten: within the parent's containers (default the parent's).
//   - jtn, url, code: a child of a code-fixed token runs the same code.
//   - ectx, pctx: inherited; a child may add keys, not change the parent's.
//     A token with ectx must fix its code and name exactly one container
//     (see checkSecretsScope).
//   - nbf, exp: within the parent's window (default the parent's).
//   - dr: inherited (a child of a token that may not revoke itself may not
//     either).
//   - limits: inherited; a child may lower them, not raise them. The
//     parent's token limits stay the parent's: the child carries them in
//     "cal" and its uses count against them (see AncestorLimit).
//
// pb, mb and meta are not restrictions: pb and mb default to the parent's,
// meta to none. Errors wrap ErrMalformed (400) or ErrTooWide (403) and name
// the claim.
func Derive(parent *Claims, parentCtx map[string]string, req *Request, now time.Time) (*Claims, map[string]string, error) {
	if parent.Depth <= 0 {
		return nil, nil, fmt.Errorf("%w: dd: this token has delegation depth 0 and cannot issue tokens", ErrTooWide)
	}
	dd := parent.Depth - 1
	if req.Depth != nil {
		switch {
		case *req.Depth < 0 || *req.Depth > MaxDepth:
			return nil, nil, fmt.Errorf("%w: dd must be between 0 and %d", ErrMalformed, MaxDepth)
		case *req.Depth >= parent.Depth:
			return nil, nil, fmt.Errorf("%w: dd: %d is not less than the parent token's delegation depth", ErrTooWide, *req.Depth)
		}
		dd = *req.Depth
	}
	return derive(parent, parentCtx, req, now, dd)
}

// DeriveWebtask computes the token a named webtask carries when the parent
// creates it: ten = container, jtn = name, dd 0, everything else narrowed
// from the parent as Derive does. Creating a webtask is a management right,
// not a delegation, so the parent's dd may be 0.
func DeriveWebtask(parent *Claims, parentCtx map[string]string, container, name string, params map[string]string, pb, mb int, meta map[string]string, now time.Time) (*Claims, map[string]string, error) {
	req := &Request{Containers: container, WebtaskName: name, PublicContext: params, ParseBody: &pb, MergeBody: &mb, Meta: meta}
	return derive(parent, parentCtx, req, now, 0)
}

func derive(parent *Claims, parentCtx map[string]string, req *Request, now time.Time, dd int) (*Claims, map[string]string, error) {
	if len(parent.Ancestors)+1 > MaxChain {
		return nil, nil, fmt.Errorf("%w: ca: the chain of ancestors would be longer than %d", ErrTooWide, MaxChain)
	}
	c := &Claims{ID: NewID(), IssuedAt: now.Unix(), Depth: dd}
	c.Ancestors = append(append(make([]string, 0, len(parent.Ancestors)+1), parent.Ancestors...), parent.ID)
	c.AncestorLimits = inheritAncestorLimits(parent)

	// ten
	pten, err := ParseContainers(parent.Containers)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the parent token's ten does not parse", ErrInvalid)
	}
	c.Containers = parent.Containers
	if req.Containers != "" {
		cten, err := ParseContainers(req.Containers)
		if err != nil {
			return nil, nil, err
		}
		if err := narrowerTen(parent.Containers, pten, req.Containers, cten); err != nil {
			return nil, nil, err
		}
		c.Containers = req.Containers
	}

	// jtn, url, code
	if err := checkCode(req); err != nil {
		return nil, nil, err
	}
	switch {
	case parent.WebtaskName != "":
		if req.URL != "" || req.Code != "" {
			return nil, nil, fmt.Errorf("%w: %s: the parent token runs one named webtask; a child cannot run other code", ErrTooWide, codeClaim(req))
		}
		if req.WebtaskName != "" && req.WebtaskName != parent.WebtaskName {
			return nil, nil, fmt.Errorf("%w: jtn: a child runs the same webtask as its parent", ErrTooWide)
		}
	case parent.URL != "" || parent.Code != "":
		if req.WebtaskName != "" {
			return nil, nil, fmt.Errorf("%w: jtn: the parent token fixes its code; a child cannot name a webtask instead", ErrTooWide)
		}
		if (req.URL != "" && req.URL != parent.URL) || (req.Code != "" && normalCode(req.Code) != parent.Code) {
			return nil, nil, fmt.Errorf("%w: %s: the parent token fixes its code; a child runs the same code", ErrTooWide, codeClaim(req))
		}
	}
	c.WebtaskName, c.URL, c.Code = parent.WebtaskName, parent.URL, parent.Code
	if !parent.FixesCode() {
		c.WebtaskName, c.URL = req.WebtaskName, req.URL
		if req.Code != "" {
			c.Code = normalCode(req.Code)
		}
	}

	// ectx, pctx
	secrets, err := narrowContext("ectx", parentCtx, req.EncryptedContext)
	if err != nil {
		return nil, nil, err
	}
	if len(secrets) > 0 {
		if err := checkSecretsScope(c); err != nil {
			return nil, nil, err
		}
	}
	if c.PublicContext, err = narrowContext("pctx", parent.PublicContext, req.PublicContext); err != nil {
		return nil, nil, err
	}

	// pb, mb
	c.ParseBody, c.MergeBody = parent.ParseBody, parent.MergeBody
	for _, f := range []struct {
		claim string
		v     *int
		dst   *int
	}{{"pb", req.ParseBody, &c.ParseBody}, {"mb", req.MergeBody, &c.MergeBody}} {
		if f.v == nil {
			continue
		}
		if *f.v != 0 && *f.v != 1 {
			return nil, nil, fmt.Errorf("%w: %s must be 0 or 1", ErrMalformed, f.claim)
		}
		*f.dst = *f.v
	}

	// nbf, exp
	c.NotBefore, c.ExpiresAt = parent.NotBefore, parent.ExpiresAt
	if req.ExpiresAt != 0 {
		switch {
		case req.ExpiresAt < 0:
			return nil, nil, fmt.Errorf("%w: exp must be a Unix time in seconds", ErrMalformed)
		case req.ExpiresAt <= now.Unix():
			return nil, nil, fmt.Errorf("%w: exp is in the past", ErrMalformed)
		case parent.ExpiresAt != 0 && req.ExpiresAt > parent.ExpiresAt:
			return nil, nil, fmt.Errorf("%w: exp: the child would expire after its parent", ErrTooWide)
		}
		c.ExpiresAt = req.ExpiresAt
	}
	if req.NotBefore != 0 {
		switch {
		case req.NotBefore < 0:
			return nil, nil, fmt.Errorf("%w: nbf must be a Unix time in seconds", ErrMalformed)
		case req.NotBefore < parent.NotBefore:
			return nil, nil, fmt.Errorf("%w: nbf: the child would be valid before its parent", ErrTooWide)
		}
		c.NotBefore = req.NotBefore
	}
	if c.ExpiresAt != 0 && c.NotBefore >= c.ExpiresAt {
		return nil, nil, fmt.Errorf("%w: nbf must be before exp", ErrMalformed)
	}

	// dr
	if req.DenyRevokeSelf != 0 && req.DenyRevokeSelf != 1 {
		return nil, nil, fmt.Errorf("%w: dr must be 0 or 1", ErrMalformed)
	}
	c.DenyRevokeSelf = parent.DenyRevokeSelf | req.DenyRevokeSelf

	// meta
	if err := checkMap("meta", req.Meta, 1024); err != nil {
		return nil, nil, err
	}
	if len(req.Meta) > 0 {
		c.Meta = maps.Clone(req.Meta)
	}

	// limits
	for _, tok := range []bool{false, true} {
		r, p := req.containerLimits(), parent.ContainerLimits()
		if tok {
			r, p = req.tokenLimits(), parent.TokenLimits()
		}
		if err := checkLimits(r, tok); err != nil {
			return nil, nil, err
		}
		l, err := narrowLimits(p, r, tok)
		if err != nil {
			return nil, nil, err
		}
		if tok {
			c.setTokenLimits(l)
		} else {
			c.setContainerLimits(l)
		}
	}
	return c, secrets, nil
}

// checkSecretsScope checks where the secrets of a token with ectx can go.
// They reach the code the token runs, in the container of the run, so:
//
//   - the code must be fixed (url, code or jtn): without it the holder could
//     run code that prints the secrets;
//   - the token must name exactly one container, by name: not a list, not a
//     /regex/, not every container. A "jtn" names a webtask by name in the
//     container of the run, and each container's tenant decides what its
//     webtask of that name is and reads its logs: with "ten":"acme,mallory"
//     the secrets meant for acme/job would go to mallory/job. Even fixed code
//     run in another container writes its logs and storage there.
//
// A token issued from one with ectx inherits both its code and its
// container, so the rule holds down the chain. Errors wrap ErrMalformed.
func checkSecretsScope(c *Claims) error {
	if !c.FixesCode() {
		return fmt.Errorf("%w: ectx needs url, code or jtn: without fixed code the token holder could run code that reads the secrets", ErrMalformed)
	}
	ten, err := ParseContainers(c.Containers)
	if _, one := ten.Single(); err != nil || !one {
		return fmt.Errorf("%w: ectx needs ten naming exactly one container (not a list, a /regex/ or every container): the secrets may reach only that container's code; issue one token per container", ErrMalformed)
	}
	return nil
}

func codeClaim(req *Request) string {
	if req.Code != "" {
		return "code"
	}
	return "url"
}

// checkCode validates the jtn, url and code claims of a request on their own.
func checkCode(req *Request) error {
	n := 0
	for _, v := range []string{req.WebtaskName, req.URL, req.Code} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%w: jtn, url and code are mutually exclusive", ErrMalformed)
	}
	if req.WebtaskName != "" && !webtaskName.MatchString(req.WebtaskName) {
		return fmt.Errorf("%w: jtn: %q is not a webtask name", ErrMalformed, req.WebtaskName)
	}
	if req.URL != "" {
		if _, err := ParseURL(req.URL); err != nil {
			return err
		}
	}
	if req.Code != "" {
		if _, _, err := DecodeCode(req.Code); err != nil {
			return err
		}
	}
	return nil
}

// ParseURL validates a "url" claim: "sha256:<hex>" (a module uploaded to
// this server) or an absolute http or https URL without credentials. It
// returns nil for a sha256 reference. Errors wrap ErrMalformed.
func ParseURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLBytes {
		return nil, fmt.Errorf("%w: url longer than %d bytes", ErrMalformed, MaxURLBytes)
	}
	if hexSum, ok := strings.CutPrefix(raw, URLPrefixSHA256); ok {
		if !isSHA256Hex(hexSum) {
			return nil, fmt.Errorf("%w: url: sha256: must be followed by 64 lower-case hex digits", ErrMalformed)
		}
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: url does not parse", ErrMalformed)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: url: only http, https and sha256: are allowed", ErrMalformed)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: url has no host", ErrMalformed)
	case u.User != nil:
		return nil, fmt.Errorf("%w: url must not carry credentials", ErrMalformed)
	}
	return u, nil
}

// SHA256Ref returns the module hash of a "url" of the form sha256:<hex>.
func SHA256Ref(rawURL string) (string, bool) {
	h, ok := strings.CutPrefix(rawURL, URLPrefixSHA256)
	return h, ok && isSHA256Hex(h)
}

// DecodeCode decodes a "code" claim: a Wasm module in base64 (standard or
// URL alphabet, padded or not), or else JavaScript source as text (as the
// original platform's code claim, which wt-cli fills with the webtask's
// code); js says which. Either is at most MaxCodeBytes. The JavaScript is
// checked when it first runs, not here. Errors wrap ErrMalformed.
func DecodeCode(code string) (b []byte, js bool, err error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if wasm, err := enc.DecodeString(code); err == nil && bytes.HasPrefix(wasm, []byte("\x00asm")) {
			if len(wasm) > MaxCodeBytes {
				return nil, false, fmt.Errorf("%w: code: a module of %d bytes is too large to inline (limit %d); upload it and use url \"sha256:<hex>\"", ErrMalformed, len(wasm), MaxCodeBytes)
			}
			return wasm, false, nil
		}
	}
	switch {
	case len(code) > MaxCodeBytes:
		return nil, true, fmt.Errorf("%w: code: JavaScript of %d bytes is too large to inline (limit %d); upload it as a webtask", ErrMalformed, len(code), MaxCodeBytes)
	case !utf8.ValidString(code) || strings.IndexByte(code, 0) >= 0:
		return nil, true, fmt.Errorf("%w: code must be a base64 Wasm module or JavaScript text", ErrMalformed)
	}
	return []byte(code), true, nil
}

// normalCode re-encodes a valid Wasm code claim in standard padded
// base64, so equal modules compare equal; JavaScript stays as written.
func normalCode(code string) string {
	wasm, js, err := DecodeCode(code)
	if err != nil || js {
		return code
	}
	return base64.StdEncoding.EncodeToString(wasm)
}

// CodeSHA256 returns the bytes of a valid "code" claim (a module, or
// JavaScript source when js), and their hash.
func CodeSHA256(code string) (b []byte, sha string, js bool, err error) {
	b, js, err = DecodeCode(code)
	if err != nil {
		return nil, "", js, err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:]), js, nil
}

// narrowContext merges a request's ectx or pctx over the parent's: new keys
// are added, keys of the parent must keep their value.
func narrowContext(claim string, parent, req map[string]string) (map[string]string, error) {
	if err := checkMap(claim, req, maxValueBytes); err != nil {
		return nil, err
	}
	if len(parent) == 0 && len(req) == 0 {
		return nil, nil
	}
	out := maps.Clone(parent)
	if out == nil {
		out = make(map[string]string, len(req))
	}
	for k, v := range req {
		if pv, ok := parent[k]; ok && pv != v {
			// Do not name the key: ectx keys are the parent's business.
			return nil, fmt.Errorf("%w: %s: a child may add keys but not change the values its parent fixes", ErrTooWide, claim)
		}
		out[k] = v
	}
	if len(out) > maxMapEntries {
		return nil, fmt.Errorf("%w: %s: at most %d keys", ErrMalformed, claim, maxMapEntries)
	}
	return out, nil
}

// checkMap validates a map claim: bounded size, non-empty keys, no NUL (the
// ABI's map encoding cannot carry it).
func checkMap(claim string, m map[string]string, maxValue int) error {
	if len(m) > maxMapEntries {
		return fmt.Errorf("%w: %s: at most %d keys", ErrMalformed, claim, maxMapEntries)
	}
	for k, v := range m {
		switch {
		case k == "" || len(k) > maxKeyBytes:
			return fmt.Errorf("%w: %s: keys must be 1 to %d bytes", ErrMalformed, claim, maxKeyBytes)
		case len(v) > maxValue:
			return fmt.Errorf("%w: %s: values must be at most %d bytes", ErrMalformed, claim, maxValue)
		case strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0):
			return fmt.Errorf("%w: %s: keys and values must not contain NUL", ErrMalformed, claim)
		}
	}
	return nil
}

// Issue derives a child of parent from req (see Derive), seals its ectx and
// signs it. It returns the token text and its claims.
func (s *Signer) Issue(parent *Claims, req *Request) (string, *Claims, error) {
	pctx, err := s.OpenContext(parent)
	if err != nil {
		return "", nil, err
	}
	c, secrets, err := Derive(parent, pctx, req, s.now())
	if err != nil {
		return "", nil, err
	}
	return s.finish(c, secrets)
}

// IssueWebtask derives and signs the token a named webtask carries (see
// DeriveWebtask). codeRef, when set, is the url claim too ("sha256:<hex>"
// of the webtask's code): a jtn token runs its named webtask whatever its
// url says, but the original platform's named-webtask tokens carried a
// url, and sandboxjs (createCronJob, so wt cron create) parses it.
func (s *Signer) IssueWebtask(parent *Claims, container, name, codeRef string, params map[string]string, pb, mb int, meta map[string]string) (string, *Claims, error) {
	pctx, err := s.OpenContext(parent)
	if err != nil {
		return "", nil, err
	}
	c, secrets, err := DeriveWebtask(parent, pctx, container, name, params, pb, mb, meta, s.now())
	if err != nil {
		return "", nil, err
	}
	if codeRef != "" {
		if _, ok := SHA256Ref(codeRef); !ok {
			return "", nil, fmt.Errorf("%w: a webtask's url must be sha256:<hex>, not %q", ErrMalformed, codeRef)
		}
		c.URL = codeRef
	}
	return s.finish(c, secrets)
}

func (s *Signer) finish(c *Claims, secrets map[string]string) (string, *Claims, error) {
	s.sealContext(c, secrets)
	raw, err := s.Sign(c)
	if err != nil {
		return "", nil, err
	}
	if len(raw) > MaxIssuedBytes {
		return "", nil, fmt.Errorf("%w: the token would be %d bytes, more than the %d a token may have; carry less in code, ectx, pctx or meta", ErrMalformed, len(raw), MaxIssuedBytes)
	}
	return raw, c, nil
}
