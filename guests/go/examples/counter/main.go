//go:build wasip1

// Command counter answers {"count":N}, where N counts the requests this
// instance has served. It makes the instance policy visible: with "pool" the
// count grows across requests of one webtask; with "fresh" it is always 1;
// and two webtasks (or containers) never share a count.
package main

import "github.com/wasmtask/wasmtask/guests/go/wasmtask"

type counted struct {
	Count int `json:"count"`
}

var count int

func init() {
	wasmtask.HandleSimple(func(*wasmtask.Context) (counted, error) {
		count++
		return counted{Count: count}, nil
	})
}

func main() {}
