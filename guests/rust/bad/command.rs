//! command — a complete webtask built the wrong way: as a bin crate, which
//! rustc links as a WASI command (it exports _start and runs main). The
//! host refuses it at upload and says how to build a reactor
//! (--crate-type cdylib).

#[path = "../wasmtask.rs"]
mod wasmtask;

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::handle_simple(|_| Ok(String::from("{\"message\":\"hello, world\"}")))
}

fn main() {}
