package wasmtask

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// The simple model's results are encoded by an encoder compiled from the
// result's type when HandleSimple registers the handler, instead of by
// encoding/json: the output is the same bytes Encoder writes (HTML
// escaping on, no newline), but encoding/json walks the value by
// reflection on every request, which compiled to Wasm costs a Go hello
// ~2.5 µs of its ~3 µs, and boxing the result into an interface allocates.
// A compiled encoder reads the value in place through its field offsets
// and allocates nothing for structs, slices, pointers and scalars.
//
// Only what is simple to match exactly is compiled: booleans, numbers,
// strings, pointers, slices (not of bytes, which encoding/json writes as
// base64), arrays, maps with string keys, and structs of exported fields
// whose tags use only a name and omitempty. A type that holds anything
// else — an interface, an embedded field, a type with its own MarshalJSON
// or MarshalText, a recursive type, a ",string" or ",omitzero" option —
// is encoded by encoding/json as before, and so is a value holding a NaN
// or an infinity (to get encoding/json's error).

// encodeFunc appends the JSON of the value at p.
type encodeFunc func(b []byte, p unsafe.Pointer) []byte

// compileJSON returns the encoder of t's values, or nil when encoding/json
// must encode them (see above).
func compileJSON(t reflect.Type) encodeFunc {
	c := jsonCompiler{open: map[reflect.Type]bool{}}
	return c.compile(t)
}

// jsonCompiler compiles one type; open holds the types being compiled,
// so that a recursive type is refused instead of compiled forever.
type jsonCompiler struct{ open map[reflect.Type]bool }

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// unsupportedJSON is the panic of an encoder meeting a value encoding/json
// refuses (NaN, ±Inf); encodeJSON recovers it.
type unsupportedJSON struct{}

func (c *jsonCompiler) compile(t reflect.Type) encodeFunc {
	pt := reflect.PointerTo(t)
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler) {
		return nil
	}
	if c.open[t] {
		return nil
	}
	c.open[t] = true
	defer delete(c.open, t)
	switch t.Kind() {
	case reflect.Bool:
		return func(b []byte, p unsafe.Pointer) []byte { return strconv.AppendBool(b, *(*bool)(p)) }
	case reflect.Int:
		return appendIntAt[int]
	case reflect.Int8:
		return appendIntAt[int8]
	case reflect.Int16:
		return appendIntAt[int16]
	case reflect.Int32:
		return appendIntAt[int32]
	case reflect.Int64:
		return appendIntAt[int64]
	case reflect.Uint:
		return appendUintAt[uint]
	case reflect.Uint8:
		return appendUintAt[uint8]
	case reflect.Uint16:
		return appendUintAt[uint16]
	case reflect.Uint32:
		return appendUintAt[uint32]
	case reflect.Uint64:
		return appendUintAt[uint64]
	case reflect.Uintptr:
		return appendUintAt[uintptr]
	case reflect.Float32:
		return func(b []byte, p unsafe.Pointer) []byte { return appendJSONFloat(b, float64(*(*float32)(p)), 32) }
	case reflect.Float64:
		return func(b []byte, p unsafe.Pointer) []byte { return appendJSONFloat(b, *(*float64)(p), 64) }
	case reflect.String:
		return func(b []byte, p unsafe.Pointer) []byte { return appendJSONString(b, *(*string)(p)) }
	case reflect.Pointer:
		elem := c.compile(t.Elem())
		if elem == nil {
			return nil
		}
		return func(b []byte, p unsafe.Pointer) []byte {
			q := *(*unsafe.Pointer)(p)
			if q == nil {
				return append(b, "null"...)
			}
			return elem(b, q)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // base64
		}
		return c.compileSlice(t)
	case reflect.Array:
		elem := c.compile(t.Elem())
		if elem == nil {
			return nil
		}
		n, size := t.Len(), t.Elem().Size()
		return func(b []byte, p unsafe.Pointer) []byte { return appendJSONArray(b, elem, p, n, size) }
	case reflect.Map:
		return c.compileMap(t)
	case reflect.Struct:
		return c.compileStruct(t)
	}
	return nil // interfaces, complex numbers, channels, functions
}

func (c *jsonCompiler) compileSlice(t reflect.Type) encodeFunc {
	elem := c.compile(t.Elem())
	if elem == nil {
		return nil
	}
	size := t.Elem().Size()
	return func(b []byte, p unsafe.Pointer) []byte {
		data, n := *(*unsafe.Pointer)(p), *(*int)(unsafe.Add(p, unsafe.Sizeof(uintptr(0))))
		if data == nil {
			return append(b, "null"...)
		}
		return appendJSONArray(b, elem, data, n, size)
	}
}

// appendJSONArray writes the n elements of size bytes from data, each by
// elem, as a JSON array.
func appendJSONArray(b []byte, elem encodeFunc, data unsafe.Pointer, n int, size uintptr) []byte {
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, unsafe.Add(data, uintptr(i)*size))
	}
	return append(b, ']')
}

