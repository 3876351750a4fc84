package bench

import (
	"fmt"
	"time"
)

// Results is everything one harness run measured; it is written as JSON and
// rendered as markdown and SVG.
type Results struct {
	Mode     string    `json:"mode"` // quick or full
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Guests   []Guest   `json:"guests"`
	Notes    []string  `json:"notes,omitempty"`

	Overhead     []OverheadRow   `json:"overhead,omitempty"`
	Baselines    []BaselineRow   `json:"overhead_baselines,omitempty"`
	Cold         []ColdRow       `json:"cold_start,omitempty"`
	Restart      *RestartBase    `json:"restart_baseline,omitempty"`
	Scale        *ScaleResult    `json:"scale,omitempty"`
	Memory       []MemoryRow     `json:"memory_per_instance,omitempty"`
	Fairness     []FairnessRow   `json:"fairness,omitempty"`
	Abuse        []AbuseRow      `json:"abuse,omitempty"`
	Wrk          []WrkRow        `json:"wrk,omitempty"`
	Extism       []ExtismRow     `json:"extism,omitempty"`
	JS           *JSResult       `json:"js,omitempty"`
	Work         []WorkRow       `json:"work,omitempty"`
	WorkSettings *WorkSettings   `json:"work_settings,omitempty"`
	Micro        []MicroRow      `json:"micro,omitempty"`
	Platform     *PlatformResult `json:"platform,omitempty"`
	Soak         *SoakResult     `json:"soak,omitempty"`
	Cluster      *ClusterResult  `json:"cluster,omitempty"`
	Targets      []TargetResult  `json:"targets,omitempty"`
}

// Failures are the reasons a run must fail (the command exits non-zero):
// a soak that was run and did not pass.
func (r *Results) Failures() []string {
	var out []string
	if s := r.Soak; s != nil && !s.Pass {
		out = append(out, "soak: "+s.Verdict)
	}
	if p := r.Platform; p != nil && p.Storage != nil && !p.Storage.NoLostUpdate {
		s := p.Storage
		out = append(out, fmt.Sprintf("platform: storage lost an update or failed: %d writes acknowledged, counter %d, "+
			"after a restart %d, %d errors", s.Acked, s.FinalCounter, s.RestartCounter, s.Errors))
	}
	return out
}

// Machine describes where the run happened.
type Machine struct {
	CPU        string `json:"cpu"`
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Kernel     string `json:"kernel,omitempty"`
	MemTotal   string `json:"mem_total,omitempty"`
	Load1      string `json:"load_avg_at_start,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Wazero     string `json:"wazero,omitempty"`
}

// Settings are the knobs of the run.
type Settings struct {
	Concurrency     []int   `json:"concurrency"`
	Rounds          int     `json:"rounds"`
	WarmupSec       float64 `json:"warmup_sec"`
	DurationSec     float64 `json:"duration_sec"`
	MaxRequests     int     `json:"max_requests"`
	ColdReps        int     `json:"cold_reps"`
	ScaleContainers int     `json:"scale_containers"`
	ScalePer        int     `json:"scale_webtasks_per_container"`
	MemInstances    int     `json:"memory_instances"`
	Tenants         int     `json:"tenants"`
	JSWebtasks      int     `json:"js_webtasks,omitempty"`
	ServerBin       string  `json:"server_bin,omitempty"`
}

// OverheadRow is one load run of the isolation-overhead matrix.
type OverheadRow struct {
	Target      string `json:"target"` // "native", "extism-http", "c/pool", ...
	Lang        string `json:"lang,omitempty"`
	Policy      string `json:"policy,omitempty"`
	Concurrency int    `json:"concurrency"`
	// Ratio is the median over rounds of req/s over the native baseline run
	// next to it; RatioMin and RatioMax are the extremes.
	Ratio    float64 `json:"ratio_to_native"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
	LoadResult
}

