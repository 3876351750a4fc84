package metrics

import "github.com/prometheus/client_golang/prometheus"

// Policies index the per-policy arrays of EngineStats.
const (
	PolicyPool  = 0 // instances reused between requests
	PolicyFresh = 1 // nothing survives a request
)

var policyNames = [2]string{"pool", "fresh"}

// EngineStats is what the engine counts (engine.Engine.Stats, whose
// fields it mirrors so that one converts to the other), read once per
// scrape. Arrays are by policy (PolicyPool, PolicyFresh).
type EngineStats struct {
	// Live is the instances that exist now, busy or idle; Idle those
	// waiting in a pool for a request.
	Live, Idle [2]int64
	// Instantiations counts instances created; Reuses requests served by
	// an idle instance; Resets used fresh instances restored to their
	// snapshot instead of being replaced.
	Instantiations, Reuses [2]int64
	Resets                 int64
	// MemoryHits and MemoryMisses count loads of a compiled module found
	// in memory or not; DiskHits and DiskMisses the compiles that found
	// wazero's compiled code in the on-disk cache or not.
	MemoryHits, MemoryMisses, DiskHits, DiskMisses int64
	// Interpreting is the modules served by wazero's interpreter now,
	// while the compiler compiles them in the background.
	Interpreting int64
}

// RegistryStats is what the registry counts (deploy.Registry.Stats).
type RegistryStats struct {
	// TokenVerified and TokenInvalid count token signatures checked, by
	// result; TokenCacheHits tokens found already verified.
	TokenVerified, TokenInvalid, TokenCacheHits int64
	// RateLimited counts requests refused by a token's rate limit.
	RateLimited int64
	// StorageGets, StorageSets and StorageConflicts count webtask storage
	// reads, writes and writes refused for a stale etag (from the API and
	// from guests).
	StorageGets, StorageSets, StorageConflicts int64
}

// CronStats is what the cron scheduler counts (cron.Scheduler.Stats):
// runs recorded, by result.
type CronStats struct {
	Success, Error, Missed int64
}

// AuthStats is what the declared-auth checker counts (auth.Checker.Stats,
// whose fields it mirrors): checks by middleware, indexed as
// authMiddlewares (bearer, cron, jwt), and result, indexed as authResults
// (ok, unauthorized, forbidden, unavailable).
type AuthStats struct {
	Checks [3][4]int64
}

var (
	authMiddlewares = [3]string{"bearer", "cron", "jwt"}
	authResults     = [4]string{"ok", "unauthorized", "forbidden", "unavailable"}
)

// Sources are the readers Watch calls at each scrape; nil ones are left
// out.
type Sources struct {
	Engine   func() EngineStats
	Registry func() RegistryStats
	Cron     func() CronStats
	Auth     func() AuthStats
	// LogDrops is how many log records subscribers too slow to read them
	// lost (logs.Hub.Dropped).
	LogDrops func() int64
}

// Watch registers a collector that reads s at each scrape. Only the first
// call counts.
func (m *Metrics) Watch(s Sources) {
	m.watchOnce.Do(func() { m.reg.MustRegister(newSourceCollector(s)) })
}

