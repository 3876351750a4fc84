//go:build wasip1

// Command visits counts the requests of its webtask in the webtask's
// storage (wasmtask.Context.StorageGet/StorageSet), so the count survives
// instances, policies and restarts: {"visits":N}. A write that loses to a
// concurrent one reads again and retries.
package main

import (
	"encoding/json"
	"errors"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

type doc struct {
	Visits int `json:"visits"`
}

func init() {
	wasmtask.HandleSimple(func(c *wasmtask.Context) (doc, error) {
		for {
			data, etag, err := c.StorageGet()
			if err != nil {
				return doc{}, err
			}
			var d doc
			if data != nil {
				if err := json.Unmarshal(data, &d); err != nil {
					return doc{}, err
				}
			}
			d.Visits++
			b, _ := json.Marshal(d)
			if _, err := c.StorageSet(b, etag, false); errors.Is(err, wasmtask.ErrStorageConflict) {
				continue
			} else if err != nil {
				return doc{}, err
			}
			return d, nil
		}
	})
}

func main() {}
