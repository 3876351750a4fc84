package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// newOutboundCmd manages a container's outbound HTTP policy:
//
//	wasmtask outbound get
//	wasmtask outbound set --allow api.example.com [--allow '*.example.net:443']... [--max-calls N] [--max-response-bytes N]
//	wasmtask outbound rm
//
// set replaces the whole policy (the admin token only).
func newOutboundCmd(g *globals) *cobra.Command {
	path := func(cl *client) string { return "/api/outbound/" + url.PathEscape(cl.container) }
	get := &cobra.Command{
		Use: "get", Short: "Show the container's outbound HTTP policy", Args: noArgs,
		Example: "  wasmtask outbound get -c acme",
		RunE: func(*cobra.Command, []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			b, err := cl.do("GET", path(cl), nil, "")
			if err != nil {
				return err
			}
			return writeRawJSON(g.stdout, b)
		},
	}
	var allow []string
	var maxCalls, maxResp int
	set := &cobra.Command{
		Use: "set", Short: "Replace the container's outbound HTTP policy (admin token)",
		Example: `  wasmtask outbound set --allow api.example.com --allow '*.example.net:443' --max-calls 5`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			var hosts []string
			for _, a := range allow {
				for _, h := range strings.Split(a, ",") {
					if h = strings.TrimSpace(h); h != "" {
						hosts = append(hosts, h)
					}
				}
			}
			if len(hosts) == 0 {
				return usagef("give at least one --allow (wasmtask outbound rm removes the policy)")
			}
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			b, err := cl.sendJSON("PUT", path(cl), map[string]any{"allow": hosts, "max_calls": maxCalls, "max_response_bytes": maxResp})
			if err != nil {
				return err
			}
			return writeRawJSON(g.stdout, b)
		},
	}
	set.Flags().StringArrayVar(&allow, "allow", nil, "host, *.domain, host:port, IP or CIDR the container may call (repeatable or comma-separated)")
	set.Flags().IntVar(&maxCalls, "max-calls", 0, "calls one request may make (0: the default, 10)")
	set.Flags().IntVar(&maxResp, "max-response-bytes", 0, "size limit of one response body (0: the default, 1 MiB)")
	rm := &cobra.Command{
		Use: "rm", Short: "Remove the policy: the container's webtasks call nothing (admin token)", Args: noArgs,
		Example: "  wasmtask outbound rm -c acme --token \"$(cat data/admin.token)\"",
		RunE: func(*cobra.Command, []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			if _, err := cl.do("DELETE", path(cl), nil, ""); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "container %s calls nothing now\n", cl.container)
			return nil
		},
	}
	return group("outbound", "A container's outbound HTTP policy: get, set, rm", get, set, rm)
}
