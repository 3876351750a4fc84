/*
 * sms — seed 004 ("Using Webtask for a custom Passwordless connection in
 * Auth0"): the receiving end of Auth0's custom SMS gateway. Auth0 POSTs
 *
 *   {"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}
 *
 * and expects 200 once the message is on its way. The seed's first version
 * only logs the message (console.log(req.body)) and answers 200, as this
 * one does; sending it through an SMS provider's API needs outbound HTTP,
 * which the host does not offer yet.
 *
 *   server.post('/', (req, res, next) => {
 *     console.log(req.body);
 *     res.statusCode = 200;
 *     res.end();
 *   });
 *
 * The seed's "Don't do this!": a gateway anyone can call. When the webtask
 * has a secret named auth-token, a request must carry
 * "Authorization: Bearer <auth-token>" or it gets 401.
 *
 * Any other method or path answers 404; a body that is not a JSON object
 * with string recipient, body and sender answers 400.
 */
#include <stdio.h>
#include <string.h>

#include "wasmtask.h"

/* authorized compares the bearer token with the auth-token secret, if set. */
static int authorized(void) {
	const char *want = wt_secret("auth-token");
	if (want == NULL || *want == 0)
		return 1;
	const char *h = wt_header("authorization");
	if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	size_t n = strlen(want);
	if (strlen(h) != n)
		return 0;
	unsigned char diff = 0; /* no early exit: timing does not tell how much matched */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(h[i] ^ want[i]);
	return diff == 0;
}

static int receive(void) {
	if (!authorized()) {
		wt_set_status(401);
		wt_set_header("www-authenticate", "Bearer");
		return 0;
	}
	wt_bytes body = wt_body();
	const char *recipient = wt_json_string(body.data, body.len, "recipient");
	const char *text = wt_json_string(body.data, body.len, "body");
	const char *sender = wt_json_string(body.data, body.len, "sender");
	if (recipient == NULL || text == NULL || sender == NULL) {
		wt_error(400, "expected a JSON object with string recipient, body and sender");
		return 0;
	}
	/* console.log(req.body): one info line, as JSON. */
	wt_buf line = {0};
	wt_buf_str(&line, "{\"recipient\":");
	wt_buf_json_cstr(&line, recipient);
	wt_buf_str(&line, ",\"body\":");
	wt_buf_json_cstr(&line, text);
	wt_buf_str(&line, ",\"sender\":");
	wt_buf_json_cstr(&line, sender);
	wt_buf_str(&line, "}");
	printf("%s\n", line.data);
	wt_set_status(200);
	return 0;
}

int wasmtask_handle(void) {
	static const wt_route routes[] = {{"POST", "/", receive}};
	return WT_ROUTES(routes);
}
