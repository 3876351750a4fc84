package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

const usage = `wasmtask — a multi-tenant WebAssembly extension host

Usage:
  wasmtask serve [flags]                          start the server (serve --help for flags)
  wasmtask create FILE.wasm --container C [--name N] [--secret k=v]... [--meta k=v]...
                                                  upload (create or replace) a webtask
  wasmtask ls --container C [--meta k=v]... [--json]
                                                  list the webtasks of a container
  wasmtask rm NAME --container C                  delete a webtask
  wasmtask logs --container C [--max N] [--raw]   stream a container's logs
  wasmtask token issue [--ten C] [--dd N] [--url U | --code F.wasm | --name W]
        [--secret k=v]... [--param k=v]... [--limit lm=600]... [--exp 1h]
        [--nbf 1m] [--parse-body] [--merge-body] [--no-self-revoke]
                                                  issue a narrower token (printed)
  wasmtask token revoke [TOKEN]                   revoke a token (default: your own)
  wasmtask token inspect [TOKEN] [--decrypt]      show a token's claims
  wasmtask outbound get|set|rm --container C [--allow HOST]... [--max-calls N]
        [--max-response-bytes N]                  a container's outbound HTTP policy
                                                  (set and rm: the admin token)
  wasmtask version                                print the version

Client commands take --server (WASMTASK_SERVER, default http://127.0.0.1:8080)
and --token (WASMTASK_TOKEN, default ./data/admin.token when present);
--container can come from WASMTASK_CONTAINER.

Every flag of serve can also be set by an environment variable: --max-body-bytes
is WASMTASK_MAX_BODY_BYTES. Flags win over the environment.
`

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// run is the whole program; main only exits with its result.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "token":
		return tokenCommand(args[1:], stdout, stderr)
	case "create", "ls", "rm", "logs":
		return clientCommand(args[0], args[1:], stdout, stderr)
	case "outbound":
		return outboundCommand(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "wasmtask", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wasmtask: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// clientCommand parses a client command's flags and runs it. Errors print
// one readable line and exit non-zero.
func clientCommand(name string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasmtask "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token, container := clientFlags(fs)
	wtName := fs.String("name", "", "webtask name (create; default: the file name without extension)")
	secrets, meta := keyValues{}, keyValues{}
	fs.Var(secrets, "secret", "secret key=value, repeatable (create)")
	fs.Var(meta, "meta", "meta key=value, repeatable (create: set; ls: filter)")
	asJSON := fs.Bool("json", false, "print the raw JSON (ls)")
	max := fs.Int("max", 0, "stop after N log lines (logs; 0 = never)")
	raw := fs.Bool("raw", false, "print log records as JSON (logs)")
	pos, err := parse(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	c := newClient(*server, *token, stdout)
	want := map[string]int{"create": 1, "ls": 0, "rm": 1, "logs": 0}[name]
	if len(pos) != want {
		fmt.Fprintf(stderr, "wasmtask %s: want %d argument(s), got %d (wasmtask %s --help)\n", name, want, len(pos), name)
		return 2
	}
	switch name {
	case "create":
		err = cmdCreate(c, *container, *wtName, pos[0], secrets, meta)
	case "ls":
		var filters []string
		for k, v := range meta {
			filters = append(filters, k+":"+v)
		}
		err = cmdList(c, *container, filters, *asJSON)
	case "rm":
		err = cmdRemove(c, *container, pos[0])
	case "logs":
		err = cmdLogs(c, *container, *max, *raw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wasmtask %s: %v\n", name, err)
		return 1
	}
	return 0
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "WASMTASK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
