//go:build wasip1

// Command shared-secret-raw is seed 001 in the raw model:
//
//	module.exports = function(context, req, res) {
//	  if (context.query.secret !== context.secrets['auth-secret']) {
//	    res.writeHead(403);
//	    return res.end();
//	  }
//	  res.writeHead(200, { 'Content-Type': 'application/json' });
//	  res.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
//	};
//
// A missing or empty auth-secret never authorizes: 403, empty body.
package main

import "github.com/wasmtask/wasmtask/guests/go/wasmtask"

const secure = `{"question":"Am I secure?","answer":"Yes!"}`

func init() {
	wasmtask.HandleRaw(func(ctx *wasmtask.Context, w *wasmtask.ResponseWriter) {
		secret := ctx.Secret("auth-secret")
		if secret == "" || ctx.Query("secret") != secret {
			w.SetStatus(403)
			return
		}
		w.SetStatus(200)
		w.SetHeader("content-type", "application/json")
		_, _ = w.WriteString(secure)
	})
}

func main() {}
