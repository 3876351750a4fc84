//go:build wasip1

// Command echo answers with everything the host told it about the request,
// read through each typed accessor of the SDK (not Context.JSON), and logs
// one line through the log host call and one through stdout.
package main

import (
	"fmt"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

type echo struct {
	Method    string              `json:"method"`
	Path      string              `json:"path"`
	Query     map[string][]string `json:"query"`
	RawQuery  string              `json:"raw_query"`
	Headers   map[string][]string `json:"headers"`
	Body      string              `json:"body"`
	Secrets   map[string]string   `json:"secrets"`
	Params    map[string]string   `json:"params"`
	Meta      map[string]string   `json:"meta"`
	Data      map[string]string   `json:"data"`
	Container string              `json:"container"`
	Name      string              `json:"name"`
	RequestID string              `json:"request_id"`
	User      map[string]string   `json:"user,omitempty"`
}

func init() {
	wasmtask.HandleSimple(func(ctx *wasmtask.Context) (echo, error) {
		wasmtask.Log(wasmtask.LevelInfo, "echo "+ctx.Method()+" "+ctx.Path())
		fmt.Println("stdout line")
		return echo{
			Method:    ctx.Method(),
			Path:      ctx.Path(),
			Query:     ctx.QueryAll(),
			RawQuery:  ctx.RawQuery(),
			Headers:   ctx.Headers(),
			Body:      string(ctx.Body()),
			User:      ctx.User(),
			Secrets:   ctx.Secrets(),
			Params:    ctx.Params(),
			Meta:      ctx.MetaAll(),
			Data:      ctx.DataAll(),
			Container: ctx.Container(),
			Name:      ctx.Name(),
			RequestID: ctx.RequestID(),
		}, nil
	})
}

func main() {}
