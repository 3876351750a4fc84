package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/engine"
)

// Test_checkJS: what esbuild's check at upload accepts, refuses and runs.
// No engine needed.
func Test_checkJS(t *testing.T) {
	const cjs = "module.exports = function (ctx, cb) {\n  cb(null, ctx.query);\n};\n"
	tests := []struct {
		name, src string
		err       string // a part of the error's message; "" for none
		asWritten bool   // the engine runs the source itself
		runHas    string // a part of the code the engine runs
	}{
		{name: "CommonJS runs as written", src: cjs, asWritten: true},
		{name: "use latest, modern syntax", src: "'use latest';\nconst f = async ({query: {a = 1} = {}}) => a ?? 2;\nmodule.exports = (ctx, cb) => f(ctx).then(v => cb(null, v));\n", asWritten: true},
		{name: "bare function, the original platform's", src: "function (ctx, cb) { cb(null, 1) }", asWritten: true},
		{name: "only a comment that says import", src: "// import nothing\n", asWritten: true},
		{name: "export default", src: "export default function (ctx, cb) { cb(null, 1) }\n", runHas: "module.exports = __toCommonJS("},
		{name: "export default async, no import", src: "export default async function (ctx) { return {a: 1} }\n", runHas: "__esModule"},
		{name: "syntax error: line and column", src: "module.exports = function (ctx, cb) {\n  cb(null, {a: });\n};\n",
			err: `the JavaScript code does not load: SyntaxError: Unexpected "}" (webtask.js:2:16)`},
		{name: "syntax error: column in characters", src: "var s = 'żółw'; var = 1;\n", err: "(webtask.js:1:21)"},
		{name: "bare function with a syntax error", src: "function (ctx, cb) { cb(null, {a: }) }", err: "SyntaxError: "},
		{name: "an unknown require", src: "var x = require('left-pad');\n" + cjs, err: `requires "left-pad", which is not a built-in module of this server (the built-in modules: body-parser, buffer, crypto, events, express, jsonwebtoken, querystring, request, timers, url, util, webtask-tools; GET /api/js/modules lists them)`},
		{name: "require in a comment is not a require", src: "// require('left-pad')\n/* require(\"x\") */\n" + cjs, asWritten: true},
		{name: "a relative require", src: "require('./lib');\n" + cjs, err: `requires "./lib"`},
		{name: "an unknown require in a bare function", src: "function (ctx, cb) { cb(null, require('fs')) }", err: `requires "fs"`},
		{name: "seed 004: import mixed with module.exports", src: "'use latest';\nimport bodyParser from 'body-parser';\nimport express from 'express';\nmodule.exports = express;\n"},
		{name: "a module that is not built in", src: "import left from 'left-pad';\nmodule.exports = left;\n", err: `requires "left-pad"`},
		{name: "a dynamic import", src: "module.exports = async function (ctx) { return import('x') }\n", err: `requires "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := checkJS([]byte(tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalidModule) {
					t.Fatalf("err = %v; want ErrInvalidModule with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(run) == tt.src; got != tt.asWritten {
				t.Fatalf("runs as written = %v, want %v:\n%s", got, tt.asWritten, run)
			}
			if !strings.Contains(string(run), tt.runHas) {
				t.Fatalf("runs %s; want it to contain %q", run, tt.runHas)
			}
			if again, err := runnableJS([]byte(tt.src)); err != nil || string(again) != string(run) {
				t.Fatalf("at load: %v, %s; want what the upload ran", err, again)
			}
		})
	}
}

// Test_JSModules: a "node:" prefix names the same module; other names are not modules.
func Test_JSModules(t *testing.T) {
	if m := JSModules(); m == nil || len(m) != len(jsModules) {
		t.Fatalf("JSModules() = %#v", m)
	}
	for _, m := range jsModules {
		if !jsModule(m) || !jsModule("node:"+m) {
			t.Errorf("%s is not a module", m)
		}
	}
	for _, m := range []string{"fs", "left-pad", "node:child_process", "lib/express.js", ""} {
		if jsModule(m) {
			t.Errorf("%q is a module", m)
		}
	}
}

// TestJSModules_matchEngine: the list is the engine's, lib/NAME.js in its
// library (guests/js/lib).
func TestJSModules_matchEngine(t *testing.T) {
	wasm, err := os.ReadFile(filepath.Join("..", "..", "guests", "build", "js", "engine.wasm"))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the JavaScript engine is not built: run make guests (%v)", err)
		}
		t.Skipf("the JavaScript engine is not built: run make guests (%v)", err)
	}
	var lib []string
	for _, e := range engine.LibraryEntries(wasm) {
		if name, ok := strings.CutPrefix(e, "lib/"); ok {
			lib = append(lib, strings.TrimSuffix(name, ".js"))
		}
	}
	if got := JSModules(); !slices.Equal(got, lib) {
		t.Errorf("jsModules = %q, the engine's library has %q", got, lib)
	}
}

// jsSource10K is about 10 KB of a webtask's ES module source.
func jsSource10K() string {
	var b strings.Builder
	b.WriteString("'use latest';\nexport default function (ctx, cb) { cb(null, f0(ctx)) }\n")
	for i := 0; b.Len() < 10<<10; i++ {
		fmt.Fprintf(&b, "export function f%d(ctx) {\n  const a = [1, 2, 3].map(x => x * %d);\n  return { a, q: ctx.query, s: `${ctx.name}` };\n}\n", i, i)
	}
	return b.String()
}

// Benchmark_checkJS measures esbuild's check and translation at upload
// (and at load, for an ES module): a seed-sized CommonJS webtask and 10 KB
// of an ES module.
func Benchmark_checkJS(b *testing.B) {
	for _, bm := range []struct{ name, src string }{
		{"seed001", "module.exports = function(context, cb) {\n  if(context.query.secret !== 'open-sesame') {\n    cb(new Error('Not Authorized'));\n  } else {\n    cb(null, { question: 'Am I secure?', answer: 'Yes!' });\n  }\n};\n"},
		{"esm10K", jsSource10K()},
	} {
		b.Run(bm.name, func(b *testing.B) {
			src := []byte(bm.src)
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := checkJS(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzCheckJS: any source is either refused with ErrInvalidModule or
// turned into code to run; esbuild never panics into the host.
func FuzzCheckJS(f *testing.F) {
	for _, s := range []string{"module.exports = function (ctx, cb) { cb() }", "function (cb) {}", "export default 1",
		"import x from 'y'", "require(`x${1}`)", "a = {", "'\\u{110000}'", "\xff\xfe", "/*", "<div/>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		run, err := checkJS([]byte(s))
		if err != nil && !errors.Is(err, ErrInvalidModule) {
			t.Fatalf("%q: %v", s, err)
		}
		if err == nil && run == nil {
			t.Fatalf("%q: nothing to run", s)
		}
	})
}
