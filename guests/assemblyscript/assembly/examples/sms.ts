// sms — seed 004 ("Using Webtask for a custom Passwordless connection in
// Auth0"), the receiving end of Auth0's custom SMS gateway; the
// AssemblyScript port of ../../../c/examples/sms.c, which quotes the seed.
// Auth0 POSTs
//
//   {"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}
//
// and expects 200 once the message is on its way.
//
// - Without the secret SMS_API_ID (the seed's first version) it logs the
//   message as JSON and answers 200.
// - With it (the seed's section 4, "Plugging in a real SMS provider") it
//   POSTs the message to the provider (SMS_URL, a secret; Clickatell's API
//   by default) with fetch: query from, user (SMS_USERNAME), password
//   (SMS_PASSWORD), api_id, to, text, header user-agent
//   "Auth0 - Passwordless". A failed call, a status other than 200 or an
//   answer starting with ERR is 500 with the seed's message; otherwise 200.
//   The admin allows the provider's host with PUT /api/outbound/{container}.
// - With the secret auth-token a request must carry
//   "Authorization: Bearer <auth-token>" (the seed's "Don't do this!"), or
//   401.
//
// Settings are read from context.data as the seed does (stored secrets win
// over the query), SMS_URL from the secrets only: a caller's ?SMS_URL= must
// not choose where the credentials go. Any other method or path answers
// 404; a body that is not a message answers 400.
import {
  Context, FetchRequest, Response, Router, error, fetch, jsonString, println, quote, serve, urlEncode,
} from "../wasmtask";

const DEFAULT_URL = "https://api.clickatell.com/http/sendmsg";

// authorized compares the bearer token with the auth-token secret, if set.
function authorized(ctx: Context): bool {
  const want = ctx.secret("auth-token");
  if (want === null || want.length == 0) return true;
  const h = ctx.header("authorization");
  if (h === null || !h.startsWith("Bearer ")) return false;
  const given = h.substring(7);
  if (given.length != want.length) return false;
  let diff = 0; // no early exit: timing does not tell how much matched
  for (let i = 0; i < want.length; i++) diff |= given.charCodeAt(i) ^ want.charCodeAt(i);
  return diff == 0;
}

// param appends "&name=value" (no "&" first), URL-encoded; an absent value
// is left out, as the request package's qs does.
function param(q: string, name: string, value: string | null): string {
  if (value === null) return q;
  return (q.length > 0 ? q + "&" : q) + name + "=" + urlEncode(value);
}

// send is the seed's section 4: the message through the provider. It
// answers the message of the seed's next(err), or null when sent.
function send(ctx: Context, recipient: string, text: string, sender: string): string | null {
  let url = ctx.secret("SMS_URL");
  if (url === null || url.length == 0) url = DEFAULT_URL;
  let q = param("", "from", sender);
  q = param(q, "user", ctx.data("SMS_USERNAME"));
  q = param(q, "password", ctx.data("SMS_PASSWORD"));
  q = param(q, "api_id", ctx.data("SMS_API_ID"));
  q = param(q, "to", recipient);
  q = param(q, "text", text);
  const u = url + (url.includes("?") ? "&" : "?") + q;

  const r = fetch(FetchRequest.post(u).header("user-agent", "Auth0 - Passwordless"));
  if (!r.ok) return "Send SMS - " + r.error;
  if (r.status != 200) return "Send SMS - request failed: " + r.status.toString();
  const body = r.text;
  if (body.startsWith("ERR")) return "Send SMS failed: " + body;
  return null;
}

function receive(ctx: Context, res: Response): void {
  if (!authorized(ctx)) {
    res.status(401);
    res.setHeader("www-authenticate", "Bearer");
    return;
  }
  const body = ctx.bodyText();
  const recipient = jsonString(body, "recipient");
  const text = jsonString(body, "body");
  const sender = jsonString(body, "sender");
  if (recipient === null || text === null || sender === null) {
    error(400, "expected a JSON object with string recipient, body and sender");
    return;
  }
  const apiId = ctx.secret("SMS_API_ID");
  if (apiId !== null && apiId.length > 0) {
    const failed = send(ctx, recipient, text, sender);
    if (failed !== null) {
      error(500, failed);
      return;
    }
  } else {
    // console.log(req.body): one info line, as JSON.
    println('{"recipient":' + quote(recipient) + ',"body":' + quote(text) + ',"sender":' + quote(sender) + "}");
  }
  res.status(200);
}

const router = new Router().post("/", receive);

export function wt_handle(): i32 {
  return serve(router);
}
