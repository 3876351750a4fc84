package deploy

import (
	"slices"
	"strings"
)

// jsModules are the modules a JavaScript webtask may require: what
// guests/js/prelude.js's `require` provides, by the name the code passes
// to require (or imports from). It is the one list: the upload check
// (checkJS) and GET /api/js/modules read it, and it grows with the
// prelude, never ahead of it.
//
// Each name is added once the prelude provides it, written to behave as
// Node's module of that name (guests/js/README.md says what each covers).
// The rest of issue 11's built-in set (phase 2b: webtask-tools, express,
// body-parser, request, jsonwebtoken, crypto, …) is refused at upload
// rather than failing at run time with "Cannot find module".
var jsModules = []string{"events", "querystring", "url", "util"}

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
