package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
)

// extismManifest is the Extism plugin with a 128 MiB memory cap, as
// wasmtask's default, and with limits=true also wasmtask's 30 s timeout
// (which, as in wasmtask, makes wazero watch the context of every call and
// close the module when it is done). Extism is measured both ways: with the
// same limits, and without a timeout, its fastest configuration.
func extismManifest(limits bool) extism.Manifest {
	m := extism.Manifest{
		Wasm:   []extism.Wasm{extism.WasmData{Data: Testdata("extism_hello")}},
		Memory: &extism.ManifestMemory{MaxPages: 2048},
	}
	if limits {
		m.Timeout = 30_000
	}
	return m
}

const extismFunc = "hello"

func newExtism(ctx context.Context, limits bool) (*extism.CompiledPlugin, error) {
	return extism.NewCompiledPlugin(ctx, extismManifest(limits), extism.PluginConfig{}, nil)
}

// extismPool is what a user would build around Extism for an HTTP service:
// plugins are not goroutine-safe, so keep instances in a pool and create one
// when none is idle.
type extismPool struct {
	cp   *extism.CompiledPlugin
	idle chan *extism.Plugin
}

func (p *extismPool) get(ctx context.Context) (*extism.Plugin, error) {
	select {
	case pl := <-p.idle:
		return pl, nil
	default:
		return p.cp.Instance(ctx, extism.PluginInstanceConfig{})
	}
}

func (p *extismPool) put(ctx context.Context, pl *extism.Plugin) {
	select {
	case p.idle <- pl:
	default:
		_ = pl.Close(ctx)
	}
}

// startExtismHTTP serves the Extism hello plugin with fasthttp: the peer
// as an HTTP service, through the same load generator; with limits, under
// wasmtask's limits, else in Extism's fastest configuration (no timeout).
func startExtismHTTP(limits bool) (*native, error) {
	ctx := context.Background()
	cp, err := newExtism(ctx, limits)
	if err != nil {
		return nil, err
	}
	pool := &extismPool{cp: cp, idle: make(chan *extism.Plugin, 64)}
	h := func(rc *fasthttp.RequestCtx) {
		pl, err := pool.get(ctx)
		if err != nil {
			rc.Error(err.Error(), 500)
			return
		}
		_, out, err := pl.CallWithContext(ctx, extismFunc, rc.PostBody())
		if err != nil {
			_ = pl.Close(ctx)
			rc.Error(err.Error(), 500)
			return
		}
		rc.SetStatusCode(200)
		rc.Response.Header.Set("content-type", "application/json")
		rc.SetBody(out)
		pool.put(ctx, pl)
	}
	s, err := serveHandler(h)
	if err != nil {
		_ = cp.Close(ctx)
		return nil, err
	}
	return s, nil
}

