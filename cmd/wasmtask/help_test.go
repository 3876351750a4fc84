package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestCLI_EveryCommandHasExamples walks the command tree and asks each
// runnable command for its --help: each must show examples (the README
// says every command has them); serve's --help is serve.go's own (the flag
// package's usage), checked by its output.
func TestCLI_EveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	var paths []string
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		if c.Runnable() {
			paths = append(paths, c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd(io.Discard, io.Discard))
	if len(paths) < 40 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			if p == "wasmtask serve" { // serve.go prints its flag package's usage on stderr, not cobra's help
				if _, out, errOut := wt("serve", "--help"); !strings.Contains(out+errOut, "\nExamples:\n  wasmtask serve") {
					t.Fatalf("serve --help: no examples:\n%s%s", out, errOut)
				}
				return
			}
			a := append(strings.Fields(p)[1:], "--help")
			code, out, errOut := wt(a...)
			if code != 0 || !strings.Contains(out, "\nExamples:\n  wasmtask ") && !strings.Contains(out, "\nExamples:\n  source ") {
				t.Fatalf("%s --help: exit %d, no examples:\n%s%s", p, code, out, errOut)
			}
		})
	}
}
