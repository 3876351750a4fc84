package deploy

import (
	"slices"
	"strings"
)

// jsModules are the modules a JavaScript webtask may require: the
// engine's built-in modules (guests/js/lib/NAME.js, kept in the engine's
// library), by the name the code passes to require (or imports from). The
// upload check (checkJS) and GET /api/js/modules read it; the test
// TestJSModules_matchEngine fails when it is not the engine's list.
// guests/js/README.md says what each covers.
var jsModules = []string{"body-parser", "buffer", "crypto", "events", "express", "jsonwebtoken",
	"querystring", "request", "timers", "url", "util", "webtask-tools"}

// JSModules returns the modules a JavaScript webtask may require, sorted.
func JSModules() []string {
	m := slices.Clone(jsModules)
	slices.Sort(m)
	return m
}

// jsModule reports whether a JavaScript webtask may require name; a
// "node:" prefix names the same module.
func jsModule(name string) bool {
	return slices.Contains(jsModules, strings.TrimPrefix(name, "node:"))
}

// JSModulesPath is the API path that lists the built-in modules; the
// upload check's message points there.
const JSModulesPath = "/api/js/modules"
