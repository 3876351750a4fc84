package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"
)

// Sections of a run, in the order they run.
var Sections = []string{"overhead", "wrk", "cold", "scale", "memory", "js", "work", "fairness", "extism", "micro", "platform", "cluster", "soak"}

// fullOnly are the sections a quick run leaves out unless named in Only:
// the soak, and the micro-benchmarks (`go test -bench` runs them beside
// the code; in the harness they cost half a minute of compiling).
var fullOnly = map[string]bool{"soak": true, "micro": true}

// Options configure a run. QuickOptions and FullOptions are the two presets.
type Options struct {
	Mode      string // "quick" or "full", recorded in the results
	Root      string // repository root (holds the main module's go.mod); found from the working directory when empty
	GuestsDir string // built guests; Root/guests/build when empty
	ServerBin string // `wasmtask` binary for the process-level sections; built into a temp dir when empty
	Only      []string
	Log       io.Writer

	// Overhead: at each concurrency, each target is warmed for Warmup, then
	// measured in Rounds runs of Duration alternating with the baseline.
	Concurrency []int
	Rounds      int
	Warmup      time.Duration
	Duration    time.Duration
	MaxRequests int
	// InstantiateLangs are the languages whose fresh policy is also
	// measured by instantiating per request (the comparison point of the
	// reset); nil measures every language.
	InstantiateLangs []string

	ColdReps int

	ScaleLang       string
	ScaleContainers int
	ScalePer        int

	MemInstances int

	Tenants      int
	FairDuration time.Duration

	ExtismDuration time.Duration

	// JavaScript (issue 11): JSEngine is the engine module
	// (GuestsDir/js/engine.wasm when empty; without it the section is
	// skipped), Node the Node.js baseline's binary ("node" from PATH when
	// empty), JSWebtasks how many JavaScript webtasks the memory part
	// deploys per policy.
	JSEngine   string
	Node       string
	JSWebtasks int

	MicroBenchtime string

	// Work (issue 17): at each of WorkConcurrency, every target of each
	// task is warmed for WorkWarmup, then measured in Rounds runs of
	// WorkDuration (each after a WorkWarmup/5 warm-up of its own).
	WorkConcurrency []int
	WorkWarmup      time.Duration
	WorkDuration    time.Duration

	// Platform (issue 12): StorageOps sequential gets and as many sets of
	// a ~1 KB document; StorageWriters concurrent read-modify-write
	// writers, each until StorageWrites of its writes are acknowledged;
	// CronJobs jobs firing every second, left running for CronWindow.
	StorageOps     int
	StorageWriters int
	StorageWrites  int
	CronJobs       int
	CronWindow     time.Duration

	// Soak: SoakContainers × SoakPer webtasks under a mixed load from
	// SoakClients connections for SoakDuration (warm-up included).
	SoakDuration   time.Duration
	SoakContainers int
	SoakPer        int
	SoakClients    int

	// Cluster (issue 16): the hello over 3 nodes vs 1 at each of
	// ClusterConcurrency, one node on etcd vs one on bbolt at each of
	// ClusterStoreConcurrency (both as the overhead section, but each side
	// warmed ClusterDuration, then ClusterRounds pairs of runs of
	// ClusterDuration: child processes on a shared machine are noisier
	// than the in-process servers); ClusterDeploys deploys and
	// ClusterRevocations revocations whose propagation is timed.
	ClusterConcurrency      []int
	ClusterStoreConcurrency []int
	ClusterRounds           int
	ClusterDuration         time.Duration
	ClusterDeploys          int
	ClusterRevocations      int
}

