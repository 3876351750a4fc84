//! sms — seed 004 ("Using Webtask for a custom Passwordless connection in
//! Auth0"), the receiving end of Auth0's custom SMS gateway; the Rust port
//! of ../../c/examples/sms.c, which quotes the seed. Auth0 POSTs
//!
//!   {"recipient":"+12223334444","body":"Your code is > 326162","sender":"+11111111"}
//!
//! and expects 200 once the message is on its way.
//!
//! - Without the secret `SMS_API_ID` (the seed's first version) it logs the
//!   message as JSON and answers 200.
//! - With it (the seed's section 4, "Plugging in a real SMS provider") it
//!   POSTs the message to the provider (`SMS_URL`, a secret; Clickatell's
//!   API by default) with `Context::fetch`: query `from`, `user`
//!   (`SMS_USERNAME`), `password` (`SMS_PASSWORD`), `api_id`, `to`, `text`,
//!   header `user-agent: Auth0 - Passwordless`. A failed call, a status
//!   other than 200 or an answer starting with `ERR` is 500 with the
//!   seed's message; otherwise 200. The admin allows the provider's host
//!   with `PUT /api/outbound/{container}`.
//! - With the secret `auth-token` a request must carry
//!   `Authorization: Bearer <auth-token>` (the seed's "Don't do this!"), or 401.
//!
//! Settings are read from `context.data` as the seed does (stored secrets
//! win over the query), `SMS_URL` from the secrets only: a caller's
//! `?SMS_URL=` must not choose where the credentials go. Any other method
//! or path answers 404; a body that is not a message answers 400.

#[path = "../wasmtask.rs"]
mod wasmtask;

use wasmtask::{http, json, Context, Response, Route};

const DEFAULT_URL: &str = "https://api.clickatell.com/http/sendmsg";

/// Compares the bearer token with the auth-token secret, if set, in time
/// that does not depend on where they differ.
fn authorized(ctx: &Context) -> bool {
    let want = match ctx.secret("auth-token") {
        Some(w) if !w.is_empty() => w,
        _ => return true,
    };
    let header = ctx.header("authorization").unwrap_or_default();
    let given = match header.strip_prefix("Bearer ") {
        Some(g) if g.len() == want.len() => g,
        _ => return false,
    };
    given.bytes().zip(want.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
}

/// Appends `s` percent-encoded (RFC 3986's unreserved characters stay).
fn url_encode(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{:02X}", b));
        }
    }
}

/// The seed's section 4: the message through the provider. Err is the
/// message of the seed's next(err).
fn send_sms(ctx: &Context, recipient: &str, text: &str, sender: &str) -> Result<(), String> {
    let base = ctx.secret("SMS_URL").filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_URL.into());
    let mut url = base.clone();
    let mut sep = if base.contains('?') { '&' } else { '?' };
    let params = [
        ("from", Some(sender.to_string())),
        ("user", ctx.data("SMS_USERNAME")),
        ("password", ctx.data("SMS_PASSWORD")),
        ("api_id", ctx.data("SMS_API_ID")),
        ("to", Some(recipient.to_string())),
        ("text", Some(text.to_string())),
    ];
    for (name, value) in params.iter() {
        if let Some(v) = value {
            url.push(sep);
            url.push_str(name);
            url.push('=');
            url_encode(&mut url, v);
            sep = '&';
        }
    }
    let req = http::Request::post(&url).header("user-agent", "Auth0 - Passwordless");
    let resp = ctx.fetch(&req).map_err(|e| format!("Send SMS - {}", e))?;
    if resp.status != 200 {
        return Err(format!("Send SMS - request failed: {}", resp.status));
    }
    let body = resp.text();
    if body.starts_with("ERR") {
        return Err(format!("Send SMS failed: {}", body));
    }
    Ok(())
}

fn receive(ctx: &Context, res: &mut Response) {
    if !authorized(ctx) {
        res.status(401);
        res.set_header("www-authenticate", "Bearer");
        return;
    }
    let body = String::from_utf8(ctx.body()).unwrap_or_default();
    let field = |k| json::get_str(&body, k);
    let (recipient, text, sender) = match (field("recipient"), field("body"), field("sender")) {
        (Some(r), Some(t), Some(s)) => (r, t, s),
        _ => return wasmtask::error(400, "expected a JSON object with string recipient, body and sender"),
    };
    if ctx.secret("SMS_API_ID").map_or(false, |id| !id.is_empty()) {
        if let Err(msg) = send_sms(ctx, &recipient, &text, &sender) {
            return wasmtask::error(500, &msg);
        }
    } else {
        // console.log(req.body): one info line, as JSON.
        println!("{}", json::Object::new().str("recipient", &recipient).str("body", &text).str("sender", &sender).finish());
    }
    res.status(200);
}

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::serve_routes(&[Route::raw("POST", "/", receive)])
}
