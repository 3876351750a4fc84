package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// NamespaceRateLimit is the KV namespace of persisted rate-limit counters.
const NamespaceRateLimit = "ratelimit"

const counterSnapshotKey = "counters"

// Limiter counts requests against the rate limits of tokens, in fixed
// windows (see Period.Window):
//
//   - container limits (ls lm lh ld lw lo) count every request in the
//     container, whatever token it came with, against the limit of the
//     token at hand: they cap a whole tenant;
//   - token limits (lts ltm lth ltd ltw lto) count the requests made with
//     one token (by jti). A child has its own counter, never above its
//     parent's limit.
//
// Counters live in memory; a refused request counts nothing. Flush writes the
// counters of the minute and longer windows to the store as one snapshot
// (namespace "ratelimit", one key, one write transaction), and
// OpenLimiter restores those whose window is still current. The server
// flushes every few seconds and on shutdown, so a restart forgets at most the
// last flush interval of counts (and the per-second counters, whose window is
// over by the time a server is back). One snapshot instead of a key per
// counter keeps the cost at one fsync per interval however many tenants are
// active.
//
// Safe for concurrent use.
type Limiter struct {
	kv  store.KV
	now func() time.Time

	mu    sync.Mutex
	c     map[counterKey]*counter
	dirty bool
}

type counterKey struct {
	token  bool   // token limit (scope is a jti) or container limit (scope is a container)
	scope  string //
	period Period
}

type counter struct {
	start int64 // window start, Unix seconds
	end   int64 // window end, Unix seconds
	n     int64
}

// Denial says which limit refused a request.
type Denial struct {
	// Claim is the limit's claim, e.g. "ls" or "lth".
	Claim string
	// Limit is the claim's value, Period its window.
	Limit  int64
	Period Period
	// Token is true for a token limit, false for a container limit.
	Token bool
	// RetryAfter is the time until the window ends, at least one second.
	RetryAfter time.Duration
}

// Message describes the denial for the caller.
func (d Denial) Message() string {
	scope := "container"
	if d.Token {
		scope = "token"
	}
	return fmt.Sprintf("rate limit exceeded: %d requests per %s for this %s (claim %s); retry in %ds",
		d.Limit, d.Period, scope, d.Claim, int64(d.RetryAfter/time.Second))
}

// OpenLimiter creates a limiter and restores the counters kv holds for
// windows still current.
func OpenLimiter(kv store.KV, now func() time.Time) (*Limiter, error) {
	if now == nil {
		now = time.Now
	}
	l := &Limiter{kv: kv, now: now, c: map[counterKey]*counter{}}
	b, err := kv.KVGet(NamespaceRateLimit, counterSnapshotKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("token: load rate-limit counters: %w", err)
	}
	var snap []persistedCounter
	if json.Unmarshal(b, &snap) != nil {
		return l, nil // unreadable snapshot: start from zero rather than refuse to start
	}
	t := now()
	for _, p := range snap {
		if p.Period >= numPeriods {
			continue
		}
		start, end := p.Period.Window(t)
		if p.Start == start.Unix() && p.N > 0 {
			l.c[counterKey{token: p.Token, scope: p.Scope, period: p.Period}] = &counter{start: start.Unix(), end: end.Unix(), n: p.N}
		}
	}
	return l, nil
}

type persistedCounter struct {
	Token  bool   `json:"t,omitempty"`
	Scope  string `json:"s"`
	Period Period `json:"p"`
	Start  int64  `json:"w"`
	N      int64  `json:"n"`
}

// Allow counts one request made with c in container, or refuses it when a
// container or token limit of c would be exceeded. Tokens without limits
// cost nothing.
func (l *Limiter) Allow(c *Claims, container string) (Denial, bool) {
	cl, tl := c.ContainerLimits(), c.TokenLimits()
	if cl.Zero() && tl.Zero() {
		return Denial{}, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var hit [2 * numPeriods]*counter
	for i, tok := range [2]bool{false, true} {
		limits, scope := cl, container
		if tok {
			limits, scope = tl, c.ID
		}
		for p, limit := range limits {
			if limit == 0 {
				continue
			}
			k := counterKey{token: tok, scope: scope, period: Period(p)}
			ctr := l.c[k]
			if ctr == nil || now.Unix() >= ctr.end {
				start, end := Period(p).Window(now)
				if ctr == nil {
					ctr = &counter{}
					l.c[k] = ctr
				}
				ctr.start, ctr.end, ctr.n = start.Unix(), end.Unix(), 0
			}
			if ctr.n >= limit {
				retry := time.Unix(ctr.end, 0).Sub(now)
				retry = (retry + time.Second - 1).Truncate(time.Second)
				if retry < time.Second {
					retry = time.Second
				}
				return Denial{Claim: LimitClaim(Period(p), tok), Limit: limit, Period: Period(p), Token: tok, RetryAfter: retry}, false
			}
			hit[i*int(numPeriods)+p] = ctr
		}
	}
	for _, ctr := range hit {
		if ctr != nil {
			ctr.n++
		}
	}
	l.dirty = true
	return Denial{}, true
}

// Flush prunes counters of finished windows and, when anything changed
// since the last flush, writes the minute-and-longer counters to the store.
func (l *Limiter) Flush() error {
	now := l.now().Unix()
	l.mu.Lock()
	var snap []persistedCounter
	for k, ctr := range l.c {
		if now >= ctr.end {
			delete(l.c, k)
			continue
		}
		if k.period >= Minute && l.dirty {
			snap = append(snap, persistedCounter{Token: k.token, Scope: k.scope, Period: k.period, Start: ctr.start, N: ctr.n})
		}
	}
	dirty := l.dirty
	l.dirty = false
	l.mu.Unlock()
	if !dirty {
		return nil
	}
	if snap == nil {
		snap = []persistedCounter{}
	}
	b, _ := json.Marshal(snap)
	if err := l.kv.KVPut(NamespaceRateLimit, counterSnapshotKey, b); err != nil {
		l.mu.Lock()
		l.dirty = true
		l.mu.Unlock()
		return fmt.Errorf("token: save rate-limit counters: %w", err)
	}
	return nil
}

// Len returns how many counters are live (for tests).
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.c)
}
