package engine

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// How a guest is stopped at its deadline (the design is in rewrite.go):
// every function entry and loop header of a rewritten module spends from
// the instance's budget global, and calls yield when it is spent. The
// instance's timer sets the budget to zero at the deadline, so the guest
// enters yield at its next check, and yield traps with
// sys.ExitCodeDeadlineExceeded. Yield also traps when the deadline has
// passed by the clock, in case the timer's store raced with the guest's own
// update of the budget.
//
// Calls run under the instance's reqCtx, whose Done channel is nil: wazero
// needs no watcher goroutine, and a request allocates no context or timer.

// reqCtx is the context of an instance's calls, reused across its requests.
// It carries the current call for host functions, and the deadline that
// yield and sleeps honour.
type reqCtx struct {
	call     call
	budget   api.MutableGlobal
	deadline int64       // unix nanoseconds; read only by the calling goroutine
	armed    atomic.Bool // a call is running and the timer may interrupt it
	expired  atomic.Bool // the timer fired: the instance is spent
	timer    *time.Timer
}

func newReqCtx() *reqCtx {
	r := &reqCtx{}
	r.timer = time.AfterFunc(time.Hour, r.expire)
	r.timer.Stop()
	return r
}

// expire runs on the timer's goroutine at the deadline.
func (r *reqCtx) expire() {
	if !r.armed.Load() { // orders this goroutine after the instance's creation
		return
	}
	r.expired.Store(true)
	r.budget.Set(0)
}

// run calls fn with stack under the deadline. expired reports that the
// deadline passed, in which case the instance must not be reused.
func (r *reqCtx) run(fn api.Function, stack []uint64, deadline time.Time, expired *bool) error {
	r.deadline = deadline.UnixNano()
	r.armed.Store(true)
	r.timer.Reset(time.Until(deadline))
	err := fn.CallWithStack(r, stack)
	*expired = !r.timer.Stop() || r.expired.Load()
	return err
}

// Deadline implements context.Context; the deadline is enforced by the
// budget checks, not through the context.
func (r *reqCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: nil, the call cannot be cancelled
// through the context.
func (r *reqCtx) Done() <-chan struct{} { return nil }

// Err implements context.Context.
func (r *reqCtx) Err() error {
	if r.expired.Load() {
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
		d = min(d, time.Until(time.Unix(0, r.deadline)))
	}
	if d > 0 {
		time.Sleep(d)
	}
}

// maxSleep caps one guest sleep.
const maxSleep = 50 * time.Millisecond

// rtModule builds the module of the host's runtime functions, imported only
// by the rewriter's checks.
func (e *Engine) rtModule() wazero.HostModuleBuilder {
	return e.rt.NewHostModuleBuilder(rtModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostYield), nil, []api.ValueType{api.ValueTypeI32}).
		Export(yieldName)
}

// hostYield is called by a guest whose budget is spent: it traps once the
// deadline has passed, and otherwise refills the budget. Being a Go call, it
// is also where the Go runtime can preempt a long-running guest.
func hostYield(ctx context.Context, _ api.Module, stack []uint64) {
	if r, ok := ctx.(*reqCtx); ok && (r.expired.Load() || r.deadline != 0 && time.Now().UnixNano() >= r.deadline) {
		panic(sys.NewExitError(sys.ExitCodeDeadlineExceeded))
	}
	stack[0] = budgetRefill
}
