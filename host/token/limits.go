package token

import (
	"fmt"
	"slices"
	"time"
)

// Period is the window of a rate limit.
type Period uint8

// Rate-limit periods, in claim order (ls lm lh ld lw lo).
const (
	Second Period = iota
	Minute
	Hour
	Day
	Week
	Month
	numPeriods
)

// MaxLimit is the largest rate limit a claim may hold.
const MaxLimit = 1_000_000_000

var periodNames = [numPeriods]string{"second", "minute", "hour", "day", "week", "month"}

// String returns "second", "minute", ….
func (p Period) String() string {
	if p < numPeriods {
		return periodNames[p]
	}
	return "period"
}

// Window returns the fixed window of p that contains now: [start, end).
// Windows are aligned in UTC: seconds, minutes, hours and days on their
// boundaries, weeks on Mondays, months on the first of the month.
func (p Period) Window(now time.Time) (start, end time.Time) {
	now = now.UTC()
	switch p {
	case Second:
		start = now.Truncate(time.Second)
		return start, start.Add(time.Second)
	case Minute:
		start = now.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case Hour:
		start = now.Truncate(time.Hour)
		return start, start.Add(time.Hour)
	case Day:
		start = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case Week:
		d := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		start = d.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7)
	default: // Month
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}

// Limits are the six rate limits of one scope, indexed by Period; 0 means
// no limit.
type Limits [numPeriods]int64

// Zero reports whether no limit is set.
func (l Limits) Zero() bool { return l == Limits{} }

// ContainerLimits returns the container limits (ls lm lh ld lw lo).
func (c *Claims) ContainerLimits() Limits {
	return Limits{c.LimitSecond, c.LimitMinute, c.LimitHour, c.LimitDay, c.LimitWeek, c.LimitMonth}
}

// TokenLimits returns the token limits (lts ltm lth ltd ltw lto).
func (c *Claims) TokenLimits() Limits {
	return Limits{c.TokenLimitSecond, c.TokenLimitMinute, c.TokenLimitHour, c.TokenLimitDay, c.TokenLimitWeek, c.TokenLimitMonth}
}

func (c *Claims) setContainerLimits(l Limits) {
	c.LimitSecond, c.LimitMinute, c.LimitHour, c.LimitDay, c.LimitWeek, c.LimitMonth = l[0], l[1], l[2], l[3], l[4], l[5]
}

func (c *Claims) setTokenLimits(l Limits) {
	c.TokenLimitSecond, c.TokenLimitMinute, c.TokenLimitHour, c.TokenLimitDay, c.TokenLimitWeek, c.TokenLimitMonth = l[0], l[1], l[2], l[3], l[4], l[5]
}

// containerLimitClaims and tokenLimitClaims name the claims, by Period.
var (
	containerLimitClaims = [numPeriods]string{"ls", "lm", "lh", "ld", "lw", "lo"}
	tokenLimitClaims     = [numPeriods]string{"lts", "ltm", "lth", "ltd", "ltw", "lto"}
)

// LimitClaim names the claim of a container (token=false) or token limit.
func LimitClaim(p Period, token bool) string {
	if token {
		return tokenLimitClaims[p]
	}
	return containerLimitClaims[p]
}

// checkLimits validates requested limits: each between 0 and MaxLimit.
func checkLimits(l Limits, token bool) error {
	for p, v := range l {
		if v < 0 || v > MaxLimit {
			return fmt.Errorf("%w: %s must be between 0 (no limit) and %d requests per %s", ErrMalformed,
				LimitClaim(Period(p), token), MaxLimit, Period(p))
		}
	}
	return nil
}

// narrowLimits returns the child's limits: each inherited from the parent
// when the request leaves it 0, and never above the parent's.
func narrowLimits(parent, req Limits, token bool) (Limits, error) {
	out := parent
	for p := range req {
		if req[p] == 0 {
			continue
		}
		if parent[p] != 0 && req[p] > parent[p] {
			return out, fmt.Errorf("%w: %s: %d requests per %s is more than the parent token's limit", ErrTooWide,
				LimitClaim(Period(p), token), req[p], Period(p))
		}
		out[p] = req[p]
	}
	return out, nil
}

// AncestorLimit is one entry of the "cal" claim: the token limits (lts …
// lto) an ancestor of the token set itself, keyed by the ancestor's jti.
//
// Token limits hold across a token's descendants: a use of a token counts
// against its own token limits and against every entry of its "cal", each
// on the counter of the token that set it. A child inherits its parent's
// limits as the parent's, not as a fresh allowance of its own: five children
// of an lts=2 token make two requests per second between them, not ten.
type AncestorLimit struct {
	ID     string `json:"jti"`
	Second int64  `json:"lts,omitempty"`
	Minute int64  `json:"ltm,omitempty"`
	Hour   int64  `json:"lth,omitempty"`
	Day    int64  `json:"ltd,omitempty"`
	Week   int64  `json:"ltw,omitempty"`
	Month  int64  `json:"lto,omitempty"`
}

// Limits returns the entry's limits, indexed by Period.
func (a *AncestorLimit) Limits() Limits {
	return Limits{a.Second, a.Minute, a.Hour, a.Day, a.Week, a.Month}
}

func ancestorLimit(id string, l Limits) AncestorLimit {
	return AncestorLimit{ID: id, Second: l[0], Minute: l[1], Hour: l[2], Day: l[3], Week: l[4], Month: l[5]}
}

// OwnTokenLimits returns the token limits c adds to those of its ancestors:
// each of its token limits that is tighter than every ancestor's limit of
// the same period. A limit inherited unchanged is not c's own: the
// ancestor's counter, which counts c's uses too, already enforces it. A
// token issued before "cal" existed has no ancestor entries, so all its
// token limits are its own (its own counter, as before).
func (c *Claims) OwnTokenLimits() Limits {
	own := c.TokenLimits()
	if len(c.AncestorLimits) == 0 {
		return own
	}
	for p := range own {
		if own[p] == 0 {
			continue
		}
		for i := range c.AncestorLimits {
			if a := c.AncestorLimits[i].Limits()[p]; a != 0 && a <= own[p] {
				own[p] = 0
				break
			}
		}
	}
	return own
}

// inheritAncestorLimits returns the "cal" of a child of parent: the
// parent's entries and, when the parent set token limits of its own, an
// entry for the parent. At most one entry per ancestor.
func inheritAncestorLimits(parent *Claims) []AncestorLimit {
	own := parent.OwnTokenLimits()
	if own.Zero() {
		return slices.Clone(parent.AncestorLimits)
	}
	out := make([]AncestorLimit, 0, len(parent.AncestorLimits)+1)
	return append(append(out, parent.AncestorLimits...), ancestorLimit(parent.ID, own))
}
