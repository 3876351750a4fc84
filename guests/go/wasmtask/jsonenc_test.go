package wasmtask

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// stdJSON is what encoding/json's Encoder writes for v, without its newline.
func stdJSON(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// compiledJSON encodes the value at p (of type t) with the compiled encoder.
func compiledJSON(t testing.TB, typ reflect.Type, p unsafe.Pointer) (string, bool) {
	t.Helper()
	enc := compileJSON(typ)
	if enc == nil {
		t.Fatalf("%v is not compiled", typ)
	}
	b, ok := encodeJSON(enc, nil, p)
	return string(b), ok
}

// same checks that the compiled encoder of T writes what encoding/json does.
func same[T any](t *testing.T, v T) {
	t.Helper()
	got, ok := compiledJSON(t, reflect.TypeFor[T](), unsafe.Pointer(&v))
	if want := stdJSON(t, v); !ok || got != want {
		t.Errorf("%T %#v:\n got %s (ok %v)\nwant %s", v, v, got, ok, want)
	}
}

type (
	jsonInner struct {
		N int     `json:"n"`
		F float32 `json:"f,omitempty"`
	}
	jsonAll struct {
		B       bool              `json:"b"`
		I       int               `json:"i"`
		I8      int8              `json:"i8"`
		I16     int16             `json:"i16"`
		I32     int32             `json:"i32"`
		I64     int64             `json:"i64"`
		U       uint              `json:"u"`
		U8      uint8             `json:"u8"`
		U16     uint16            `json:"u16"`
		U32     uint32            `json:"u32"`
		U64     uint64            `json:"u64"`
		UP      uintptr           `json:"up"`
		F32     float32           `json:"f32"`
		F64     float64           `json:"f64"`
		S       string            `json:"s"`
		Untaged string            //
		Renamed string            `json:"other-name"`
		Odd     string            `json:"a\\b"` // not a valid tag name: the field's name
		Skip    string            `json:"-"`
		Dash    string            `json:"-,"` // named "-"
		hidden  string            //
		P       *jsonInner        `json:"p"`
		PP      **int             `json:"pp"`
		Sl      []jsonInner       `json:"sl"`
		SlP     []*string         `json:"slp"`
		Arr     [3]int8           `json:"arr"`
		Bytes4  [4]byte           `json:"bytes4"`
		M       map[string]int    `json:"m"`
		MS      map[jsonKey][]int `json:"ms"`
		In      jsonInner         `json:"in"`
		Empty   struct{}          `json:"empty"`
		Named   jsonKey           `json:"named"`
	}
	jsonKey  string
	jsonOmit struct {
		B  bool           `json:"b,omitempty"`
		I  int            `json:"i,omitempty"`
		U8 uint8          `json:"u8,omitempty"`
		F  float64        `json:"f,omitempty"`
		S  string         `json:"s,omitempty"`
		P  *int           `json:"p,omitempty"`
		Sl []int          `json:"sl,omitempty"`
		M  map[string]int `json:"m,omitempty"`
		A0 [0]int         `json:"a0,omitempty"`
		A1 [1]int         `json:"a1,omitempty"`
		St jsonInner      `json:"st,omitempty"`
	}
)

func TestCompileJSON_SameAsEncodingJSON(t *testing.T) {
	one, s := 1, "<x>"
	pone := &one
	same(t, jsonAll{})
	same(t, jsonAll{
		B: true, I: -1 << 62, I8: -128, I16: -32768, I32: math.MinInt32, I64: math.MinInt64,
		U: math.MaxUint, U8: 255, U16: 65535, U32: math.MaxUint32, U64: math.MaxUint64, UP: 7,
		F32: 3.14159, F64: -2.5e-300, S: "tab\there \"quoted\" \\ <b>&amp;</b> \u2028\u2029 é 日本 \x00\x1f\x7f\b\f\r\n",
		Untaged: "u", Renamed: "r", Odd: "o", Skip: "never", Dash: "d", hidden: "h",
		P: &jsonInner{N: 5, F: 0.1}, PP: &pone, Sl: []jsonInner{{N: 1}, {N: 2, F: 1e21}}, SlP: []*string{nil, &s},
		Arr: [3]int8{1, -2, 3}, Bytes4: [4]byte{1, 2, 3, 4},
		M: map[string]int{"z": 1, "a": 2, "<&>": 3, "": 4}, MS: map[jsonKey][]int{"k": {1}, "j": nil},
		In: jsonInner{N: -9}, Named: "n",
	})
	same(t, jsonAll{Sl: []jsonInner{}, SlP: []*string{}, M: map[string]int{}, MS: map[jsonKey][]int{}})
	same(t, jsonOmit{})
	same(t, jsonOmit{B: true, I: -1, U8: 1, F: -0.5, S: " ", P: new(int), Sl: []int{}, M: map[string]int{}, A1: [1]int{0}})
	same(t, jsonOmit{Sl: []int{0}, M: map[string]int{"a": 0}, St: jsonInner{}})
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 9.999e-7, 1e-7, 1e20, 1e21, 123456789e15, math.MaxFloat64, math.SmallestNonzeroFloat64, 1 << 53, 5e-324} {
		same(t, f)
		if !math.IsInf(float64(float32(f)), 0) {
			same(t, float32(f))
		}
	}
	same(t, "")
	same(t, []string(nil))
	same(t, []int{1, 2, 3})
	same(t, map[string]*jsonInner{"a": nil, "b": {N: 1}})
	same(t, (*jsonInner)(nil))
	same(t, [0]int{})
	same(t, [][]string{{"a"}, nil, {}})
}