// WorkRow is one target of the work section (issue 17) on one task at
// one concurrency: "native" (Go in the harness's process) or
// "<lang>/<policy>" through the whole server.
type WorkRow struct {
	Task        string `json:"task"`   // json, jwt, hmac
	Target      string `json:"target"` // "native", "c/pool", "js/fresh", ...
	Lang        string `json:"lang,omitempty"`
	Policy      string `json:"policy,omitempty"`
	Concurrency int    `json:"concurrency"`
	// Ratio is the median over rounds of req/s over native's run in the
	// same round; RatioMin and RatioMax are the extremes.
	Ratio    float64 `json:"ratio_to_native"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
	LoadResult
}

// WorkSettings are the work section's knobs and request sizes.
type WorkSettings struct {
	Concurrency []int   `json:"concurrency"`
	Rounds      int     `json:"rounds"`
	WarmupSec   float64 `json:"warmup_sec"`
	DurationSec float64 `json:"duration_sec"`
	JSONBytes   int     `json:"json_bytes"`
	HMACBytes   int     `json:"hmac_bytes"`
}

// BaselineRow is the spread of the native baseline's runs at one
// concurrency: how much the machine moved during the run (CV is the
// coefficient of variation).
type BaselineRow struct {
	Concurrency int     `json:"concurrency"`
	Runs        int     `json:"runs"`
	Min         float64 `json:"rps_min"`
	Median      float64 `json:"rps_median"`
	Max         float64 `json:"rps_max"`
	CV          float64 `json:"cv"`
}

// ColdRow is the cold-start figures of one language (medians of the reps),
// in milliseconds unless named otherwise.
type ColdRow struct {
	Lang string `json:"lang"`
	// Upload of a never-seen module (compile, validate, first instance,
	// durable store write), then the first run request.
	UploadMs        float64 `json:"upload_ms"`
	FirstRunMs      float64 `json:"first_run_ms"`
	UploadToFirstMs float64 `json:"upload_to_first_ms"`
	// A warm pooled request to the same webtask (the baseline), in µs.
	WarmUs float64 `json:"warm_us"`
	// Restart of `wasmtask serve` with a warm compile cache: the first
	// request to the webtask once the server answers /readyz (loads from
	// the cache, instantiates, runs), and spawn → that first response.
	RestartFirstMs float64 `json:"restart_first_ms"`
	RestartTotalMs float64 `json:"restart_total_ms"`
	// The same first request after an in-process restart (api.New on the
	// same data dir): no process start, no page-cache effects of exec.
	InProcFirstMs float64 `json:"inproc_restart_first_ms"`
	// The first request after the webtask's idle instances were evicted
	// (an in-process server with a short idle timeout).
	EvictedFirstMs float64 `json:"evicted_first_ms"`
	Reps           int     `json:"reps"`
}

// RestartBase is the restart baseline: spawn → /readyz of a server with
// the same data dir, with no webtask request.
type RestartBase struct {
	ReadyMs float64 `json:"ready_ms"`
}

// ScaleResult is the many-webtasks run in its own server process.
type ScaleResult struct {
	Containers   int     `json:"containers"`
	PerContainer int     `json:"webtasks_per_container"`
	Lang         string  `json:"lang"`
	EmptyRSS     RSS     `json:"empty_rss"`      // baseline: the same server with nothing deployed
	EmptyReadyMs float64 `json:"empty_ready_ms"` // baseline: spawn → /readyz with nothing deployed
	UploadSec    float64 `json:"upload_sec"`
	UploadErrors int     `json:"upload_errors"`
	DeployedRSS  RSS     `json:"deployed_rss"`     // after uploading all (each holds one warm instance)
	ReadyMs      float64 `json:"restart_ready_ms"` // restart: spawn → /readyz
	IdleRSS      RSS     `json:"restart_idle_rss"`
	TouchSec     float64 `json:"touch_all_sec"` // one request to every webtask after the restart
	TouchErrors  int     `json:"touch_errors"`
	TouchedRSS   RSS     `json:"touched_rss"`
	EvictedRSS   RSS     `json:"evicted_rss"` // after the restarted server's idle eviction
}

// MemoryRow is the memory one live (idle, pooled) instance costs.
type MemoryRow struct {
	Lang             string  `json:"lang"`
	Instances        int     `json:"instances"`
	BytesPerInstance float64 `json:"bytes_per_instance"`
	Ratio            float64 `json:"ratio_to_wat_min"`
	FirstRSS         RSS     `json:"rss_after_first"`
	RSS              RSS     `json:"rss_after_all"`
}

// FairnessRow is one run of many tenants sharing the server.
type FairnessRow struct {
	Scenario    string  `json:"scenario"`
	Tenants     int     `json:"tenants"`
	Connections int     `json:"connections"`
	RPS         float64 `json:"rps"`
	Ratio       float64 `json:"ratio_to_single_tenant"`
	FairShare   float64 `json:"fair_share_requests"`
	MinShare    float64 `json:"min_over_fair"` // the worst (light) tenant's requests over its fair share
	MaxShare    float64 `json:"max_over_fair"`
	Jain        float64 `json:"jain_index"`
	P99         float64 `json:"p99_us"`
}

// WrkRow is a run of the external load generator wrk (wrk.go), as a
// ratio to native measured by wrk in the same run.
type WrkRow struct {
	Target      string  `json:"target"`
	Concurrency int     `json:"concurrency"`
	RPS         float64 `json:"rps"`
	Ratio       float64 `json:"ratio_to_native"`
}

// AbuseRow is a well-behaved tenant's latency alone or beside a runaway
// one (fairness.go, abuse).
type AbuseRow struct {
	Scenario string  `json:"scenario"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_us"`
	P99      float64 `json:"p99_us"`
	Ratio    float64 `json:"p99_over_alone"`
	Runaways int     `json:"runaway_requests,omitempty"`
}

