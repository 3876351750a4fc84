package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes: distinct per kind of failure, so scripts can tell them apart.
// README.md ("The CLI") and `wasmtask --help` list them.
const (
	exitOK         = 0 // success
	exitError      = 1 // a server error (5xx but 504), a server out of reach, a failed build, anything else
	exitUsage      = 2 // a command line that does not parse
	exitNotFound   = 3 // no such webtask, job, profile or file
	exitAuth       = 4 // 401 or 403: no token, a bad token, a token without the right
	exitBadRequest = 5 // 400, 409, 413, 422: the server refused what was sent
	exitTimeout    = 6 // the server did not answer in time, or answered 408 or 504
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  server error (5xx but 504), server unreachable, failed build or
     missing toolchain, anything else
  2  usage: a bad flag, argument or command
  3  not found: a webtask, cron job, profile or file
  4  unauthorised or forbidden (401, 403)
  5  bad request: the server refused the input (400, 409, 413, 422)
  6  timeout (no answer within --timeout, or 408, 504)`

// usageError is a command line that does not parse (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	var ue *usageError
	var ae *apiError
	var ne net.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ae):
		switch {
		case ae.Status == 404:
			return exitNotFound
		case ae.Status == 401 || ae.Status == 403:
			return exitAuth
		case ae.Status == 400 || ae.Status == 409 || ae.Status == 413 || ae.Status == 422:
			return exitBadRequest
		case ae.Status == 504 || ae.Status == 408:
			return exitTimeout
		}
		return exitError
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return exitTimeout
	case errors.Is(err, os.ErrNotExist), errors.Is(err, errNoProfile):
		return exitNotFound
	}
	return exitError
}

// run is the whole program; main only exits with its result. Every error
// prints as one line on stderr, prefixed with the command that failed.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context the long-running commands (dev, create
// --watch, logs) end with, as they do with Ctrl-C.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ex *exitStatus
	if errors.As(err, &ex) {
		return ex.code
	}
	if cmd == nil {
		cmd = root
	}
	msg := strings.TrimSpace(err.Error())
	if strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag") || strings.HasPrefix(msg, "invalid argument") ||
		strings.HasPrefix(msg, "flag needs an argument") || strings.HasPrefix(msg, "required flag") {
		err = &usageError{msg}
	}
	code := exitCode(err)
	if code == exitUsage {
		msg += fmt.Sprintf(" (see %s --help)", cmd.CommandPath())
	}
	fmt.Fprintf(stderr, "%s: %s\n", cmd.CommandPath(), oneLine(msg))
	return code
}

// exitStatus ends a command with a code and nothing more to print (the
// command has said what it had to).
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// oneLine folds a multi-line message into one line.
func oneLine(s string) string {
	s = strings.Replace(s, "\n\nDid you mean this?\n", " (did you mean:", 1)
	if strings.Contains(s, "(did you mean:") {
		s = strings.TrimSpace(s) + ")"
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " | ")
}

// newRootCmd builds the command tree. A new tree per run keeps no state
// between runs (the tests call run many times).
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "wasmtask",
		Short: "wasmtask — a multi-tenant WebAssembly extension host, and its client",
		Long: `wasmtask is the server (wasmtask serve) and its client: build a webtask from
Go, Rust, C, AssemblyScript, WAT or JavaScript, upload it, run it, read its
logs, schedule it, and manage tokens.

Where the server is, which container and which token come from, in order:
the flags --url, --container and --token; the environment WASMTASK_URL
(or the older WASMTASK_SERVER), WASMTASK_CONTAINER and WASMTASK_TOKEN; the
profile named by --profile or WASMTASK_PROFILE, else the default profile
(wasmtask init writes one); for the token, last, ./data/admin.token.

` + exitCodesHelp,
		Example: `  wasmtask init --url http://127.0.0.1:8080 --container acme --token "$(cat data/admin.token)"
  wasmtask new rust hello && wasmtask create hello
  wasmtask run hello --query name=Tomek
  wasmtask logs`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		Version:           version,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.RunE = func(c *cobra.Command, _ []string) error {
		c.SetOut(stderr)
		_ = c.Usage()
		return &exitStatus{exitUsage}
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("wasmtask {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err.Error()} })
	g.register(root)

	root.AddCommand(
		newServeCmd(stdout, stderr),
		newInitCmd(g), newProfileCmd(g),
		newCreateCmd(g, false), newCreateCmd(g, true), newLsCmd(g), newRmCmd(g), newInspectCmd(g),
		newLogsCmd(g), newRunCmd(g), newTokenCmd(g), newCronCmd(g), newStorageCmd(g), newOutboundCmd(g),
		newNewCmd(g), newDevCmd(g),
		&cobra.Command{
			Use: "version", Short: "Print the version", Args: noArgs,
			Example: "  wasmtask version\n  wasmtask --version",
			Run:     func(*cobra.Command, []string) { fmt.Fprintln(stdout, "wasmtask", version) },
		},
	)
	addBuiltinExamples(root)
	return root
}

// addBuiltinExamples adds cobra's help and completion commands now (Execute
// would add them later) to give them examples too: every command's --help
// shows some.
func addBuiltinExamples(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	examples := map[string]string{
		"help":                  "  wasmtask help create\n  wasmtask help token create",
		"completion":            "  source <(wasmtask completion bash)\n  wasmtask completion zsh > \"${fpath[1]}/_wasmtask\"",
		"completion bash":       "  source <(wasmtask completion bash)\n  wasmtask completion bash > /etc/bash_completion.d/wasmtask",
		"completion zsh":        "  wasmtask completion zsh > \"${fpath[1]}/_wasmtask\"",
		"completion fish":       "  wasmtask completion fish > ~/.config/fish/completions/wasmtask.fish",
		"completion powershell": "  wasmtask completion powershell | Out-String | Invoke-Expression",
	}
	for _, c := range root.Commands() {
		for _, sub := range append([]*cobra.Command{c}, c.Commands()...) {
			if ex, ok := examples[strings.TrimPrefix(sub.CommandPath(), root.Name()+" ")]; ok {
				sub.Example = ex
			}
		}
	}
}

// group is a command that only holds subcommands: without one, or with an
// unknown one, it is a usage error (cobra would print help and exit 0). Its
// examples are the first example of each subcommand.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short, Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			var names []string
			for _, s := range c.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			if len(args) == 0 {
				return usagef("want a subcommand: %s", strings.Join(names, ", "))
			}
			return usagef("unknown command %q: want %s", args[0], strings.Join(names, ", "))
		},
	}
	c.AddCommand(subs...)
	var examples []string
	for _, s := range subs {
		if ex, _, _ := strings.Cut(s.Example, "\n"); ex != "" {
			examples = append(examples, ex)
		}
	}
	c.Example = strings.Join(examples, "\n")
	return c
}

// Argument checks that fail as usage errors (exit 2).
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("want %d argument(s), got %d", n, len(args))
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("want at most %d argument(s), got %d", n, len(args))
		}
		return nil
	}
}
