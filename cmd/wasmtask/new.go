package main

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// templates are the starter projects of `wasmtask new`, one folder per
// language; every *.tmpl is a text/template given .Name, .Lang and .Note.
//
//go:embed templates
var templates embed.FS

// newLangs maps what `new` accepts to a template folder.
var newLangs = map[string]string{
	"go": langGo, "rust": langRust, "rs": langRust, "c": langC, "assemblyscript": langAS, "as": langAS, "ts": langAS,
	"wat": langWAT, "javascript": langJS, "js": langJS,
}

var langNotes = map[string]string{
	langGo: "The SDK is the package github.com/wasmtask/wasmtask/guests/go/wasmtask. Without a go.mod, `wasmtask create` " +
		"builds in a temporary module that points at the SDK's repository (--sdk or WASMTASK_SDK names its guests/ folder); " +
		"with your own go.mod, require it with a replace directive to a clone.",
	langRust: "The SDK is one file, guests/rust/wasmtask.rs, added to the build when it is not here (`mod wasmtask;`). " +
		"Built with rustc --target wasm32-wasip1 (or wasm32-wasi) --crate-type cdylib: no Cargo.",
	langC:   "The SDK is guests/c/wasmtask.h and wasmtask.c, added to the build when they are not here. Built with clang-14 and wasi-libc.",
	langAS:  "The SDK is guests/assemblyscript/assembly/wasmtask.ts, added beside index.ts for the build when it is not here; the compiler is the SDK's pinned asc.",
	langWAT: "Built with wat2wasm (Debian wabt). The ABI is in abi/SPEC.md.",
	langJS:  "Uploaded as source: the server runs it on its JavaScript engine.",
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// newNewCmd: wasmtask new LANG NAME.
func newNewCmd(g *globals) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "new LANG NAME",
		Short: "Start a webtask project: go, rust, c, assemblyscript, wat or javascript",
		Long: `Write a starter webtask in the folder NAME (or --dir): a hello handler that
logs a line, with the language's SDK wired in, and a README with the
commands to serve, upload, call and follow it.`,
		Example: `  wasmtask new rust hello && wasmtask dev hello
  wasmtask new go greeter --dir ./services/greeter`,
		Args: exactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"go", "rust", "c", "assemblyscript", "wat", "javascript"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			lang, ok := newLangs[strings.ToLower(args[0])]
			if !ok {
				return usagef("unknown language %q: want go, rust, c, assemblyscript, wat or javascript", args[0])
			}
			name := args[1]
			if !nameRE.MatchString(name) {
				return usagef("%q is not a webtask name (letters, digits, - and _)", name)
			}
			out := first(dir, name)
			files, err := renderTemplates(lang, name)
			if err != nil {
				return err
			}
			for f := range files {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					return fmt.Errorf("%s exists already: not overwriting it", filepath.Join(out, f))
				}
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for f, b := range files {
				if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(g.stdout, "Created %s, a %s webtask, in %s\n\n  wasmtask dev %s      # serve it locally\n  wasmtask create %s   # upload it\n",
				name, lang, out, out, out)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "folder to write (default: NAME)")
	return c
}

// renderTemplates returns a language's starter files, by name.
func renderTemplates(lang, name string) (map[string][]byte, error) {
	data := map[string]string{"Name": name, "Lang": lang, "Note": langNotes[lang]}
	files := map[string][]byte{}
	render := func(p string) error {
		src, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Parse(string(src))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		files[strings.TrimSuffix(path.Base(p), ".tmpl")] = b.Bytes()
		return nil
	}
	entries, err := templates.ReadDir(path.Join("templates", lang))
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := render(path.Join("templates", lang, e.Name())); err != nil {
			return nil, err
		}
	}
	return files, render("templates/README.md.tmpl")
}
