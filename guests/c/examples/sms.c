/*
 * sms — seed 004 ("Using Webtask for a custom Passwordless connection in
 * Auth0"): the receiving end of Auth0's custom SMS gateway. Auth0 POSTs
 *
 *   {"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}
 *
 * and expects 200 once the message is on its way.
 *
 * Without the secret SMS_API_ID it is the seed's first version: it only
 * logs the message (console.log(req.body)) and answers 200.
 *
 *   server.post('/', (req, res, next) => {
 *     console.log(req.body);
 *     res.statusCode = 200;
 *     res.end();
 *   });
 *
 * With it, it is the seed's section 4, "Plugging in a real SMS provider":
 * it sends the message through Clickatell's HTTP API with the host's
 * outbound HTTP (wt_fetch; the admin allows the provider's host with
 * PUT /api/outbound/{container}):
 *
 *   request.post('https://api.clickatell.com/http/sendmsg', {
 *     qs: {from: sender, user: SMS_USERNAME, password: SMS_PASSWORD,
 *          api_id: SMS_API_ID, to: recipient, text: body},
 *     headers: {'user-agent': 'Auth0 - Passwordless'}
 *   }, (e, s, b) => {
 *     if (e) return next(e);
 *     if (s.statusCode != 200) return next(new Error('Send SMS - request failed: ' + s.statusCode));
 *     if (b.indexOf("ERR") === 0) return next(new Error('Send SMS failed: ' + b));
 *     res.statusCode = 200; res.end();
 *   });
 *
 * The settings are read from context.data as the seed does (stored secrets
 * win over the query), but for SMS_URL (the provider's url, by default
 * Clickatell's), which is read from the secrets only: a caller's
 * ?SMS_URL= must not choose where the credentials go. A failure is the
 * seed's next(err): 500, here with the message ("Send SMS - " and the
 * host's reason when the call itself failed).
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

/* query_param appends "&name=value" (no "&" first), URL-encoded; an
 * absent value is left out, as the request package's qs does. */
static void query_param(wt_buf *q, const char *name, const char *value) {
	if (value == NULL)
		return;
	if (q->len > 0)
		wt_buf_str(q, "&");
	wt_buf_str(q, name);
	wt_buf_str(q, "=");
	wt_buf_urlencode(q, value);
}

/* send_sms is the seed's section 4: the message through the provider. */
static void send_sms(const char *recipient, const char *text, const char *sender) {
	const char *url = wt_secret("SMS_URL");
	if (url == NULL || *url == 0)
		url = "https://api.clickatell.com/http/sendmsg";
	wt_buf q = {0};
	query_param(&q, "from", sender);
	query_param(&q, "user", wt_data("SMS_USERNAME"));
	query_param(&q, "password", wt_data("SMS_PASSWORD"));
	query_param(&q, "api_id", wt_data("SMS_API_ID"));
	query_param(&q, "to", recipient);
	query_param(&q, "text", text);
	wt_buf u = {0};
	wt_buf_str(&u, url);
	wt_buf_str(&u, strchr(url, '?') != NULL ? "&" : "?");
	wt_buf_write(&u, q.data, q.len);

	static const wt_http_header headers[] = {{"user-agent", "Auth0 - Passwordless"}};
	wt_fetch_req req = {"POST", u.data, headers, 1, NULL, 0};
	wt_fetch_resp resp;
	int st = wt_fetch(&req, &resp);
	wt_buf msg = {0};
	if (st < 0) {
		wt_buf_str(&msg, "Send SMS - ");
		wt_buf_str(&msg, wt_fetch_error());
	} else if (st != 200) {
		wt_buf_str(&msg, "Send SMS - request failed: ");
		wt_buf_int(&msg, st);
	} else if (strncmp(resp.body.data, "ERR", 3) == 0) {
		wt_buf_str(&msg, "Send SMS failed: ");
		wt_buf_write(&msg, resp.body.data, resp.body.len);
	}
	if (msg.len > 0) {
		wt_error(500, msg.data);
		return;
	}
	wt_set_status(200);
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
	const char *api_id = wt_secret("SMS_API_ID");
	if (api_id != NULL && *api_id != 0) {
		send_sms(recipient, text, sender);
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