// QuickOptions is `make bench`: every section, small, a few minutes on 2 cores.
func QuickOptions() Options {
	return Options{
		Mode:             "quick",
		Concurrency:      []int{1, 16, 64},
		Rounds:           3,
		Warmup:           100 * time.Millisecond,
		Duration:         200 * time.Millisecond,
		MaxRequests:      200_000,
		InstantiateLangs: []string{MinimalLang, "c"},
		ColdReps:         3,
		ScaleLang:        MinimalLang,
		ScaleContainers:  100,
		ScalePer:         10,
		MemInstances:     50,
		Tenants:          100,
		FairDuration:     2 * time.Second,
		ExtismDuration:   500 * time.Millisecond,
		JSWebtasks:       50,
		MicroBenchtime:   "2000x",
		WorkConcurrency:  []int{1, 16},
		WorkWarmup:       60 * time.Millisecond,
		WorkDuration:     100 * time.Millisecond,
		StorageOps:       500,
		StorageWriters:   16,
		StorageWrites:    25,
		CronJobs:         100,
		CronWindow:       10 * time.Second,
		SoakDuration:     20 * time.Second, // only with -only soak: a quick run leaves the soak out
		SoakContainers:   200,
		SoakPer:          5,
		SoakClients:      32,

		ClusterConcurrency:      []int{16},
		ClusterStoreConcurrency: []int{1, 16},
		ClusterRounds:           5,
		ClusterDuration:         500 * time.Millisecond,
		ClusterDeploys:          10,
		ClusterRevocations:      20,
	}
}

// FullOptions is `make bench-full`: the sizes (1,000 containers ×
// 10 webtasks) and longer runs.
func FullOptions() Options {
	o := QuickOptions()
	o.Mode = "full"
	o.Rounds = 5
	o.Warmup = time.Second
	o.Duration = time.Second
	o.MaxRequests = 1_000_000
	o.InstantiateLangs = nil // every language
	o.ColdReps = 7
	o.ScaleContainers = 1000
	o.MemInstances = 300
	o.FairDuration = 8 * time.Second
	o.ExtismDuration = 2 * time.Second
	o.JSWebtasks = 200
	o.MicroBenchtime = "1s"
	o.WorkConcurrency = []int{1, 16, 64}
	o.WorkWarmup = 300 * time.Millisecond
	o.WorkDuration = 400 * time.Millisecond
	o.StorageOps = 2000
	o.StorageWrites = 100
	o.CronWindow = 30 * time.Second
	o.SoakDuration = 3 * time.Minute
	o.ClusterConcurrency = []int{16, 64}
	o.ClusterDuration = time.Second
	o.ClusterDeploys = 20
	o.ClusterRevocations = 50
	return o
}

type harness struct {
	ctx    context.Context
	opts   Options
	res    *Results
	guests []Guest
	tmp    string
	bin    string
}

func (h *harness) logf(format string, args ...any) {
	if h.opts.Log != nil {
		fmt.Fprintf(h.opts.Log, "bench: "+format+"\n", args...)
	}
}

func (h *harness) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.res.Notes = append(h.res.Notes, msg)
	h.logf("note: %s", msg)
}

// tempDir returns a new directory under the run's temp dir.
func (h *harness) tempDir(name string) string {
	d, err := os.MkdirTemp(h.tmp, name+"-")
	if err != nil {
		panic(err)
	}
	return d
}

