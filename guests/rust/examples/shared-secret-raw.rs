//! shared-secret-raw — seed 001 in the raw model:
//!
//!   module.exports = function(context, req, res) {
//!     if (context.query.secret !== context.secrets['auth-secret']) {
//!       res.writeHead(403);
//!       return res.end();
//!     }
//!     res.writeHead(200, { 'Content-Type': 'application/json' });
//!     res.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
//!   };
//!
//! A missing or empty auth-secret never authorizes: 403, empty body.

#[path = "../wasmtask.rs"]
mod wasmtask;

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::handle_raw(|ctx, res| match (ctx.secret("auth-secret"), ctx.query("secret")) {
        (Some(secret), Some(given)) if !secret.is_empty() && given == secret => {
            res.status(200);
            res.set_header("content-type", "application/json");
            res.write_str(r#"{"question":"Am I secure?","answer":"Yes!"}"#);
        }
        _ => res.status(403),
    })
}