// extism compares wasmtask's engine with Extism on the same guest logic (a
// constant 26-byte JSON answer), in process, without HTTP:
//   - call: a live instance answers (wasmtask: a pooled Pool.Serve; Extism:
//     Plugin.Call on a live plugin);
//   - fresh instance per call: what each offers for isolation between calls
//     (wasmtask: a fresh-policy Pool.Serve, which resets a used instance to
//     its snapshot; Extism: CompiledPlugin.Instance, Call, Close);
//   - instantiate per call: both instantiate (wasmtask with
//     FreshByInstantiate: instantiate, call, close);
//   - each again from GOMAXPROCS goroutines (wasmtask: one shared pool;
//     Extism: a plugin per goroutine, as its docs prescribe).
func (h *harness) extism() error {
	ctx := context.Background()
	wasm := Testdata("hello")
	pools := map[string]*engine.Pool{}
	for _, c := range []struct {
		name   string
		cfg    engine.Config
		policy engine.Policy
	}{
		{"pool", engine.Config{}, engine.PolicyPool},
		{"fresh", engine.Config{}, engine.PolicyFresh},
		{"instantiate", engine.Config{FreshByInstantiate: true}, engine.PolicyFresh},
	} {
		e, err := engine.New(ctx, c.cfg)
		if err != nil {
			return err
		}
		defer e.Close(ctx)
		mod, err := e.Compile(ctx, wasm)
		if err != nil {
			return err
		}
		pools[c.name] = e.NewPool(mod, "bench", "hello", c.policy)
	}
	cp, err := newExtism(ctx, true)
	if err != nil {
		return err
	}
	defer cp.Close(ctx)
	cpFast, err := newExtism(ctx, false)
	if err != nil {
		return err
	}
	defer cpFast.Close(ctx)

	type setup = func() (func() error, func())
	wtOp := func(p *engine.Pool) setup {
		return func() (func() error, func()) {
			req := &engine.Request{Method: "GET", Path: "/", Container: "bench", Name: "hello", RequestID: "1"}
			resp := &engine.Response{}
			return func() error {
				resp.Reset()
				if err := p.Serve(ctx, req, resp); err != nil {
					return err
				}
				if string(resp.Body) != helloBody {
					return fmt.Errorf("wasmtask answered %q", resp.Body)
				}
				return nil
			}, func() {}
		}
	}
	extCall := func(cp *extism.CompiledPlugin) setup {
		return func() (func() error, func()) {
			pl, err := cp.Instance(ctx, extism.PluginInstanceConfig{})
			if err != nil {
				return func() error { return err }, func() {}
			}
			return func() error {
				_, out, err := pl.CallWithContext(ctx, extismFunc, nil)
				if err == nil && string(out) != helloBody {
					err = fmt.Errorf("extism answered %q", out)
				}
				return err
			}, func() { _ = pl.Close(ctx) }
		}
	}
	extInst := func(cp *extism.CompiledPlugin) setup {
		return func() (func() error, func()) {
			return func() error {
				pl, err := cp.Instance(ctx, extism.PluginInstanceConfig{})
				if err != nil {
					return err
				}
				_, out, err := pl.CallWithContext(ctx, extismFunc, nil)
				if err == nil && string(out) != helloBody {
					err = fmt.Errorf("extism answered %q", out)
				}
				_ = pl.Close(ctx)
				return err
			}, func() {}
		}
	}
	procs := runtime.GOMAXPROCS(0)
	type tc struct {
		name    string
		workers int
		wt      setup
		ext     func(*extism.CompiledPlugin) setup
	}
	var cases []tc
	workers := []int{1}
	if procs > 1 {
		workers = append(workers, procs)
	}
	for _, workers := range workers {
		suffix := ""
		if workers > 1 {
			suffix = fmt.Sprintf(", %d goroutines", workers)
		}
		cases = append(cases,
			tc{"call (live instance)" + suffix, workers, wtOp(pools["pool"]), extCall},
			tc{"fresh instance per call (wasmtask: reset)" + suffix, workers, wtOp(pools["fresh"]), extInst},
			tc{"instantiate + call + close" + suffix, workers, wtOp(pools["instantiate"]), extInst})
	}
	for _, c := range cases {
		wns, wal, err := measureOps(c.workers, h.opts.ExtismDuration, c.wt)
		if err != nil {
			return fmt.Errorf("%s: wasmtask: %w", c.name, err)
		}
		ens, eal, err := measureOps(c.workers, h.opts.ExtismDuration, c.ext(cp))
		if err != nil {
			return fmt.Errorf("%s: extism: %w", c.name, err)
		}
		fns, _, err := measureOps(c.workers, h.opts.ExtismDuration, c.ext(cpFast))
		if err != nil {
			return fmt.Errorf("%s: extism without timeout: %w", c.name, err)
		}
		row := ExtismRow{Case: c.name, WasmtaskNs: wns, WasmtaskAllocs: wal, ExtismNs: ens, ExtismAllocs: eal,
			ExtismNoTimeoutNs: fns, Ratio: min(ens, fns) / wns}
		h.res.Extism = append(h.res.Extism, row)
		h.logf("  %-50s wasmtask %8.0f ns/op %4.0f allocs  extism %8.0f ns/op %4.0f allocs (no timeout %8.0f)  %.2f×",
			c.name, wns, wal, ens, eal, fns, row.Ratio)
	}
	return nil
}

// measureOps runs op from workers goroutines for d after a warm-up of d/4
// and returns the wall time per operation (all workers together, so a
// throughput) and the heap allocations per operation. setup returns a
// worker's op and its cleanup.
func measureOps(workers int, d time.Duration, setup func() (func() error, func())) (nsPerOp, allocsPerOp float64, err error) {
	ops := make([]func() error, workers)
	for i := range ops {
		op, done := setup()
		defer done()
		ops[i] = op
	}
	run := func(d time.Duration) (int64, time.Duration, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		var wg sync.WaitGroup
		start := time.Now()
		end := start.Add(d)
		for _, op := range ops {
			wg.Add(1)
			go func(op func() error) {
				defer wg.Done()
				for i := 0; ; i++ {
					if i%16 == 0 && time.Now().After(end) {
						return
					}
					if err := op(); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			}(op)
		}
		wg.Wait()
		return n.Load(), time.Since(start), firstErr
	}
	if _, _, err := run(d / 4); err != nil {
		return 0, 0, err
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	n, el, err := run(d)
	runtime.ReadMemStats(&m1)
	if err != nil {
		return 0, 0, err
	}
	if n == 0 {
		return 0, 0, errors.New("no operation completed")
	}
	return float64(el.Nanoseconds()) / float64(n), float64(m1.Mallocs-m0.Mallocs) / float64(n), nil
}
