package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// outboundCommand manages a container's outbound HTTP policy:
//
//	wasmtask outbound get --container C
//	wasmtask outbound set --container C --allow api.example.com [--allow '*.example.net:443']... [--max-calls N] [--max-response-bytes N]
//	wasmtask outbound rm  --container C
//
// set replaces the whole policy (the admin token only).
func outboundCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "wasmtask outbound: want get, set or rm (wasmtask outbound set --help)")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("wasmtask outbound "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token, container := clientFlags(fs)
	var allow stringList
	fs.Var(&allow, "allow", "host, *.domain, host:port, IP or CIDR the container may call; repeatable or comma-separated (set)")
	maxCalls := fs.Int("max-calls", 0, "calls one request may make (set; 0: the default, 10)")
	maxResp := fs.Int("max-response-bytes", 0, "size limit of one response body (set; 0: the default, 1 MiB)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 0 || sub != "get" && sub != "set" && sub != "rm" {
		fmt.Fprintf(stderr, "wasmtask outbound: want get, set or rm with flags only (wasmtask outbound %s --help)\n", sub)
		return 2
	}
	if err := needContainer(*container); err != nil {
		fmt.Fprintf(stderr, "wasmtask outbound %s: %v\n", sub, err)
		return 2
	}
	c := newClient(*server, *token, stdout)
	path := "/api/outbound/" + *container
	var b []byte
	switch sub {
	case "get":
		b, err = c.do("GET", path, nil, "")
	case "set":
		if len(allow) == 0 {
			fmt.Fprintln(stderr, "wasmtask outbound set: give at least one --allow (wasmtask outbound rm removes the policy)")
			return 2
		}
		body, _ := json.Marshal(map[string]any{"allow": []string(allow), "max_calls": *maxCalls, "max_response_bytes": *maxResp})
		b, err = c.do("PUT", path, bytes.NewReader(body), "application/json")
	case "rm":
		_, err = c.do("DELETE", path, nil, "")
		if err == nil {
			fmt.Fprintf(stdout, "container %s calls nothing now\n", *container)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wasmtask outbound %s: %v\n", sub, err)
		return 1
	}
	if b != nil {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			b = append(out.Bytes(), '\n')
		}
		stdout.Write(b)
	}
	return 0
}
