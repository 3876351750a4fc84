/*
 * shared-secret-raw — seed 001 in the raw model:
 *
 *   module.exports = function(context, req, res) {
 *     if (context.query.secret !== context.secrets['auth-secret']) {
 *       res.writeHead(403);
 *       return res.end();
 *     }
 *     res.writeHead(200, { 'Content-Type': 'application/json' });
 *     res.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
 *   };
 *
 * A missing or empty auth-secret never authorizes: 403, empty body.
 */
#include <string.h>

#include "wasmtask.h"

int wasmtask_handle(void) {
	const char *secret = wt_secret("auth-secret"), *given = wt_query("secret");
	if (secret == NULL || *secret == 0 || given == NULL || strcmp(given, secret) != 0) {
		wt_set_status(403);
		return 0;
	}
	wt_set_status(200);
	wt_set_header("content-type", "application/json");
	wt_write_str("{\"question\":\"Am I secure?\",\"answer\":\"Yes!\"}");
	return 0;
}
