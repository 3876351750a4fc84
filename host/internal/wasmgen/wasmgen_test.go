package wasmgen

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// newRuntime returns the runtime configuration the host uses.
func newRuntime(t *testing.T) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	t.Cleanup(func() { _ = rt.Close(ctx) })
	return rt
}

// checkGuest compiles wasm, checks the exports a wasmtask guest needs,
// instantiates it and checks that wt_handle returns 0.
func checkGuest(t *testing.T, rt wazero.Runtime, wasm []byte) {
	t.Helper()
	ctx := context.Background()
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	defer cm.Close(ctx)
	if len(cm.ImportedFunctions()) != 0 || len(cm.ImportedMemories()) != 0 {
		t.Fatalf("module imports something")
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		t.Fatalf("memory not exported")
	}
	fd, ok := cm.ExportedFunctions()["wt_handle"]
	if !ok {
		t.Fatalf("wt_handle not exported")
	}
	if len(fd.ParamTypes()) != 0 || len(fd.ResultTypes()) != 1 || fd.ResultTypes()[0] != api.ValueTypeI32 {
		t.Fatalf("wt_handle has type %v -> %v, want () -> i32", fd.ParamTypes(), fd.ResultTypes())
	}
	mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	defer mod.Close(ctx)
	res, err := mod.ExportedFunction("wt_handle").Call(ctx)
	if err != nil {
		t.Fatalf("wt_handle: %v", err)
	}
	if res[0] != 0 {
		t.Fatalf("wt_handle returned %d, want 0", res[0])
	}
}

func TestGeneratorsCompile(t *testing.T) {
	rt := newRuntime(t)
	cases := []struct {
		name string
		wasm []byte
	}{
		{"Minimal", Minimal()},
		{"NestedBlocks/0", NestedBlocks(0)},
		{"NestedBlocks/100", NestedBlocks(100)},
		{"NestedLoops/100", NestedLoops(100)},
		{"BrTable/0", BrTable(0)},
		{"BrTable/1000", BrTable(1000)},
		{"HugeFunction/0", HugeFunction(0)},
		{"HugeFunction/4096", HugeFunction(4096)},
		{"LiveValues/200", LiveValues(200)},
		{"ManyFunctions/0", ManyFunctions(0)},
		{"ManyFunctions/200", ManyFunctions(200)},
		{"Repeat/blocks", Repeat(100, []byte{OpBlock, BlockEmpty, OpEnd})},
		{"Repeat/br_if", Repeat(100, []byte{OpLocalGet, 0, OpBrIf, 0})},
		{"Repeat/if", Repeat(100, []byte{OpLocalGet, 0, OpIf, BlockEmpty, OpEnd})},
		{"Repeat/0", Repeat(0, nil)},
		{"ManyLocals/0", ManyLocals(0)},
		{"ManyLocals/1000", ManyLocals(1000)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkGuest(t, rt, c.wasm) })
	}
}

func TestModuleEncodeWithImport(t *testing.T) {
	m := Guest(nil, []byte{OpCall, 0}) // wt_handle returns what the import returns
	m.Imports = []Import{{Module: "env", Name: "answer", Type: 0}}
	m.Exports[1].Index = 1 // wt_handle is function 1 after the import
	ctx := context.Background()
	rt := newRuntime(t)
	if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func() int32 { return 42 }).Export("answer").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("wt_handle").Call(ctx)
	if err != nil || res[0] != 42 {
		t.Fatalf("wt_handle = %v, %v; want 42", res, err)
	}
}

// codeEntrySizes returns the size fields of the code section's entries.
func codeEntrySizes(t *testing.T, wasm []byte) []uint64 {
	t.Helper()
	r := bytes.NewReader(wasm[8:])
	for r.Len() > 0 {
		id, _ := r.ReadByte()
		size := readULEB(t, r)
		if id != 10 {
			_, _ = r.Seek(int64(size), 1)
			continue
		}
		n := readULEB(t, r)
		sizes := make([]uint64, n)
		for i := range sizes {
			sizes[i] = readULEB(t, r)
			_, _ = r.Seek(int64(sizes[i]), 1)
		}
		return sizes
	}
	t.Fatal("no code section")
	return nil
}

