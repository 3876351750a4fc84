package experimental

import "github.com/tetratelabs/wazero/api"

// Interrupt stops a call running in mod from another goroutine: the module
// is marked closed with exitCode and the call returns a *sys.ExitError at its
// next termination check. It needs a runtime configured with
// WithCloseOnContextDone(true), whose compiled code has those checks; a call
// made with a context whose Done() is nil then runs without wazero's
// per-call watcher goroutine, and Interrupt is how the host enforces its own
// deadline. Close the module afterwards as usual.
//
// This function is a wasmtask patch to wazero v1.12.0 (see
// host/patched/README.md); upstream tracks the per-call goroutine in
// tetratelabs/wazero issue #2466.
func Interrupt(mod api.Module, exitCode uint32) {
	if m, ok := mod.(interface{ Interrupt(uint32) }); ok {
		m.Interrupt(exitCode)
	}
}
