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
//     container made with a token that carries such a limit, against the
//     limit of the token at hand: they cap a whole tenant. A child's limit
//     is the tightest of its chain and the counter is the container's, so
//     they hold across descendants by construction;
//   - token limits (lts ltm lth ltd ltw lto) count the requests made with a
//     token and with every token issued from it, on a counter keyed by the
//     jti of the token that set the limit. A request counts against the
//     token's own limits (Claims.OwnTokenLimits) and against each ancestor's
//     (the "cal" claim): O(depth) counters, no allocation once they exist.
//
// A request may be made as two tokens at once (AllowBoth: a jtn token and
// the token of the webtask it runs); the limits of both apply, and a counter
// both reach counts the request once. A refused request counts nothing.
//
// Counters live in memory. Flush writes the counters of the minute and
// longer windows to the store as one snapshot (namespace "ratelimit", one
// key, one write transaction), and OpenLimiter restores those whose window
// is still current. The server flushes every few seconds and on shutdown, so
// a restart forgets at most the last flush interval of counts (and the
// per-second counters, whose window is over by the time a server is back).
// One snapshot instead of a key per counter keeps the cost at one fsync per
// interval however many tenants are active.
//
// Safe for concurrent use.
type Limiter struct {
	kv  store.KV
	now func() time.Time

	mu    sync.Mutex
	c     map[counterKey]*counter
	epoch uint64 // one per Allow call: a counter reached twice counts once
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
	epoch uint64 // the last Allow call that counted this counter
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
	// Inherited is true for a token limit set by an ancestor of the token:
	// its descendants share it.
	Inherited bool
	// RetryAfter is the time until the window ends, at least one second.
	RetryAfter time.Duration
}

// Message describes the denial for the caller.
func (d Denial) Message() string {
	scope := "this container"
	switch {
	case d.Inherited:
		scope = "a token this one was issued from, shared by every token issued from it"
	case d.Token:
		scope = "this token"
	}
	return fmt.Sprintf("rate limit exceeded: %d requests per %s for %s (claim %s); retry in %ds",
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
// container or token limit of c, or a token limit of one of its ancestors,
// would be exceeded. Tokens without limits cost nothing.
func (l *Limiter) Allow(c *Claims, container string) (Denial, bool) {
	return l.AllowBoth(c, nil, container)
}

// AllowBoth counts one request made as both a and b in container (either
// may be nil): a run of a named webtask with a jtn token is made as the
// caller's token and as the webtask's. The limits of both apply; a counter
// both reach (the container's, a common ancestor's) counts the request once.
func (l *Limiter) AllowBoth(a, b *Claims, container string) (Denial, bool) {
	if a != nil && !a.HasLimits() {
		a = nil
	}
	if b != nil && !b.HasLimits() {
		b = nil
	}
	if a == nil && b == nil {
		return Denial{}, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	var buf [16]*counter // the usual chains; a longer list grows on the heap
	hits := buf[:0]
	var d Denial
	ok := true
	for _, c := range [2]*Claims{a, b} {
		if c == nil {
			continue
		}
		if cl := c.ContainerLimits(); !cl.Zero() {
			if hits, d, ok = l.take(hits, now, cl, false, false, container); !ok {
				return d, false
			}
		}
		if own := c.OwnTokenLimits(); !own.Zero() {
			if hits, d, ok = l.take(hits, now, own, true, false, c.ID); !ok {
				return d, false
			}
		}
		for i := range c.AncestorLimits {
			al := &c.AncestorLimits[i]
			if hits, d, ok = l.take(hits, now, al.Limits(), true, true, al.ID); !ok {
				return d, false
			}
		}
	}
	for _, ctr := range hits {
		ctr.n++
	}
	l.dirty = true
	return Denial{}, true
}

// take checks limits (a token's or container's, by Period) on the counters
// of scope, and adds the counters not yet in hits to it; it refuses with the
// first limit spent. l.mu is held.
func (l *Limiter) take(hits []*counter, now time.Time, limits Limits, tok, inherited bool, scope string) ([]*counter, Denial, bool) {
	t := now.Unix()
	for p, limit := range limits {
		if limit == 0 {
			continue
		}
		k := counterKey{token: tok, scope: scope, period: Period(p)}
		ctr := l.c[k]
		if ctr == nil || t >= ctr.end {
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
			return hits, Denial{Claim: LimitClaim(Period(p), tok), Limit: limit, Period: Period(p), Token: tok,
				Inherited: inherited, RetryAfter: retry}, false
		}
		if ctr.epoch != l.epoch {
			ctr.epoch = l.epoch
			hits = append(hits, ctr)
		}
	}
	return hits, Denial{}, true
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
