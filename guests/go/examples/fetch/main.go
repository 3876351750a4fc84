//go:build wasip1

// Command fetch calls the url of its query through the host's outbound
// HTTP (wasmtask.Context.Fetch) and answers what came back:
//
//	GET /api/run/acme/fetch?url=http://api.example.com/x[&method=POST][&n=3]
//	-> 200 {"status":200,"body":"…","content_type":"…"}
//
// The request's body, if any, is sent on; n repeats the call (the last
// answer wins). A failed call answers 502 with the kind and the host's
// reason: "denied: …", "failed: …", "too large: …", "too many: …",
// "invalid: …". It is the host tests' probe of the outbound policy.
package main

import (
	"errors"
	"strconv"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

type answer struct {
	Status      int    `json:"status"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

var kinds = []struct {
	err  error
	name string
}{
	{wasmtask.ErrHTTPDenied, "denied"},
	{wasmtask.ErrHTTPFailed, "failed"},
	{wasmtask.ErrHTTPTooLarge, "too large"},
	{wasmtask.ErrHTTPTooMany, "too many"},
	{wasmtask.ErrHTTPInvalid, "invalid"},
}

func init() {
	wasmtask.HandleSimple(func(c *wasmtask.Context) (any, error) {
		n, _ := strconv.Atoi(c.Query("n"))
		n = max(n, 1)
		req := wasmtask.HTTPRequest{Method: c.Query("method"), URL: c.Query("url"), Body: c.Body()}
		if h := c.Query("header"); h != "" {
			req.Header = map[string]string{"x-probe": h}
		}
		var a answer
		for i := 0; i < n; i++ {
			resp, err := c.Fetch(req)
			if err != nil {
				var he *wasmtask.HTTPError
				errors.As(err, &he)
				for _, k := range kinds {
					if errors.Is(err, k.err) {
						return nil, wasmtask.Errorf(502, "%s: %s", k.name, he.Message)
					}
				}
				return nil, err
			}
			a = answer{Status: resp.Status, Body: string(resp.Body)}
			if ct := resp.Header["content-type"]; len(ct) > 0 {
				a.ContentType = ct[0]
			}
		}
		return a, nil
	})
}

func main() {}
