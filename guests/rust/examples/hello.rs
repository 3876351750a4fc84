//! hello — the smallest Rust webtask: {"message":"hello, <name>"}.
//!
//!   curl 'http://127.0.0.1:8080/api/run/acme/hello?name=Tomek'

#[path = "../wasmtask.rs"]
mod wasmtask;

use wasmtask::json::Object;

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::handle_simple(|ctx| {
        let name = ctx.query("name").unwrap_or_else(|| "world".into());
        Ok(Object::new().str("message", &format!("hello, {}", name)).finish())
    })
}