// ExtismRow compares wasmtask's engine and Extism on the same logic.
type ExtismRow struct {
	Case           string  `json:"case"`
	WasmtaskNs     float64 `json:"wasmtask_ns_per_op"`
	WasmtaskAllocs float64 `json:"wasmtask_allocs_per_op"`
	ExtismNs       float64 `json:"extism_ns_per_op"`
	ExtismAllocs   float64 `json:"extism_allocs_per_op"`
	// Extism without a timeout, its fastest configuration.
	ExtismNoTimeoutNs float64 `json:"extism_no_timeout_ns_per_op"`
	// wasmtask's throughput over the faster of the two Extism configurations.
	Ratio float64 `json:"wasmtask_over_extism_throughput"`
}

// MicroRow is one `go test -bench` line.
type MicroRow struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`
	NsOp    float64            `json:"ns_per_op"`
	BOp     float64            `json:"bytes_per_op"`
	Allocs  float64            `json:"allocs_per_op"`
	Extra   map[string]float64 `json:"extra,omitempty"`
}

// TargetResult is one target of issue 5, judged on this run.
type TargetResult struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	Status string `json:"status"` // met, not met, not measured
	Why    string `json:"why,omitempty"`
}

// SoakResult is the soak: many tenants under a mixed load for minutes in
// `wasmtask serve` as its own process, then left idle; it passes when the
// server comes back flat (RSS and open fds near where they were after the
// warm-up) and every response was one its request expects.
type SoakResult struct {
	Containers   int      `json:"containers"`
	PerContainer int      `json:"webtasks_per_container"`
	Langs        []string `json:"langs"`
	Clients      int      `json:"clients"`
	DurationSec  float64  `json:"duration_sec"` // the load, warm-up included
	WarmupSec    float64  `json:"warmup_sec"`
	ServerArgs   []string `json:"server_args"`
	SetupSec     float64  `json:"setup_sec"` // server start and every upload
	TotalSec     float64  `json:"total_sec"`

	Kinds   []SoakKind   `json:"kinds"`
	Points  []SoakPoint  `json:"points"`  // the states the verdict and the report name
	Samples []SoakSample `json:"samples"` // every sample, in time order

	// The RSS trend under load: the least-squares slope over the second
	// half of the load's samples (reported, not judged).
	LoadSlopeMiBMin float64 `json:"load_rss_slope_mib_per_min"`

	Requests   int    `json:"requests"`
	Unexpected int    `json:"unexpected"`
	ServerExit string `json:"server_exit,omitempty"` // how the server ended on SIGTERM
	Flat       bool   `json:"flat"`
	Pass       bool   `json:"pass"`
	Verdict    string `json:"verdict"`
}

// SoakKind is one kind of request of the soak: how many were made, and
// their statuses ("error" counts transport failures).
type SoakKind struct {
	Kind            string         `json:"kind"`
	Expected        string         `json:"expected"`
	Requests        int            `json:"requests"`
	Unexpected      int            `json:"unexpected"`
	Statuses        map[string]int `json:"statuses"`
	FirstUnexpected string         `json:"first_unexpected,omitempty"`
	P50             float64        `json:"p50_ms"`
	P99             float64        `json:"p99_ms"`
}

// SoakSample is the server process at one moment: what /proc shows of it
// (threads stand in for goroutines: the soak reads /proc, not the
// admin-only /metrics, whose go_goroutines would need the admin token) and
// its data dir.
type SoakSample struct {
	Sec       float64 `json:"t_sec"` // since the server started
	Phase     string  `json:"phase"`
	RSS       int64   `json:"rss_bytes"`
	Anon      int64   `json:"anon_bytes"`
	Threads   int     `json:"threads"`
	FDs       int     `json:"fds"`
	DataBytes int64   `json:"data_dir_bytes"`
	Requests  int     `json:"requests"` // done so far
}

// SoakPoint is a named state of the soak.
type SoakPoint struct {
	Label string `json:"label"`
	SoakSample
}

// JSResult is the JavaScript section (issue 11): a JavaScript webtask on
// the QuickJS engine (guests/build/js/engine.wasm) through the whole
// server, against a native fasthttp handler and a plain Node.js `http`
// server running the same function (bench/node/server.js), measured in the
// same run; its cold starts; and the memory a JavaScript webtask costs.
type JSResult struct {
	Engine      string `json:"engine"`
	EngineBytes int    `json:"engine_bytes"`
	Node        string `json:"node,omitempty"` // `node --version`; empty when node was not found
	Code        string `json:"code"`           // the webtask's source

	Throughput []JSRow `json:"throughput,omitempty"`
	// Cold is the cold-start row of the code (coldOf, as for wasm guests);
	// ReadyMs its restart baseline: spawn → /readyz of `wasmtask serve
	// --js-engine` on the same data dir (the engine loads from the cache).
	Cold    *ColdRow      `json:"cold_start,omitempty"`
	ReadyMs float64       `json:"restart_ready_ms,omitempty"`
	Memory  []JSMemoryRow `json:"memory,omitempty"`
}

