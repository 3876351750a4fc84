//go:build wasip1

// Command shared-secret-simple is seed 001 ("Securing Webtasks Part 1:
// Shared Secret Authorization") in the simple model:
//
//	module.exports = function(context, cb) {
//	  if (context.query.secret !== context.secrets['auth-secret'])
//	    return cb(new Error('Not Authorized'));
//	  cb(null, { question: 'Am I secure?', answer: 'Yes!' });
//	};
//
// A missing or empty auth-secret never authorizes: 400 Not Authorized.
package main

import (
	"errors"

	"github.com/wasmtask/wasmtask/guests/go/wasmtask"
)

type answer struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

var (
	errNotAuthorized = errors.New("Not Authorized")
	secure           = answer{Question: "Am I secure?", Answer: "Yes!"}
)

func init() {
	wasmtask.HandleSimple(func(ctx *wasmtask.Context) (answer, error) {
		secret := ctx.Secret("auth-secret")
		if secret == "" || ctx.Query("secret") != secret {
			return answer{}, errNotAuthorized
		}
		return secure, nil
	})
}

func main() {}