// appendIntAt and appendUintAt write the integer of type T at p.
func appendIntAt[T int | int8 | int16 | int32 | int64](b []byte, p unsafe.Pointer) []byte {
	return strconv.AppendInt(b, int64(*(*T)(p)), 10)
}

func appendUintAt[T uint | uint8 | uint16 | uint32 | uint64 | uintptr](b []byte, p unsafe.Pointer) []byte {
	return strconv.AppendUint(b, uint64(*(*T)(p)), 10)
}

// compileMap compiles a map with string keys, written in key order as
// encoding/json does. It goes through reflect (a map has no layout to read
// in place), so it allocates.
func (c *jsonCompiler) compileMap(t reflect.Type) encodeFunc {
	if t.Key().Kind() != reflect.String {
		return nil
	}
	elem := c.compile(t.Elem())
	if elem == nil {
		return nil
	}
	return func(b []byte, p unsafe.Pointer) []byte {
		m := reflect.NewAt(t, p).Elem()
		if m.IsNil() {
			return append(b, "null"...)
		}
		keys := m.MapKeys()
		slices.SortFunc(keys, func(x, y reflect.Value) int { return strings.Compare(x.String(), y.String()) })
		v := reflect.New(t.Elem()).Elem()
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, k.String()), ':')
			v.Set(m.MapIndex(k))
			b = elem(b, v.Addr().UnsafePointer())
		}
		return append(b, '}')
	}
}

// jsonField is a struct field to encode: its offset, its key with the
// colon, its encoder and, for omitempty, its emptiness test.
type jsonField struct {
	offset uintptr
	key    []byte
	encode encodeFunc
	empty  func(p unsafe.Pointer) bool
}

func (c *jsonCompiler) compileStruct(t reflect.Type) encodeFunc {
	var fields []jsonField
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			return nil // embedded fields promote theirs by rules not worth copying
		}
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		omitEmpty := false
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "":
			case "omitempty":
				omitEmpty = true
			default:
				return nil // string, omitzero, or one encoding/json may learn
			}
		}
		if !validJSONTagName(name) {
			name = f.Name
		}
		if names[name] {
			return nil // two fields of one name: encoding/json drops both
		}
		names[name] = true
		enc := c.compile(f.Type)
		if enc == nil {
			return nil
		}
		jf := jsonField{offset: f.Offset, key: append(appendJSONString(nil, name), ':'), encode: enc}
		if omitEmpty {
			jf.empty = emptyTest(f.Type)
		}
		fields = append(fields, jf)
	}
	return func(b []byte, p unsafe.Pointer) []byte {
		b = append(b, '{')
		first := true
		for i := range fields {
			f := &fields[i]
			q := unsafe.Add(p, f.offset)
			if f.empty != nil && f.empty(q) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = f.encode(append(b, f.key...), q)
		}
		return append(b, '}')
	}
}

// emptyTest is omitempty's test for a field of type t: false, 0, "", a nil
// pointer, an empty slice, map or array. A struct is never empty.
func emptyTest(t reflect.Type) func(p unsafe.Pointer) bool {
	switch t.Kind() {
	case reflect.Bool:
		return func(p unsafe.Pointer) bool { return !*(*bool)(p) }
	case reflect.String:
		return func(p unsafe.Pointer) bool { return len(*(*string)(p)) == 0 }
	case reflect.Pointer:
		return func(p unsafe.Pointer) bool { return *(*unsafe.Pointer)(p) == nil }
	case reflect.Slice:
		return func(p unsafe.Pointer) bool { return *(*int)(unsafe.Add(p, unsafe.Sizeof(uintptr(0)))) == 0 }
	case reflect.Map:
		return func(p unsafe.Pointer) bool { return reflect.NewAt(t, p).Elem().Len() == 0 }
	case reflect.Array:
		n := t.Len()
		return func(unsafe.Pointer) bool { return n == 0 }
	case reflect.Float32:
		return func(p unsafe.Pointer) bool { return *(*float32)(p) == 0 }
	case reflect.Float64:
		return func(p unsafe.Pointer) bool { return *(*float64)(p) == 0 }
	case reflect.Struct:
		return nil
	}
	// Integers: zero when every byte is.
	size := t.Size()
	return func(p unsafe.Pointer) bool {
		for _, c := range unsafe.Slice((*byte)(p), size) {
			if c != 0 {
				return false
			}
		}
		return true
	}
}

// validJSONTagName reports whether encoding/json takes name from a tag
// (else it uses the field's name): letters, digits and punctuation other
// than backslash and quotes.
func validJSONTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", r) && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// appendJSONFloat writes f as encoding/json does: the shortest decimal that
// reads back as f, in exponent form below 1e-6 and from 1e21, with a
// one-digit negative exponent not padded (1e-7, not 1e-07).
func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		panic(unsupportedJSON{})
	}
	format := byte('f')
	if a := math.Abs(f); a != 0 {
		if bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, f, format, -1, bits)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// appendJSONString writes s quoted as encoding/json's Encoder does with
// HTML escaping (its default): quote and backslash escaped, \b \f \n \r \t
// by name, other control characters and < > & as \u00XX, invalid UTF-8 as
// \ufffd, and U+2028, U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
