//! shared-secret-simple — seed 001 ("Securing Webtasks Part 1: Shared
//! Secret Authorization") in the simple model:
//!
//!   module.exports = function(context, cb) {
//!     if (context.query.secret !== context.secrets['auth-secret'])
//!       return cb(new Error('Not Authorized'));
//!     cb(null, { question: 'Am I secure?', answer: 'Yes!' });
//!   };
//!
//! A missing or empty auth-secret never authorizes: 400 Not Authorized.

#[path = "../wasmtask.rs"]
mod wasmtask;

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::handle_simple(|ctx| match (ctx.secret("auth-secret"), ctx.query("secret")) {
        (Some(secret), Some(given)) if !secret.is_empty() && given == secret => {
            Ok(r#"{"question":"Am I secure?","answer":"Yes!"}"#.to_string())
        }
        _ => Err("Not Authorized".into()),
    })
}
