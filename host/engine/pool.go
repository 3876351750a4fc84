package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wasmtask/wasmtask/abi"
)

// Policy says whether instances are reused between requests.
type Policy uint8

// Instance policies.
const (
	// PolicyPool reuses an instance for later requests of the same webtask:
	// globals and memory survive between requests, as in http-wasm.
	PolicyPool Policy = iota
	// PolicyFresh creates a new instance for every request and closes it
	// afterwards: nothing survives between requests.
	PolicyFresh
)

// ParsePolicy reads "pool" or "fresh".
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "pool":
		return PolicyPool, nil
	case "fresh":
		return PolicyFresh, nil
	}
	return 0, fmt.Errorf("engine: unknown instance policy %q (want pool or fresh)", s)
}

// String returns "pool" or "fresh".
func (p Policy) String() string {
	if p == PolicyFresh {
		return "fresh"
	}
	return "pool"
}

// Pool serves the requests of one webtask. Its instances never serve another
// webtask, and each serves one request at a time. It is safe for concurrent use.
type Pool struct {
	e         *Engine
	mod       *Module
	container string
	name      string
	policy    Policy
	idle      chan *instance

	mu     sync.Mutex
	closed bool
}

type instance struct {
	mod    api.Module
	handle api.Function
	stack  []uint64
	stdout *lineWriter
	stderr *lineWriter
}

// NewPool creates the pool of one webtask. No instance exists until Warm or
// the first request.
func (e *Engine) NewPool(mod *Module, container, name string, policy Policy) *Pool {
	return &Pool{e: e, mod: mod, container: container, name: name, policy: policy,
		idle: make(chan *instance, e.cfg.MaxIdle)}
}

// Module returns the compiled module the pool runs.
func (p *Pool) Module() *Module { return p.mod }

// Policy returns the pool's instance policy.
func (p *Pool) Policy() Policy { return p.policy }

// Warm creates one instance, proving the module starts (its _initialize
// runs within the time limit), and keeps it for the first request when the
// policy is PolicyPool.
func (p *Pool) Warm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.e.cfg.Timeout)
	defer cancel()
	inst, err := p.instantiate(ctx)
	if err != nil {
		return err
	}
	p.release(inst)
	return nil
}

// Idle returns how many idle instances the pool holds.
func (p *Pool) Idle() int { return len(p.idle) }

// Close closes the idle instances; busy ones are closed when they finish.
func (p *Pool) Close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	for {
		select {
		case inst := <-p.idle:
			inst.close(ctx)
		default:
			return
		}
	}
}

// Serve runs one request. On success resp holds the guest's answer (status
// defaulted to 200). Errors match ErrTimeout, ErrTrap, ErrExit, ErrInit,
// ErrNoResponse or a context error of the caller's ctx.
func (p *Pool) Serve(ctx context.Context, req *Request, resp *Response) error {
	ctx, cancel := context.WithTimeout(ctx, p.e.cfg.Timeout)
	defer cancel()
	inst, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	inst.stdout.requestID, inst.stderr.requestID = req.RequestID, req.RequestID
	c := &call{req: req, resp: resp, maxResp: p.e.cfg.MaxResponseBytes, logger: p.e.cfg.Logger}
	err = inst.handle.CallWithStack(context.WithValue(ctx, callKey{}, c), inst.stack)
	inst.stdout.flush()
	inst.stderr.flush()
	if err != nil {
		inst.close(ctx)
		if err = classify(err); err != nil {
			return err
		}
	} else {
		rc := int32(inst.stack[0])
		p.release(inst)
		if rc != 0 && resp.Model == ModelNone {
			return fmt.Errorf("%w: %s returned %d", ErrNoResponse, abi.ExportHandle, rc)
		}
	}
	if resp.Status == 0 {
		resp.Status = 200
	}
	return nil
}

// classify turns an error of a guest call into one of the package's
// sentinels; nil means the guest exited with code 0 after responding.
func classify(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case 0:
			return nil
		case sys.ExitCodeDeadlineExceeded:
			return ErrTimeout
		case sys.ExitCodeContextCanceled:
			return context.Canceled
		}
		return fmt.Errorf("%w with code %d", ErrExit, exit.ExitCode())
	}
	var v *ABIViolation
	if errors.As(err, &v) {
		return fmt.Errorf("%w: %s", ErrTrap, v.Error())
	}
	return fmt.Errorf("%w: %s", ErrTrap, firstLine(err.Error()))
}

func (p *Pool) acquire(ctx context.Context) (*instance, error) {
	for p.policy == PolicyPool {
		var inst *instance
		select {
		case inst = <-p.idle:
		default:
			return p.instantiate(ctx)
		}
		if !inst.mod.IsClosed() {
			return inst, nil
		}
	}
	return p.instantiate(ctx)
}

func (p *Pool) release(inst *instance) {
	if p.policy == PolicyPool && !inst.mod.IsClosed() {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if !closed {
			select {
			case p.idle <- inst:
				return
			default:
			}
		}
	}
	inst.close(context.Background())
}

func (p *Pool) instantiate(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	inst := &instance{
		stack:  make([]uint64, 1),
		stdout: &lineWriter{logger: p.e.cfg.Logger, container: p.container, name: p.name, level: abi.LogInfo},
		stderr: &lineWriter{logger: p.e.cfg.Logger, container: p.container, name: p.name, level: abi.LogError},
	}
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(inst.stdout).
		WithStderr(inst.stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(nanosleep).
		WithRandSource(rand.Reader)
	m, err := p.e.rt.InstantiateModule(ctx, p.mod.compiled, cfg)
	inst.stdout.flush()
	inst.stderr.flush()
	if err != nil {
		if cerr := classify(err); errors.Is(cerr, ErrTimeout) {
			return nil, fmt.Errorf("%w (while initialising)", ErrTimeout)
		}
		return nil, fmt.Errorf("%w: %s", ErrInit, firstLine(err.Error()))
	}
	if m == nil || m.IsClosed() { // _initialize called proc_exit(0)
		return nil, fmt.Errorf("%w: _initialize exited", ErrInit)
	}
	inst.mod = m
	inst.handle = m.ExportedFunction(abi.ExportHandle)
	return inst, nil
}

// maxSleep caps one guest sleep so that a sleeping guest returns to Wasm code
// often, where wazero notices the request's deadline and stops it.
const maxSleep = 50 * time.Millisecond

// nanosleep sleeps for real (guests' time.Sleep and friends) but never
// longer than maxSleep per call.
func nanosleep(ns int64) {
	d := time.Duration(ns)
	if d > maxSleep {
		d = maxSleep
	}
	if d > 0 {
		time.Sleep(d)
	}
}

func (i *instance) close(ctx context.Context) {
	_ = i.mod.Close(ctx)
}

// lineWriter turns WASI stdout/stderr into log lines, one per '\n'.
type lineWriter struct {
	logger    Logger
	container string
	name      string
	requestID string
	level     uint32
	buf       []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := maxLogLine - len(w.buf)
			if len(b) > room {
				w.buf = append(w.buf, b[:room]...)
				w.flush()
				b = b[room:]
				continue
			}
			w.buf = append(w.buf, b...)
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.flush()
		b = b[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	if w.logger != nil {
		line := w.buf
		if len(line) > maxLogLine {
			line = line[:maxLogLine]
		}
		w.logger.Log(w.container, w.name, w.requestID, w.level, line)
	}
	w.buf = w.buf[:0]
}
