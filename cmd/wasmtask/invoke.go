package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// newRunCmd: wasmtask run [NAME] — call a webtask and print the answer.
func newRunCmd(g *globals) *cobra.Command {
	var method, data, subPath string
	var headers, query []string
	var auth, bodyOnly bool
	c := &cobra.Command{
		Use:   "run [NAME]",
		Short: "Call a webtask and print the status, headers and body",
		Long: `Call the webtask NAME (its public run URL) and print the answer: status line,
headers, a blank line, the body. Without NAME, run the code your token fixes
(POST /api/run/{container} with the token). Your token is sent to a named
webtask only with --auth (the webtask sees its request headers).

The exit code follows the status: 0 for 2xx, else as for any command
(3 for 404, 4 for 401/403, 5 for 400, 6 for 504, 1 for the rest), and
one line on stderr names the status and the server's message; stdout has
the answer as for a 2xx.`,
		Example: `  wasmtask run hello --query name=Tomek
  wasmtask run echo -X POST -d '{"a":1}' -H 'Content-Type: application/json' --path /sub/path
  wasmtask run echo -d @body.json
  wasmtask run --token "$T"          # the code the token fixes`,
		Args: maxArgs(1), ValidArgsFunction: completeWebtasks(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := g.client(true)
			if err != nil {
				return err
			}
			u := "/api/run/" + url.PathEscape(cl.container)
			if len(args) == 1 {
				u += "/" + url.PathEscape(args[0])
			}
			if subPath != "" {
				u += "/" + strings.TrimLeft(subPath, "/")
			}
			q, err := keyValues("query", query)
			if err != nil {
				return err
			}
			if len(q) > 0 {
				vals := url.Values{}
				for k, v := range q {
					vals.Set(k, v)
				}
				u += "?" + vals.Encode()
			}
			var body io.Reader
			if data != "" {
				if strings.HasPrefix(data, "@") {
					b, err := os.ReadFile(data[1:])
					if err != nil {
						return err
					}
					body = strings.NewReader(string(b))
				} else {
					body = strings.NewReader(data)
				}
			}
			if method == "" {
				method = "GET"
				if body != nil || len(args) == 0 {
					method = "POST"
				}
			}
			req, err := http.NewRequestWithContext(context.Background(), strings.ToUpper(method), cl.url+u, body)
			if err != nil {
				return usagef("%v", err)
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return usagef("-H: want 'Name: value', got %q", h)
				}
				req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			if (len(args) == 0 || auth) && cl.token != "" && req.Header.Get("Authorization") == "" {
				req.Header.Set("Authorization", "Bearer "+cl.token)
			}
			res, err := cl.http.Do(req)
			if err != nil {
				return cl.reachError(err)
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			if err != nil {
				return err
			}
			if err := printResponse(g, res, b, bodyOnly); err != nil {
				return err
			}
			if res.StatusCode/100 == 2 || res.StatusCode/100 == 3 {
				return nil
			}
			what := "the token's code"
			if len(args) == 1 {
				what = args[0]
			}
			return &statusError{what: what, status: res.Status, api: errorFrom(res.StatusCode, b)}
		},
	}
	f := c.Flags()
	f.StringVarP(&method, "request", "X", "", "HTTP method (default GET, POST with -d or without NAME)")
	f.StringVarP(&data, "data", "d", "", "request body, or @FILE")
	f.StringArrayVarP(&headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	f.StringArrayVarP(&query, "query", "q", nil, "query parameter K=V (repeatable)")
	f.StringVar(&subPath, "path", "", "path below the webtask, e.g. /users/1")
	f.BoolVar(&auth, "auth", false, "send your token to the named webtask")
	f.BoolVarP(&bodyOnly, "body", "b", false, "print the body only")
	return c
}

// printResponse prints the answer as curl -i would, or as JSON.
func printResponse(g *globals, res *http.Response, body []byte, bodyOnly bool) error {
	if g.json() {
		h := map[string]string{}
		for k, v := range res.Header {
			h[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		return writeJSON(g.stdout, map[string]any{"status": res.StatusCode, "headers": h, "body": string(body)})
	}
	if !bodyOnly {
		fmt.Fprintf(g.stdout, "%s %s\n", res.Proto, res.Status)
		keys := make([]string, 0, len(res.Header))
		for k := range res.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range res.Header[k] {
				fmt.Fprintf(g.stdout, "%s: %s\n", strings.ToLower(k), v)
			}
		}
		fmt.Fprintln(g.stdout)
	}
	g.stdout.Write(body)
	if len(body) > 0 && body[len(body)-1] != '\n' {
		fmt.Fprintln(g.stdout)
	}
	return nil
}

// statusError is a run answered with a status other than 2xx or 3xx: the
// answer is on stdout already; this is its one line for stderr, and its
// exit code is the status's (through api).
type statusError struct {
	what   string // the webtask, or the token's code
	status string // "404 Not Found"
	api    *apiError
}

// maxStatusMsg is how much of a body the stderr line quotes.
const maxStatusMsg = 200

func (e *statusError) Error() string {
	msg := oneLine(e.api.Msg)
	if msg == http.StatusText(e.api.Status) {
		msg = ""
	}
	if r := []rune(msg); len(r) > maxStatusMsg {
		msg = string(r[:maxStatusMsg]) + "…"
	}
	if msg == "" {
		return e.what + ": " + e.status
	}
	return e.what + ": " + e.status + ": " + msg
}

func (e *statusError) Unwrap() error { return e.api }