// JSRow is one target of the JavaScript throughput runs at one
// concurrency: "native", "node", "js/pool" or "js/fresh". Each ratio is the
// median over rounds of the target's req/s over the baseline's run of the
// same round, with the extremes beside it.
type JSRow struct {
	Target       string  `json:"target"`
	Concurrency  int     `json:"concurrency"`
	Ratio        float64 `json:"ratio_to_native"`
	RatioMin     float64 `json:"ratio_min"`
	RatioMax     float64 `json:"ratio_max"`
	NodeRatio    float64 `json:"ratio_to_node,omitempty"` // 0 without node
	NodeRatioMin float64 `json:"ratio_to_node_min,omitempty"`
	NodeRatioMax float64 `json:"ratio_to_node_max,omitempty"`
	LoadResult
}

// JSMemoryRow is the memory of Webtasks JavaScript webtasks of one policy
// in `wasmtask serve` as its own process, per webtask. Deployed: the RSS
// growth of the uploading server after deploying them, over the same
// server running one JavaScript webtask (the engine's code loaded); it
// includes the uploads' garbage the Go heap has not returned. Running: the
// server restarted on the same data dir (no upload garbage), the RSS growth
// after one request to each of them over the restarted server after one
// request to the first; each pool then keeps its instance (fresh: its
// snapshot and the reset instance).
type JSMemoryRow struct {
	Policy          string  `json:"policy"`
	Webtasks        int     `json:"webtasks"`
	EmptyRSS        RSS     `json:"empty_rss"`    // nothing deployed, the engine loaded from the cache
	BaseRSS         RSS     `json:"base_rss"`     // one JavaScript webtask deployed and run
	DeployedRSS     RSS     `json:"deployed_rss"` // then Webtasks more deployed
	RestartRSS      RSS     `json:"restart_rss"`  // restarted, the first webtask run
	RunRSS          RSS     `json:"run_rss"`      // then each of the others run once
	PerDeployed     float64 `json:"bytes_per_deployed"`
	PerRunning      float64 `json:"bytes_per_running"`
	PerDeployedAnon float64 `json:"anon_bytes_per_deployed"`
	PerRunningAnon  float64 `json:"anon_bytes_per_running"`
}