func TestCompileJSON_Refused(t *testing.T) {
	type (
		withAny    struct{ V any }
		embedded   struct{ jsonInner }
		withString struct {
			N int `json:"n,string"`
		}
		withOmitZero struct {
			N int `json:"n,omitzero"`
		}
		twice struct {
			A int `json:"X"`
			X int
		}
		recursive  struct{ Next *recursive }
		withTime   struct{ T time.Time }
		withBytes  struct{ B []byte }
		withIntMap struct{ M map[int]string }
	)
	for _, typ := range []reflect.Type{
		reflect.TypeFor[any](), reflect.TypeFor[withAny](), reflect.TypeFor[embedded](),
		reflect.TypeFor[withString](), reflect.TypeFor[withOmitZero](), reflect.TypeFor[twice](),
		reflect.TypeFor[recursive](), reflect.TypeFor[withTime](), reflect.TypeFor[withBytes](),
		reflect.TypeFor[withIntMap](), reflect.TypeFor[json.RawMessage](), reflect.TypeFor[complex128](),
		reflect.TypeFor[chan int](), reflect.TypeFor[func()](), reflect.TypeFor[map[string]any](),
	} {
		if compileJSON(typ) != nil {
			t.Errorf("%v is compiled; encoding/json must encode it", typ)
		}
	}
}

// A NaN or an infinity is refused as encoding/json refuses it, wherever it is.
func TestCompileJSON_Unsupported(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		v := jsonAll{Sl: []jsonInner{{N: 1}, {F: float32(f)}}}
		if out, ok := compiledJSON(t, reflect.TypeFor[jsonAll](), unsafe.Pointer(&v)); ok {
			t.Errorf("%v: encoded as %s", f, out)
		}
	}
}

// Any string, and any number, is written as encoding/json writes it.
func FuzzCompileJSON(f *testing.F) {
	f.Add("hello, world", 1.5)
	f.Add("<script>\u2028\xff\xfe</script>", 1e-7)
	f.Add("\x00\"\\\t", -0.0)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(float64(float32(x)), 0) {
			return
		}
		same(t, struct {
			S string `json:"s"`
			M map[string]float64
			F float32
		}{S: s, M: map[string]float64{s: x}, F: float32(x)})
	})
}

// The compiled encoder allocates nothing for a struct of scalars, strings,
// slices and pointers.
func TestCompileJSON_NoAllocs(t *testing.T) {
	v := jsonInner{N: 1, F: 2}
	w := struct {
		S  string
		P  *jsonInner
		Sl []jsonInner
	}{"s", &v, []jsonInner{v, v}}
	enc := compileJSON(reflect.TypeOf(w))
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _, _ = encodeJSON(enc, buf, unsafe.Pointer(&w)) }); n != 0 {
		t.Errorf("%v allocations an encoding", n)
	}
}

func BenchmarkSimpleResult(b *testing.B) {
	type greeting struct {
		Message string `json:"message"`
	}
	v := greeting{Message: "hello, world"}
	b.Run("compiled", func(b *testing.B) {
		enc, buf := compileJSON(reflect.TypeOf(v)), make([]byte, 0, 64)
		for b.Loop() {
			buf, _ = encodeJSON(enc, buf[:0], unsafe.Pointer(&v))
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for b.Loop() {
			buf.Reset()
			_ = enc.Encode(v)
		}
	})
}
