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

// jsModuleVersions are the versions the built-in modules follow: the npm
// package's for the packages (the ones guests/js/compat compares with),
// Node's for Node's own modules.
var jsModuleVersions = map[string]string{"body-parser": "1.20.9", "express": "4.22.3", "jsonwebtoken": "9.0.3",
	"request": "2.88.2", "webtask-tools": "3.4.1"}

// JSModuleVersion returns the version built-in module name follows, ""
// when it is not a built-in module.
func JSModuleVersion(name string) string {
	if !jsModule(name) {
		return ""
	}
	if v, ok := jsModuleVersions[name]; ok {
		return v
	}
	return "20.0.0" // Node's own, as process.version says
}

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