// PlatformResult is the platform section (issue 12): a named webtask's
// storage over HTTP and the scheduling of cron jobs, through the whole
// server in process.
type PlatformResult struct {
	Storage *StorageResult `json:"storage,omitempty"`
	Cron    *CronResult    `json:"cron,omitempty"`
}

// Latency is a distribution of sequential request latencies, in µs.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_us"`
	P90 float64 `json:"p90_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
}

// StorageResult is a named webtask's storage over HTTP (GET|PUT
// /api/webtask/{c}/{n}/data, as sandboxjs sends them, admin token).
// Sequential: Ops gets, Ops sets (each with the etag the previous set
// returned) of a DocBytes document, and as many warm pooled runs of the
// same webtask (the baseline). Concurrent: Writers writers, each until
// WritesPerWriter of its writes are acknowledged, by read-modify-write
// (get, increment the document's counter, put with the etag read, start
// over on 409).
type StorageResult struct {
	DocBytes int     `json:"doc_bytes"`
	Ops      int     `json:"ops"`
	Get      Latency `json:"get"`
	Set      Latency `json:"set"`
	Run      Latency `json:"warm_run"`

	Writers         int     `json:"writers"`
	WritesPerWriter int     `json:"writes_per_writer"`
	Seconds         float64 `json:"seconds"`
	Acked           int     `json:"acknowledged_writes"`
	Attempts        int     `json:"put_attempts"`
	Conflicts       int     `json:"conflicts"` // 409s
	Gets            int     `json:"gets"`
	Errors          int     `json:"errors"`
	FirstErr        string  `json:"first_error,omitempty"`
	WritesPerSec    float64 `json:"acknowledged_writes_per_sec"`
	ConflictRate    float64 `json:"conflict_rate"` // 409s / PUT attempts
	// A write's latency: its first GET → its acknowledged PUT, retries
	// included, in ms.
	WriteP50 float64 `json:"write_p50_ms"`
	WriteP99 float64 `json:"write_p99_ms"`
	WriteMax float64 `json:"write_max_ms"`
	// The document's counter after the writers, and after the server was
	// restarted on the same data dir; no update is lost when both equal
	// Acked (and no request failed).
	FinalCounter   int  `json:"final_counter"`
	RestartCounter int  `json:"restart_counter"`
	NoLostUpdate   bool `json:"no_lost_update"`
}

// CronResult is Jobs cron jobs firing every second (the server's
// test-only CronSeconds) in Containers containers of PerContainer (the
// default job limit), each running its own deployed webtask, left running
// for WindowSec, then deactivated one by one. Slots are the slots due from
// a job's first one to its cutoff (its deactivation less a second), over
// all jobs; each was run, recorded as missed, or is unaccounted. Lateness
// is started_at − scheduled_at of the runs, in ms; the run's duration is
// completed_at − started_at.
type CronResult struct {
	Jobs            int     `json:"jobs"`
	Containers      int     `json:"containers"`
	PerContainer    int     `json:"jobs_per_container"`
	Schedule        string  `json:"schedule"`
	WindowSec       float64 `json:"window_sec"`
	CreateSec       float64 `json:"create_sec"`
	Slots           int     `json:"slots"`
	Runs            int     `json:"runs"`
	Errors          int     `json:"errors"` // runs that were not a 200 success
	FirstError      string  `json:"first_error,omitempty"`
	Missed          int     `json:"missed_slots"`
	MissedRate      float64 `json:"missed_rate"`
	JobsMissed      int     `json:"jobs_with_missed_slots"`
	MissedPerJobMax float64 `json:"missed_per_job_max"`
	Unaccounted     int     `json:"unaccounted_slots"`
	LateMin         float64 `json:"late_min_ms"`
	LateP50         float64 `json:"late_p50_ms"`
	LateP90         float64 `json:"late_p90_ms"`
	LateP99         float64 `json:"late_p99_ms"`
	LateMax         float64 `json:"late_max_ms"`
	RunP50          float64 `json:"run_p50_ms"`
	RunP99          float64 `json:"run_p99_ms"`
}

// ClusterResult is the cluster section (issue 16): wasmtask nodes on one
// etcd, as child processes on loopback.
type ClusterResult struct {
	Nodes       int       `json:"nodes"`
	Etcd        string    `json:"etcd"`
	NodeReadyMs []float64 `json:"node_ready_ms"` // spawn → /readyz of each etcd node
	BoltReadyMs float64   `json:"bolt_ready_ms,omitempty"`
	PollUs      float64   `json:"poll_interval_us"`
	Rounds      int       `json:"rounds"` // of each paired load, after a warm-up of each side
	WarmupSec   float64   `json:"warmup_sec"`
	DurationSec float64   `json:"duration_sec"`
	// The hello over the three nodes (round-robin) against the same load
	// on one of them.
	Throughput []ClusterLoadRow `json:"throughput,omitempty"`
	// A new version uploaded on node 1 → nodes 2 and 3 answer it.
	Deploy *PropagationResult `json:"deploy,omitempty"`
	// A token revoked on node 3 → node 1 answers 401.
	Revoke *PropagationResult `json:"revoke,omitempty"`
	// The hello through one node on etcd against one node on bbolt.
	Store []ClusterLoadRow `json:"etcd_vs_bolt,omitempty"`
}

// ClusterLoadRow is a paired load run: Target against Baseline at one
// concurrency, alternating for the run's rounds. Latencies in µs.
type ClusterLoadRow struct {
	Target      string    `json:"target"`   // "3 nodes", "etcd"
	Baseline    string    `json:"baseline"` // "1 node", "bbolt"
	Concurrency int       `json:"concurrency"`
	Ratio       float64   `json:"ratio"` // median over rounds of req/s over the baseline's
	RatioMin    float64   `json:"ratio_min"`
	RatioMax    float64   `json:"ratio_max"`
	RPS         float64   `json:"rps"`
	P50         float64   `json:"p50_us"`
	P99         float64   `json:"p99_us"`
	BaseRPS     float64   `json:"baseline_rps"`
	BaseP50     float64   `json:"baseline_p50_us"`
	BaseP99     float64   `json:"baseline_p99_us"`
	Shares      []float64 `json:"node_shares,omitempty"` // each node's share of the requests
}

// PropagationResult is how long a change made on one node takes to reach
// the others, in ms over N changes: Write is the call making it (the PUT,
// the revoke); Min … Max the time from its answer until every other node
// behaves accordingly (polled every poll_interval_us); Total… from the
// call's start.
type PropagationResult struct {
	N        int     `json:"n"`
	Timeouts int     `json:"timeouts,omitempty"`
	WriteP50 float64 `json:"write_p50_ms"`
	Min      float64 `json:"min_ms"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	TotalP50 float64 `json:"total_p50_ms"`
	TotalP99 float64 `json:"total_p99_ms"`
	TotalMax float64 `json:"total_max_ms"`
}
