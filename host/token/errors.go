package token

import "errors"

// Sentinel errors. Functions wrap them with a message fit for the caller (it
// names the offending claim and never reveals secrets or key material);
// match them with errors.Is. The HTTP API maps them to status codes.
var (
	// ErrInvalid: the token is malformed, badly signed, signed with an
	// unknown key, outside its validity window, or its encrypted context does
	// not open. HTTP 401.
	ErrInvalid = errors.New("invalid token")

	// ErrRevoked: the token, or one of its ancestors, was revoked. HTTP 401.
	ErrRevoked = errors.New("token revoked")

	// ErrMalformed: a claim of an issue request is malformed: wrong type,
	// out of range, an invalid regular expression, unknown claim. HTTP 400.
	ErrMalformed = errors.New("malformed claims")

	// ErrTooWide: an issue request asks for a token wider than its parent
	// on some axis, or the parent may not issue at all. HTTP 403.
	ErrTooWide = errors.New("wider than the parent token")
)
