package cron

import "errors"

// Sentinel errors: the kinds of failure a caller answers differently. The
// scheduler returns them wrapped in an *Error whose message is meant for the
// user; match with errors.Is. Errors of the store (store.ErrFull,
// store.ErrDamaged, …) pass through unchanged.
var (
	// ErrInvalid: a bad schedule, time zone or state.
	ErrInvalid = errors.New("invalid cron job")
	// ErrNotFound: no such job.
	ErrNotFound = errors.New("no such cron job")
	// ErrLimit: the container holds as many jobs as Config.MaxJobs allows.
	ErrLimit = errors.New("too many cron jobs")
)

// Error is a failure of one kind (a sentinel above) with the message a user
// reads. Unwrap returns the kind.
type Error struct {
	Kind error
	Msg  string
}

// Error returns the user's message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, msg string) error { return &Error{Kind: kind, Msg: msg} }
