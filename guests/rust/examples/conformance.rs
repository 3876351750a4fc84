//! conformance — the Rust guest of the conformance kit (guests/conformance):
//! the same routes, with the same answers, as every other language's
//! conformance guest. guests/README.md describes the routes.

#[path = "../wasmtask.rs"]
mod wasmtask;

use wasmtask::json::{quote, Object};
use wasmtask::{map, sys, Context, Error, Level, Response, Route};

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::serve_routes(&[
        Route::simple("GET", "/hello", hello),
        Route::simple("*", "/context", context),
        Route::simple("GET", "/error", fail),
        Route::raw("GET", "/raw", raw),
        Route::raw("GET", "/binary", binary),
        Route::raw("POST", "/echo-body", echo_body),
        Route::simple("GET", "/log", log_lines),
        Route::raw("GET", "/trap", trap),
        Route::raw("GET", "/empty", |_, _| {}),
    ])
}

fn hello(ctx: &Context) -> Result<String, Error> {
    let name = ctx.query("name").unwrap_or_else(|| "world".into());
    Ok(Object::new().str("message", &format!("hello, {}", name)).finish())
}

/// A map as [["key","value"],...] in the host's order.
fn pairs(ctx: &Context, m: i32) -> String {
    let items: Vec<String> = ctx.map(m).iter().map(|(k, v)| format!("[{},{}]", quote(k), quote(v))).collect();
    format!("[{}]", items.join(","))
}

fn context(ctx: &Context) -> Result<String, Error> {
    let body = String::from_utf8_lossy(&ctx.body()).into_owned();
    let lookup = Object::new()
        .opt_str("query", ctx.query("x").as_deref())
        .opt_str("header", ctx.header("X-Custom").as_deref())
        .opt_str("secret", ctx.secret("auth-secret").as_deref())
        .opt_str("param", ctx.param("p").as_deref())
        .opt_str("meta", ctx.meta("owner").as_deref())
        .opt_str("data", ctx.data("name").as_deref())
        .opt_str("missing", ctx.query("no-such-key").as_deref())
        .finish();
    let unknown = unsafe {
        Object::new()
            .int("field", sys::get(99, std::ptr::null_mut(), 0) as i64)
            .int("map", sys::get_map(99, std::ptr::null_mut(), 0) as i64)
            .int("value", sys::get_value(99, "x".as_ptr(), 1, std::ptr::null_mut(), 0) as i64)
            .finish()
    };
    Ok(Object::new()
        .str("method", &ctx.method())
        .str("path", &ctx.path())
        .str("raw_query", &ctx.raw_query())
        .str("body", &body)
        .str("container", &ctx.container())
        .str("name", &ctx.name())
        .str("request_id", &ctx.request_id())
        .raw("query", &pairs(ctx, map::QUERY))
        .raw("headers", &pairs(ctx, map::HEADERS))
        .raw("secrets", &pairs(ctx, map::SECRETS))
        .raw("params", &pairs(ctx, map::PARAMS))
        .raw("meta", &pairs(ctx, map::META))
        .raw("data", &pairs(ctx, map::DATA))
        .raw("lookup", &lookup)
        .raw("unknown", &unknown)
        .finish())
}

fn fail(ctx: &Context) -> Result<String, Error> {
    let status = ctx.query("status").and_then(|s| s.parse().ok()).unwrap_or(0);
    let message = ctx.query("message").unwrap_or_else(|| "Not Authorized".into());
    Err(Error::new(status, message))
}

fn raw(ctx: &Context, res: &mut Response) {
    res.status(ctx.query("status").and_then(|s| s.parse().ok()).unwrap_or(200));
    res.set_header("content-type", "text/plain; charset=utf-8");
    res.set_header("x-replaced", "old");
    res.set_header("x-replaced", "new");
    res.add_header("x-multi", "a");
    res.add_header("x-multi", "b");
    if let Some(h) = ctx.query("header") {
        if let Some((name, value)) = h.split_once(':') {
            res.add_header(name, value);
        }
    }
    res.write_str("raw ");
    res.write_str("body");
}

fn binary(_: &Context, res: &mut Response) {
    let b: Vec<u8> = (0..=255u8).collect();
    res.set_header("content-type", "application/octet-stream");
    res.write(&b);
}

fn echo_body(ctx: &Context, res: &mut Response) {
    let ct = ctx.header("content-type").unwrap_or_else(|| "application/octet-stream".into());
    res.set_header("content-type", &ct);
    res.write(&ctx.body());
}

fn log_lines(_: &Context) -> Result<String, Error> {
    wasmtask::log(Level::Debug, "debug line");
    wasmtask::log(Level::Info, "info line");
    wasmtask::log(Level::Warn, "warn line");
    wasmtask::log(Level::Error, "error line");
    let msg = "level 7 line";
    unsafe { sys::log(7, msg.as_ptr(), msg.len() as i32) };
    println!("stdout line");
    eprintln!("stderr line");
    Ok(Object::new().bool("logged", true).finish())
}

fn trap(_: &Context, _: &mut Response) {
    panic!("trap route");
}
