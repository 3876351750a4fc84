//go:build wasip1

// Command hello is the smallest webtask: the simple model answering
// {"message":"hello, world"}.
package main

import "github.com/wasmtask/wasmtask/guests/go/wasmtask"

type greeting struct {
	Message string `json:"message"`
}

var hello = greeting{Message: "hello, world"}

func init() {
	wasmtask.HandleSimple(func(*wasmtask.Context) (greeting, error) {
		return hello, nil
	})
}

func main() {}
