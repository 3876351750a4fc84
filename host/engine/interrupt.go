package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// How a guest is stopped at its deadline (the design is in rewrite.go):
// the checks the rewriter adds call yield every few milliseconds of guest
// work at most, and yield traps with sys.ExitCodeDeadlineExceeded once the
// deadline has passed. No timer or goroutine is involved, which matters
// twice: a request costs no timer, and the check still happens when the Go
// runtime is stopping the world for a collection (a timer could not fire
// then, and the guest would hold the whole server).
//
// Calls run under the instance's reqCtx, whose Done channel is nil: wazero
// needs no watcher goroutine, and a request allocates no context.

// reqCtx is the context of an instance's calls, reused across its requests.
// It carries the current call for host functions, and the deadline that
// yield and sleeps honour. Only the goroutine calling the instance uses it.
type reqCtx struct {
	call     call
	deadline int64             // monotonic nanoseconds (mono); 0: none
	expired  bool              // yield stopped the call at the deadline
	depth    api.MutableGlobal // the rewriter's call depth, zeroed per call
	// initialising is set while the host runs the module's start function
	// and _initialize: the only time the source function answers. source
	// is the webtask's source then (nil: none).
	initialising bool
	source       []byte
	// library is the instance's module's library (library.go).
	library library
}

func newReqCtx() *reqCtx { return &reqCtx{} }

// monoEpoch is what deadlines are counted from. A time.Time read by
// time.Now keeps a monotonic clock reading, so a duration between two of
// them does not jump when the wall clock is stepped or slewed (by NTP, or
// by a VM's clock sync): a deadline kept as unix nanoseconds could end a
// call early or late by as much as the wall clock moved.
var monoEpoch = time.Now()

// mono is t as monotonic nanoseconds since monoEpoch (positive for any
// deadline, which is later than the package's start).
func mono(t time.Time) int64 { return int64(t.Sub(monoEpoch)) }

// monoNow is mono(time.Now()), without reading the wall clock.
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// monoTime is the time.Time of a monotonic reading, for APIs that take one.
func monoTime(n int64) time.Time { return monoEpoch.Add(time.Duration(n)) }

// run calls fn with stack under the deadline. A call stopped at the
// deadline returns a sys.ExitError with ExitCodeDeadlineExceeded (classify:
// ErrTimeout), and, as after any error, its instance is not reused.
func (r *reqCtx) run(fn api.Function, stack []uint64, deadline time.Time) error {
	r.deadline = mono(deadline)
	if r.depth != nil {
		r.depth.Set(0)
	}
	return fn.CallWithStack(r, stack)
}

// Deadline implements context.Context; the deadline is enforced by the
// budget checks, not through the context.
func (r *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: nil, the call cannot be cancelled
// through the context.
func (r *reqCtx) Done() <-chan struct{} { return nil }

// Err implements context.Context.
func (r *reqCtx) Err() error {
	if r.expired {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context: only the call is stored.
func (r *reqCtx) Value(key any) any {
	if _, ok := key.(callKey); ok && r.call.req != nil {
		return &r.call
	}
	return nil
}

// sleep sleeps for a guest (WASI poll_oneoff): for real, but never past
// the deadline, and at most maxSleep per call so a sleeping guest returns
// to its budget checks often.
func (r *reqCtx) sleep(ns int64) {
	d := min(time.Duration(ns), maxSleep)
	if r.deadline != 0 {
		d = min(d, time.Duration(r.deadline-monoNow()))
	}
	if d > 0 {
		r.call.away(r, func() { time.Sleep(d) }) // a sleeping guest holds no slot
	}
}

// maxSleep caps one guest sleep.
const maxSleep = 50 * time.Millisecond

// rtModule builds, in rt, the module of the host's runtime functions,
// imported only by the rewriter's checks.
func (e *Engine) rtModule(rt wazero.Runtime) wazero.HostModuleBuilder {
	b := rt.NewHostModuleBuilder(rtModule)
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostYield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(yieldName)
	limit := e.cfg.CodeLimits.MaxStackBytes
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {
			panic(&stackOverflow{limit: limit})
		}), nil, nil).
		Export(overflowName)
	return b
}

// hostYield is called by a guest whose budget is spent: it traps once the
// deadline has passed, and otherwise refills the budget. Being a Go call, it
// is also where the Go runtime can preempt a long-running guest.
func hostYield(ctx context.Context, _ api.Module, stack []uint64) {
	checkDeadline(ctx)
	stack[0] = budgetRefill
}

// largeCopy is the size from which a host function that copies data into
// the guest checks the deadline itself: the rewriter charges a host call a
// small fixed weight, so a loop of large copies would otherwise be noticed
// late.
const largeCopy = 64 << 10

// checkDeadline stops the call once its deadline has passed.
func checkDeadline(ctx context.Context) {
	if r, ok := ctx.(*reqCtx); ok && r != nil && r.deadline != 0 && monoNow() >= r.deadline {
		r.expired = true
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
}

// deadlineReader is a guest's random source (WASI random_get): crypto/rand,
// with the deadline checked before large reads.
type deadlineReader struct{ rc *reqCtx }

func (d deadlineReader) Read(p []byte) (int, error) {
	if len(p) >= largeCopy {
		checkDeadline(d.rc)
	}
	return rand.Read(p)
}

// stackOverflow is the trap of a guest whose calls nest past
// CodeLimits.MaxStackBytes.
type stackOverflow struct{ limit int }

func (e *stackOverflow) Error() string {
	return fmt.Sprintf("call stack exhausted: frames deeper than about %d MiB (runaway recursion?)", e.limit>>20)
}
