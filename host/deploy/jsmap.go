package deploy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// Positions in an ES module's translation. esbuild reprints an ES module
// as CommonJS, so its lines are not the author's. checkJS asks esbuild for
// an inline source map and replaces it with jsMapTrailer and a compact
// table the engine hands to prelude.js (guests/js), which maps every
// webtask.js:line:column of an error report back to the source.
//
// The table is JSON: one array per line of the translation, each the flat
// list genColumn, sourceLine, sourceColumn of its mapped segments (all
// 0-based, columns in UTF-16 units as esbuild counts them), in order.

// jsMapTrailer starts the last line of a translation that carries a table;
// the engine cuts the code there.
const jsMapTrailer = "\n//# wtmap="

// jsTableOf returns the trailer and table at the end of code, "" for none.
func jsTableOf(code []byte) []byte {
	if i := bytes.LastIndex(code, []byte(jsMapTrailer)); i >= 0 {
		return code[i:]
	}
	return nil
}

// inlineMapPrefix starts esbuild's inline source map comment.
var inlineMapPrefix = []byte("//# sourceMappingURL=data:application/json;base64,")

// withLineTable replaces the inline source map at the end of out (esbuild's
// translation) with the engine's table. Output without a map is returned
// as it is, cut of nothing.
func withLineTable(out []byte) []byte {
	i := bytes.LastIndex(out, inlineMapPrefix)
	if i < 0 {
		return out
	}
	code, b64 := bytes.TrimRight(out[:i], "\n"), bytes.TrimSpace(out[i+len(inlineMapPrefix):])
	raw, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		return code
	}
	var sm struct {
		Mappings string `json:"mappings"`
	}
	if json.Unmarshal(raw, &sm) != nil {
		return code
	}
	table := lineTable(sm.Mappings)
	if table == nil {
		return code
	}
	return append(append(append([]byte{}, code...), jsMapTrailer...), table...)
}

// lineTable decodes a source map's mappings (base64 VLQ) into the JSON
// table; nil when they do not decode.
func lineTable(mappings string) []byte {
	var out []byte
	out = append(out, '[', '[')
	var srcLine, srcCol, genCol, src int
	first := true
	for i := 0; i < len(mappings); {
		switch mappings[i] {
		case ';':
			out = append(out, ']', ',', '[')
			genCol, first = 0, true
			i++
			continue
		case ',':
			i++
			continue
		}
		var f [5]int
		n := 0
		for n < 5 && i < len(mappings) && mappings[i] != ',' && mappings[i] != ';' {
			v, k := vlq(mappings[i:])
			if k == 0 {
				return nil
			}
			f[n] = v
			n++
			i += k
		}
		genCol += f[0]
		if n < 4 {
			continue // a segment with no source position
		}
		src += f[1]
		srcLine += f[2]
		srcCol += f[3]
		if !first {
			out = append(out, ',')
		}
		first = false
		out = strconv.AppendInt(out, int64(genCol), 10)
		out = append(out, ',')
		out = strconv.AppendInt(out, int64(srcLine), 10)
		out = append(out, ',')
		out = strconv.AppendInt(out, int64(srcCol), 10)
	}
	return append(out, ']', ']')
}

// vlq decodes one base64 VLQ value, returning it and the characters read
// (0: invalid).
func vlq(s string) (int, int) {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	v, shift := 0, 0
	for i := 0; i < len(s) && i < 7; i++ {
		d := strings.IndexByte(b64, s[i])
		if d < 0 {
			return 0, 0
		}
		v |= (d & 31) << shift
		shift += 5
		if d&32 == 0 {
			if v&1 == 1 {
				return -(v >> 1), i + 1
			}
			return v >> 1, i + 1
		}
	}
	return 0, 0
}
