//go:build wasip1

// Command status answers what the query asks for, to test the raw model and
// the host's response limits:
//
//	?status=N  the status code (default 200)
//	?body=S    S as the body
//	?size=N    N bytes of 'x' as the body (after body, if both are given)
//
// Every response carries x-guest: yes. A status or size that is not a number
// answers 400 with a text message.
package main

import (
	"strconv"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

// xs is the chunk size writes are made in; size=N does not allocate N bytes.
var xs = func() []byte {
	b := make([]byte, 32<<10)
	for i := range b {
		b[i] = 'x'
	}
	return b
}()

func init() {
	wasmtask.HandleRaw(func(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
		w.SetHeader("x-guest", "yes")
		status, size, err := parse(ctx.Query("status"), ctx.Query("size"))
		if err != nil {
			w.SetStatus(400)
			_, _ = w.WriteString(err.Error())
			return
		}
		w.SetStatus(status)
		_, _ = w.WriteString(ctx.Query("body"))
		for size > 0 {
			n := min(size, len(xs))
			_, _ = w.Write(xs[:n])
			size -= n
		}
	})
}

func parse(status, size string) (int, int, error) {
	s, z := 200, 0
	var err error
	if status != "" {
		if s, err = strconv.Atoi(status); err != nil {
			return 0, 0, err
		}
	}
	if size != "" {
		if z, err = strconv.Atoi(size); err != nil {
			return 0, 0, err
		}
	}
	return s, z, nil
}

func main() {}
