//! visits — counts the requests of its webtask in the webtask's storage
//! (`Context::storage_get` / `storage_set`), so the count survives
//! instances, policies and restarts: {"visits":N}. A write that loses to a
//! concurrent one reads again and retries.
//!
//!   curl http://127.0.0.1:8080/api/run/acme/visits

#[path = "../wasmtask.rs"]
mod wasmtask;

use wasmtask::json::{self, Object};
use wasmtask::{Context, Error, StorageError};

fn visit(ctx: &Context) -> Result<String, Error> {
    loop {
        let stored = ctx.storage_get()?;
        let visits = match &stored.data {
            None => 0,
            Some(text) => match json::get_raw(text, "visits") {
                None => 0, // {} counts 0
                Some(_) => json::get_int(text, "visits").ok_or_else(|| Error::new(500, "stored data is not {\"visits\":N}"))?,
            },
        };
        let doc = Object::new().int("visits", visits + 1).finish();
        match ctx.storage_set(&doc, &stored.etag, false) {
            Ok(_) => return Ok(doc),
            Err(StorageError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::handle_simple(visit)
}
