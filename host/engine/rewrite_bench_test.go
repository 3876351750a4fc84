package engine

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// loopHeavyWAT has the two shapes of work the budget checks cost most on:
// a tight loop (a check per iteration) and recursion (a check per call).
const loopHeavyWAT = `(module
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "loop") (param $n i32) (result i32)
    (local $sum i32)
    (loop $l
      (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $n) (local.get $n))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $sum))
  (func (export "fib") (param $n i32) (result i32) (call $fib (local.get $n)))
  (func (export "wt_handle") (result i32) (i32.const 0)))`

// BenchmarkInstrumentation compares the same loop-heavy code compiled
// three ways: as is ("none": no way to stop it), with wazero's own
// termination checks ("wazero-close-on-done", what the host used before the
// rewriter) and rewritten with the host's budget checks ("budget"):
//
//	go test -run '^$' -bench Instrumentation ./host/engine/
func BenchmarkInstrumentation(b *testing.B) {
	ctx := context.Background()
	src := wat(b, loopHeavyWAT)
	rw, err := rewrite(src, DefaultCodeLimits())
	if err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, Config{})
	plain := func(close bool) wazero.Runtime {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
			WithCoreFeatures(api.CoreFeaturesV2).WithCloseOnContextDone(close))
		b.Cleanup(func() { rt.Close(ctx) })
		return rt
	}
	variants := []struct {
		name string
		rt   wazero.Runtime
		code []byte
	}{
		{"none", plain(false), src},
		{"wazero-close-on-done", plain(true), src},
		{"budget", e.rt, rw.code},
	}
	for _, work := range []struct {
		fn  string
		arg uint64
	}{{"loop", 1_000_000}, {"fib", 25}} {
		for _, v := range variants {
			b.Run(work.fn+"/"+v.name, func(b *testing.B) {
				cm, err := v.rt.CompileModule(ctx, v.code)
				if err != nil {
					b.Fatal(err)
				}
				m, err := v.rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close(ctx)
				fn := m.ExportedFunction(work.fn)
				stack := []uint64{work.arg}
				for b.Loop() {
					stack[0] = work.arg
					if err := fn.CallWithStack(ctx, stack); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
