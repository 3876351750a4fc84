package editor

import "errors"

// Kinds of failure of Serve, matched with errors.Is; the server's error
// table (host/api/errors.go) turns them into its JSON errors.
var (
	// ErrNotFound: no page or asset at the path.
	ErrNotFound = errors.New("editor: not found")
	// ErrMethod: the editor serves GET and HEAD only.
	ErrMethod = errors.New("editor: method not allowed")
)

// pathError is a failure of kind with a message for the user.
type pathError struct {
	kind error
	msg  string
}

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Unwrap() error { return e.kind }
