// Package conformance is the guest conformance kit of wasmtask: one Go test
// suite that every guest language must pass. Its tests (in the _test files
// of this folder) start the real server on a loopback port, upload the
// conformance guest of each language in Languages, and check that every
// language behaves identically through the host ABI: the context fields,
// both programming models, status codes, headers, binary and large bodies,
// logs, and the host's error mapping. They also run the seed programs
// ported to each language and check that malformed or hostile modules are
// refused at upload or trap with a 500.
//
// Adding a language means adding guests/build/<lang>/conformance.wasm (built
// by guests/Makefile) and its name to Languages; guests/README.md lists the
// routes a conformance guest implements. JavaScript ("js") is source, not a
// module: the kit uploads guests/js/examples/<name>.js as
// application/javascript, run by the JavaScript engine
// (guests/build/js/engine.wasm).
//
// The guests must be built first (make -C guests all); a missing guest (or
// the JavaScript engine) fails the suite, it is never skipped. What a
// language cannot do yet is a short list of named checks left out for it,
// each with its reason (gaps in gaps_test.go).
package conformance

// Languages are the guest languages the kit checks, by their folder under
// guests/build (for "js", where the engine is). The first is the reference
// the others are compared with.
var Languages = []string{"go", "c", "rust", "assemblyscript", "wat", "js"}