func readULEB(t *testing.T, r *bytes.Reader) uint64 {
	t.Helper()
	var v uint64
	for shift := 0; ; shift += 7 {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v
		}
	}
}

func TestHugeFunctionSize(t *testing.T) {
	for _, n := range []int{0, 13, 14, 100, 1000, 65536} {
		got := codeEntrySizes(t, HugeFunction(n))
		want := uint64(max(n, 13))
		if len(got) != 1 || got[0] != want {
			t.Errorf("HugeFunction(%d): code entries %v, want [%d]", n, got, want)
		}
	}
}

func TestSizes(t *testing.T) {
	if got := codeEntrySizes(t, ManyFunctions(10)); len(got) != 11 {
		t.Errorf("ManyFunctions(10) has %d code entries, want 11", len(got))
	}
	// depth blocks, depth ends, i32.const 0, end, plus the empty locals vector.
	if got := codeEntrySizes(t, NestedBlocks(1000)); got[0] != 3*1000+4 {
		t.Errorf("NestedBlocks(1000) body is %d bytes, want %d", got[0], 3*1000+4)
	}
	if got := len(ManyLocals(1 << 31)); got > 64 {
		t.Errorf("ManyLocals(1<<31) is %d bytes, want a tiny module", got)
	}
}

func TestTooManyLocalsRejected(t *testing.T) {
	// Two entries summing to 2^32 locals: wazero rejects the sum before it
	// allocates anything.
	_, err := newRuntime(t).CompileModule(context.Background(), ManyLocals(math.MaxUint32+1))
	if err == nil || !strings.Contains(err.Error(), "too many locals") {
		t.Fatalf("err = %v, want too many locals", err)
	}
}

func TestLEB128(t *testing.T) {
	for _, c := range []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0}}, {127, []byte{0x7f}}, {128, []byte{0x80, 0x01}},
		{624485, []byte{0xe5, 0x8e, 0x26}}, {math.MaxUint32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	} {
		if got := AppendULEB128(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("AppendULEB128(%d) = %x, want %x", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}}, {-1, []byte{0x7f}},
		{-64, []byte{0x40}}, {-65, []byte{0xbf, 0x7f}}, {-123456, []byte{0xc0, 0xbb, 0x78}},
	} {
		if got := AppendSLEB128(nil, c.v); !bytes.Equal(got, c.want) {
			t.Errorf("AppendSLEB128(%d) = %x, want %x", c.v, got, c.want)
		}
	}
}

func TestLyingCounts(t *testing.T) {
	// Not compiled: wazero would try to allocate count entries (see LyingCount).
	want := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 10, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}
	if got := LyingCount(10, math.MaxUint32); !bytes.Equal(got, want) {
		t.Errorf("LyingCount(10, MaxUint32) = %x, want %x", got, want)
	}
	want = []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0, 8, 4, 'n', 'a', 'm', 'e', 1, 1, 7}
	if got := LyingNameCount(7); !bytes.Equal(got, want) {
		t.Errorf("LyingNameCount(7) = %x, want %x", got, want)
	}
	// A small lying count is harmless to wazero and is refused as truncated.
	if _, err := newRuntime(t).CompileModule(context.Background(), LyingCount(3, 1000)); err == nil {
		t.Error("a function section that declares 1000 entries and holds none compiled")
	}
}

func TestHandBuiltModule(t *testing.T) {
	// Header and AppendSection rebuild what Minimal encodes.
	m := Guest(nil, returnZero)
	full := m.Encode()
	if !bytes.HasPrefix(full, Header()) {
		t.Fatal("Encode does not start with Header")
	}
	if got := AppendSection(Header(), 1, []byte{1, 0x60, 0, 1, 0x7f}); !bytes.HasPrefix(full, got) {
		t.Errorf("type section %x is not a prefix of %x", got, full)
	}
}