// sourceCollector turns Sources into metrics at scrape time.
type sourceCollector struct {
	s Sources

	live, idle, instantiations, reuses, resets *prometheus.Desc
	compileCache, interpreting                 *prometheus.Desc
	tokenVerifications, tokenCacheHits         *prometheus.Desc
	rateLimited, storageOps, storageConflicts  *prometheus.Desc
	cronRuns, logDrops, authChecks             *prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

func newSourceCollector(s Sources) *sourceCollector {
	return &sourceCollector{s: s,
		live:           desc("instances_live", "Instances that exist now, busy or idle, by instance policy.", "policy"),
		idle:           desc("instances_idle", "Instances waiting idle in a pool, by instance policy.", "policy"),
		instantiations: desc("instantiations_total", "Instances created (a wazero instantiation), by instance policy.", "policy"),
		reuses:         desc("instance_reuses_total", "Requests served by an idle instance instead of a new one, by instance policy.", "policy"),
		resets:         desc("instance_resets_total", "Used fresh-policy instances restored to their post-initialisation snapshot instead of replaced."),
		compileCache: desc("compile_cache_total", "Module loads by cache and result: cache=memory (compiled module already in memory), "+
			"cache=disk (a compile found wazero's code in the on-disk cache).", "cache", "result"),
		interpreting: desc("modules_interpreted", "Modules served by wazero's interpreter now, while the compiler compiles them "+
			"in the background (tiered compilation; a module's code is then swapped and its instances replaced as they cycle)."),
		tokenVerifications: desc("token_verifications_total", "Token signatures verified, by result (ok, invalid).", "result"),
		tokenCacheHits:     desc("token_cache_hits_total", "Tokens found already verified in the token cache (no signature check)."),
		rateLimited:        desc("rate_limited_total", "Requests refused by a token's rate limit (429)."),
		storageOps:         desc("storage_operations_total", "Webtask storage operations, from the API and from guests, by op (get, set).", "op"),
		storageConflicts:   desc("storage_conflicts_total", "Webtask storage writes refused because their etag was stale (409)."),
		cronRuns:           desc("cron_runs_total", "Cron runs recorded, by result (success, error, missed).", "result"),
		logDrops:           desc("log_records_dropped_total", "Log records lost by real-time subscribers too slow to read them."),
		authChecks: desc("auth_checks_total", "Checks by the auth a webtask declares (wt-middleware), before its code runs, by middleware "+
			"(bearer, cron, jwt) and result (ok; unauthorized 401, forbidden 403 for a missing scope, unavailable 503 when the JWKS cannot be fetched).",
			"middleware", "result"),
	}
}

// Describe implements prometheus.Collector.
func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.live, c.idle, c.instantiations, c.reuses, c.resets, c.compileCache, c.interpreting,
		c.tokenVerifications, c.tokenCacheHits, c.rateLimited, c.storageOps, c.storageConflicts, c.cronRuns, c.logDrops, c.authChecks} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	if c.s.Engine != nil {
		e := c.s.Engine()
		for p, name := range policyNames {
			gauge(c.live, e.Live[p], name)
			gauge(c.idle, e.Idle[p], name)
			counter(c.instantiations, e.Instantiations[p], name)
			counter(c.reuses, e.Reuses[p], name)
		}
		counter(c.resets, e.Resets)
		counter(c.compileCache, e.MemoryHits, "memory", "hit")
		counter(c.compileCache, e.MemoryMisses, "memory", "miss")
		counter(c.compileCache, e.DiskHits, "disk", "hit")
		counter(c.compileCache, e.DiskMisses, "disk", "miss")
		gauge(c.interpreting, e.Interpreting)
	}
	if c.s.Registry != nil {
		r := c.s.Registry()
		counter(c.tokenVerifications, r.TokenVerified, "ok")
		counter(c.tokenVerifications, r.TokenInvalid, "invalid")
		counter(c.tokenCacheHits, r.TokenCacheHits)
		counter(c.rateLimited, r.RateLimited)
		counter(c.storageOps, r.StorageGets, "get")
		counter(c.storageOps, r.StorageSets, "set")
		counter(c.storageConflicts, r.StorageConflicts)
	}
	if c.s.Cron != nil {
		r := c.s.Cron()
		counter(c.cronRuns, r.Success, "success")
		counter(c.cronRuns, r.Error, "error")
		counter(c.cronRuns, r.Missed, "missed")
	}
	if c.s.LogDrops != nil {
		counter(c.logDrops, c.s.LogDrops())
	}
	if c.s.Auth != nil {
		a := c.s.Auth()
		for m, mw := range authMiddlewares {
			for r, result := range authResults {
				counter(c.authChecks, a.Checks[m][r], mw, result)
			}
		}
	}
}
