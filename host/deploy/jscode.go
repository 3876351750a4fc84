package deploy

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	esbuild "github.com/evanw/esbuild/pkg/api"
)

// jsTarget is the language level esbuild lowers to: QuickJS 2025-04
// implements ES2023 (and parts of ES2024), so newer syntax is rewritten
// and nothing QuickJS parses is touched.
const jsTarget = esbuild.ES2023

// esmSyntax matches source that may use ES module syntax (import, export).
// Only such source runs as esbuild's output; a false match (the word in a
// comment or a string) costs exact line numbers, nothing else.
var esmSyntax = regexp.MustCompile(`\b(import|export)\b`)

// checkJS checks JavaScript source src with esbuild (in process, no
// JavaScript toolchain on the server) and returns the code the engine
// runs:
//
//   - code that does not parse is ErrInvalidModule naming esbuild's
//     message and the line:column, as the engine's own errors do;
//   - a require or import of anything but a built-in module (jsModules)
//     is ErrInvalidModule naming the module and GET /api/js/modules;
//   - source with ES module syntax (import, export, mixed with
//     module.exports as seed 004 does) runs as esbuild's CommonJS, ending
//     with the line table that maps its positions back (jsmap.go);
//   - any other source runs as written, so that the line and column
//     numbers of its runtime errors are the author's (esbuild reprints
//     code: its output's lines are not the source's).
//
// The original platform's bare `function (context, cb) {…}`, not a valid
// script, is checked as the expression it is and runs as written.
//
// It is pure and fast enough to run at every load (about 5 ms for 10 KB
// on the 2-core machine, well under 1 ms for a seed), so only the source
// is stored.
func checkJS(src []byte) ([]byte, error) {
	s := string(src)
	r := esbuildJS(s)
	if len(r.Errors) > 0 {
		if b := esbuildJS("(" + s + "\n)"); len(b.Errors) == 0 {
			return src, checkRequires(b)
		}
		return nil, jsSyntaxError(r.Errors[0])
	}
	if err := checkRequires(r); err != nil {
		return nil, err
	}
	if !esmSyntax.Match(src) || len(r.OutputFiles) != 1 {
		return src, nil
	}
	out := withLineTable(r.OutputFiles[0].Contents)
	if len(bytes.TrimSpace(out[:len(out)-len(jsTableOf(out))])) == 0 {
		return src, nil // nothing but comments: as written
	}
	return out, nil
}

// esbuildJS translates s to CommonJS at jsTarget, with a metafile listing
// what it requires. A build of stdin without bundling resolves nothing
// and writes nothing.
func esbuildJS(s string) esbuild.BuildResult {
	return esbuild.Build(esbuild.BuildOptions{
		Stdin:     &esbuild.StdinOptions{Contents: s, Sourcefile: "webtask.js", Loader: esbuild.LoaderJS},
		Format:    esbuild.FormatCommonJS,
		Target:    jsTarget,
		Metafile:  true,
		Sourcemap: esbuild.SourceMapInline, // made the engine's line table (jsmap.go)
		Write:     false,
		LogLevel:  esbuild.LogLevelSilent,
	})
}

// checkRequires refuses a build that requires or imports a module that is
// not built in.
func checkRequires(r esbuild.BuildResult) error {
	var meta struct {
		Outputs map[string]struct {
			Imports []struct {
				Path string `json:"path"`
			} `json:"imports"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(r.Metafile), &meta); err != nil {
		return &Error{Kind: ErrInternal, Msg: "cannot check the JavaScript code's modules", Cause: err}
	}
	for _, out := range meta.Outputs {
		for _, imp := range out.Imports {
			if !jsModule(imp.Path) {
				return Fail(ErrInvalidModule, "the JavaScript code requires "+strconv.Quote(imp.Path)+
					", which is not a built-in module of this server (the built-in modules: "+builtinList()+
					"; GET "+JSModulesPath+" lists them)")
			}
		}
	}
	return nil
}

// builtinList is the built-in modules for a message.
func builtinList() string {
	m := JSModules()
	if len(m) == 0 {
		return "none yet"
	}
	return strings.Join(m, ", ")
}

// jsSyntaxError is the error of source esbuild cannot parse, shaped like
// the engine's: "SyntaxError: … (webtask.js:line:column)", the column
// 1-based in characters.
func jsSyntaxError(m esbuild.Message) error {
	msg := "the JavaScript code does not load: SyntaxError: " + m.Text
	if l := m.Location; l != nil {
		col := l.Column
		if col <= len(l.LineText) {
			col = utf8.RuneCountInString(l.LineText[:col])
		}
		msg += " (webtask.js:" + strconv.Itoa(l.Line) + ":" + strconv.Itoa(col+1) + ")"
	}
	return Fail(ErrInvalidModule, msg)
}

// runnableJS is the code the engine runs for stored source src: src
// itself unless it may use ES module syntax, then checkJS's translation
// (a load of CommonJS source costs no esbuild).
func runnableJS(src []byte) ([]byte, error) {
	if !esmSyntax.Match(src) {
		return src, nil
	}
	return checkJS(src)
}
