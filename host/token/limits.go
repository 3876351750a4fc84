package token

import (
	"fmt"
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
