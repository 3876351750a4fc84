/*
 * shared-secret-simple — seed 001 ("Securing Webtasks Part 1: Shared Secret
 * Authorization") in the simple model:
 *
 *   module.exports = function(context, cb) {
 *     if (context.query.secret !== context.secrets['auth-secret'])
 *       return cb(new Error('Not Authorized'));
 *     cb(null, { question: 'Am I secure?', answer: 'Yes!' });
 *   };
 *
 * A missing or empty auth-secret never authorizes: 400 Not Authorized.
 */
#include <string.h>

#include "wasmtask.h"

int wasmtask_handle(void) {
	const char *secret = wt_secret("auth-secret"), *given = wt_query("secret");
	if (secret == NULL || *secret == 0 || given == NULL || strcmp(given, secret) != 0) {
		wt_error(0, "Not Authorized");
		return 0;
	}
	wt_result_str("{\"question\":\"Am I secure?\",\"answer\":\"Yes!\"}");
	return 0;
}