// Run measures every section of opts (or opts.Only) and returns the results.
// A section that fails is noted and the run goes on.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.Root == "" {
		root, err := FindRoot()
		if err != nil {
			return nil, err
		}
		opts.Root = root
	}
	if opts.GuestsDir == "" {
		opts.GuestsDir = filepath.Join(opts.Root, "guests", "build")
	}
	for _, s := range opts.Only {
		if !slices.Contains(Sections, s) {
			return nil, fmt.Errorf("bench: unknown section %q (sections: %s)", s, strings.Join(Sections, ", "))
		}
	}
	tmp, err := os.MkdirTemp("", "wasmtask-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	h := &harness{ctx: ctx, opts: opts, tmp: tmp, res: &Results{Mode: opts.Mode, Started: time.Now().UTC()}}
	h.res.Machine = machine(opts.Root)
	h.guests, h.res.Notes = DiscoverGuests(opts.GuestsDir)
	h.res.Guests = h.guests
	h.res.Settings = Settings{Concurrency: opts.Concurrency, Rounds: opts.Rounds, WarmupSec: opts.Warmup.Seconds(),
		DurationSec: opts.Duration.Seconds(), MaxRequests: opts.MaxRequests, ColdReps: opts.ColdReps,
		ScaleContainers: opts.ScaleContainers, ScalePer: opts.ScalePer, MemInstances: opts.MemInstances,
		Tenants: opts.Tenants, JSWebtasks: opts.JSWebtasks}
	for _, g := range h.guests {
		h.logf("guest %-15s %8d bytes  %s", g.Lang, g.Size, g.Path)
	}

	steps := map[string]func() error{
		"overhead": h.overhead, "cold": h.coldStart, "scale": h.scale, "memory": h.memory,
		"fairness": h.fairness, "extism": h.extism, "micro": h.micro, "soak": h.soak, "js": h.js,
		"platform": h.platform, "work": h.work, "wrk": h.wrk, "cluster": h.cluster,
	}
	needBin := map[string]bool{"cold": true, "scale": true, "memory": true, "soak": true, "js": true, "cluster": true}
	// Checked before the server binary is built, so a section that cannot
	// run is skipped at once.
	precheck := map[string]func() error{"js": h.jsCheck}
	for _, s := range Sections {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, s) {
			continue
		}
		if len(opts.Only) == 0 && fullOnly[s] && opts.Mode != "full" {
			continue
		}
		if ctx.Err() != nil {
			return h.res, ctx.Err()
		}
		if check := precheck[s]; check != nil {
			if err := check(); err != nil {
				h.note("%s: skipped: %v", s, err)
				continue
			}
		}
		if needBin[s] && h.bin == "" {
			if h.bin, err = h.serverBin(); err != nil {
				h.note("%s: skipped: no server binary: %v", s, err)
				if s == "soak" { // a soak that did not run must not pass
					h.res.Soak = &SoakResult{Verdict: "not run: no server binary"}
				}
				continue
			}
		}
		t0 := time.Now()
		h.logf("== %s", s)
		if err := steps[s](); err != nil {
			h.note("%s: %v", s, err)
		}
		h.logf("== %s done in %s", s, time.Since(t0).Round(time.Millisecond))
		runtime.GC()
	}
	h.res.Settings.ServerBin = h.bin
	h.res.Targets = judge(h.res)
	h.res.Seconds = time.Since(h.res.Started).Seconds()
	return h.res, nil
}

// serverBin is opts.ServerBin, or a fresh build of ./cmd/wasmtask.
func (h *harness) serverBin() (string, error) {
	if h.opts.ServerBin != "" {
		return filepath.Abs(h.opts.ServerBin)
	}
	out := filepath.Join(h.tmp, "wasmtask")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./cmd/wasmtask")
	cmd.Dir = h.opts.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/wasmtask: %v: %s", err, b)
	}
	return out, nil
}

// FindRoot walks up from the working directory to the main module's go.mod
// (github.com/wasmtask/wasmtask), past bench's own go.mod.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/wasmtask/wasmtask\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: run inside the wasmtask repository (no go.mod of github.com/wasmtask/wasmtask above the working directory)")
		}
		dir = parent
	}
}

func machine(root string) Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		m.MemTotal = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			m.Load1 = f[0]
		}
	}
	cmd := exec.Command("git", "rev-parse", "--short", "HEAD")
	cmd.Dir = root
	if b, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(b))
		st := exec.Command("git", "status", "--porcelain", "--untracked-files=no")
		st.Dir = root
		if b, err := st.Output(); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			m.Commit += "+dirty"
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				m.Wazero = d.Version
			}
		}
	}
	return m
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// webtaskName makes a language label usable as a webtask name.
func webtaskName(parts ...string) string {
	s := strings.Join(parts, "-")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
