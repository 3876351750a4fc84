package deploy

import (
	"strings"
	"testing"
)

// Test_lineTable: source map mappings (base64 VLQ, relative fields) become
// the engine's absolute per-line triples.
func Test_lineTable(t *testing.T) {
	tests := []struct{ mappings, want string }{
		{"AAAA;;AACA,IAAI", "[[0,0,0],[],[0,1,0,4,1,4]]"},
		{"AAAA,EAAC;AACD", "[[0,0,0,2,0,1],[0,1,0]]"},
		{"A;AAAA", "[[],[0,0,0]]"}, // a segment without a source position is left out
		{"gBAAgB", "[[16,0,16]]"},  // multi-digit VLQ
		{"AAAA,*", ""},             // not base64
		{"", "[[]]"},
	}
	for _, tt := range tests {
		if got := string(lineTable(tt.mappings)); got != tt.want {
			t.Errorf("lineTable(%q) = %s, want %s", tt.mappings, got, tt.want)
		}
	}
}

// Test_checkJS_lineTable: an ES module's translation ends with the table,
// CommonJS runs as written without one.
func Test_checkJS_lineTable(t *testing.T) {
	out, err := checkJS([]byte("import util from 'util';\nexport default function (ctx, cb) { cb(null, util.format('%s', 1)) }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if table := jsTableOf(out); !strings.HasPrefix(string(table), jsMapTrailer+"[[") || strings.Contains(string(out), "sourceMappingURL") {
		t.Fatalf("translation without the table:\n%s", out)
	}
	cjs := "module.exports = function (ctx, cb) { cb(null, 1) }\n"
	if out, err := checkJS([]byte(cjs)); err != nil || string(out) != cjs {
		t.Fatalf("CommonJS: %v %q", err, out)
	}
}

// Fuzz_lineTable: mappings of any shape never panic.
func Fuzz_lineTable(f *testing.F) {
	f.Add("AAAA;;AACA,IAAI")
	f.Add("gBAAgB,+/+/+/+/+/+/")
	f.Fuzz(func(t *testing.T, s string) { _ = lineTable(s) })
}
