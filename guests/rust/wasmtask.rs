//! The Rust guest SDK for wasmtask, host ABI v1 (abi/SPEC.md), in one file
//! and without crates: include it from a guest with
//!
//! ```ignore
//! #[path = "../wasmtask.rs"]
//! mod wasmtask;
//! ```
//!
//! and export the handler yourself:
//!
//! ```ignore
//! #[no_mangle]
//! pub extern "C" fn wt_handle() -> i32 {
//!     wasmtask::handle_simple(|ctx| {
//!         let name = ctx.query("name").unwrap_or_else(|| "world".into());
//!         Ok(wasmtask::json::Object::new().str("message", &format!("hello, {}", name)).finish())
//!     })
//! }
//! ```
//!
//! Build a reactor (a cdylib) with Debian's rustc:
//!
//! ```text
//! /usr/bin/rustc --edition 2021 --target wasm32-wasi --crate-type cdylib \
//!     -C opt-level=s -C panic=abort -C lto -C strip=symbols -o hello.wasm hello.rs
//! ```
//!
//! Programming models: `handle_simple` (return JSON text or an `Error`),
//! `handle_raw` (set status, headers and body on a `Response`), or
//! `serve_routes` with a table of `Route`s mixing both (the Express style).
//! A panic prints its message to stderr (an error log line) and traps: the
//! host answers 500 and discards the instance.
#![allow(dead_code)]

/// The host functions, exactly as the ABI declares them.
pub mod sys {
    #[link(wasm_import_module = "wasmtask_v1")]
    extern "C" {
        pub fn get(field: i32, buf: *mut u8, buf_len: i32) -> i32;
        pub fn get_value(map: i32, key: *const u8, key_len: i32, buf: *mut u8, buf_len: i32) -> i32;
        pub fn get_map(map: i32, buf: *mut u8, buf_len: i32) -> i32;
        pub fn set_status(status: i32);
        pub fn set_header(name: *const u8, name_len: i32, value: *const u8, value_len: i32);
        pub fn add_header(name: *const u8, name_len: i32, value: *const u8, value_len: i32);
        pub fn write_body(buf: *const u8, buf_len: i32);
        pub fn result(buf: *const u8, buf_len: i32);
        pub fn error(status: i32, msg: *const u8, msg_len: i32);
        pub fn log(level: i32, buf: *const u8, buf_len: i32);
        pub fn storage_get(buf: *mut u8, buf_len: i32) -> i32;
        pub fn storage_set(
            data: *const u8,
            data_len: i32,
            etag: *const u8,
            etag_len: i32,
            flags: i32,
            buf: *mut u8,
            buf_len: i32,
        ) -> i32;
        pub fn http_request(
            method: *const u8,
            method_len: i32,
            url: *const u8,
            url_len: i32,
            headers: *const u8,
            headers_len: i32,
            body: *const u8,
            body_len: i32,
        ) -> i32;
        pub fn http_response(part: i32, buf: *mut u8, buf_len: i32) -> i32;
    }
}

/// Scalar fields read with `get` (abi.Field*).
pub mod field {
    pub const METHOD: i32 = 0;
    pub const PATH: i32 = 1;
    pub const QUERY: i32 = 2;
    pub const BODY: i32 = 3;
    pub const CONTAINER: i32 = 4;
    pub const NAME: i32 = 5;
    pub const REQUEST_ID: i32 = 6;
    pub const CONTEXT_JSON: i32 = 7;
    /// The verified caller: the JWT's claims as one JSON object; not found when none.
    pub const USER: i32 = 8;
}

/// Maps read with `get_value` and `get_map` (abi.Map*).
pub mod map {
    pub const QUERY: i32 = 0;
    pub const HEADERS: i32 = 1;
    pub const SECRETS: i32 = 2;
    pub const PARAMS: i32 = 3;
    pub const META: i32 = 4;
    pub const DATA: i32 = 5;
    /// The verified caller's claims; empty when none.
    pub const USER: i32 = 6;
}

/// What `get`, `get_value` and `get_map` return for a missing value.
pub const NOT_FOUND: i32 = -1;

/// The first read of a value uses a buffer this large; a longer value is
/// read again into a buffer of its exact size (the ABI's buffer rule).
const FIRST_READ: usize = 1024;

/// Applies the buffer rule to one host read: the bytes, or the negative
/// result. It asks again until the value fits (a stored document may grow
/// between two calls).
fn read_result(call: impl Fn(*mut u8, i32) -> i32) -> Result<Vec<u8>, i32> {
    let mut buf = vec![0u8; FIRST_READ];
    loop {
        let n = call(buf.as_mut_ptr(), buf.len() as i32);
        if n < 0 {
            return Err(n);
        }
        let n = n as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf = vec![0u8; n];
    }
}

/// A read where every negative result means "not found".
fn read(call: impl Fn(*mut u8, i32) -> i32) -> Option<Vec<u8>> {
    read_result(call).ok()
}

fn string(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Decodes `key NUL value NUL …` (get_map's encoding).
fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut parts = raw.split(|&b| b == 0);
    // "k\0v\0" splits into "k", "v" and a final "" that pairs with nothing.
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        out.push((string(k.to_vec()), string(v.to_vec())));
    }
    out
}

/// The request being served. Every accessor is a host call.
pub struct Context {
    _private: (),
}

impl Context {
    /// Any scalar field; `None` for an unknown field.
    pub fn field(&self, f: i32) -> Option<Vec<u8>> {
        read(|buf, len| unsafe { sys::get(f, buf, len) })
    }
    fn field_string(&self, f: i32) -> String {
        self.field(f).map(string).unwrap_or_default()
    }
    /// HTTP method in upper case: "GET", "POST", ….
    pub fn method(&self) -> String {
        self.field_string(field::METHOD)
    }
    /// The path below the webtask, starting with "/".
    pub fn path(&self) -> String {
        self.field_string(field::PATH)
    }
    /// The query string without "?", `key` and `webtask_*`.
    pub fn raw_query(&self) -> String {
        self.field_string(field::QUERY)
    }
    pub fn container(&self) -> String {
        self.field_string(field::CONTAINER)
    }
    pub fn name(&self) -> String {
        self.field_string(field::NAME)
    }
    pub fn request_id(&self) -> String {
        self.field_string(field::REQUEST_ID)
    }
    /// The raw request body.
    pub fn body(&self) -> Vec<u8> {
        self.field(field::BODY).unwrap_or_default()
    }
    /// The whole context as one JSON object (abi/SPEC.md, "The context JSON").
    pub fn context_json(&self) -> String {
        self.field_string(field::CONTEXT_JSON)
    }
    /// One value of a map (the first of repeated keys); `None` when absent.
    pub fn value(&self, m: i32, key: &str) -> Option<String> {
        read(|buf, len| unsafe { sys::get_value(m, key.as_ptr(), key.len() as i32, buf, len) }).map(string)
    }
    /// Every entry of a map in the host's order: sorted by key, repeated
    /// keys in arrival order. Empty when the map does not exist.
    pub fn map(&self, m: i32) -> Vec<(String, String)> {
        pairs(&read(|buf, len| unsafe { sys::get_map(m, buf, len) }).unwrap_or_default())
    }
    /// A URL-decoded query parameter.
    pub fn query(&self, key: &str) -> Option<String> {
        self.value(map::QUERY, key)
    }
    /// A request header, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<String> {
        self.value(map::HEADERS, name)
    }
    /// A decrypted secret (token ectx, then the webtask's stored secrets).
    pub fn secret(&self, key: &str) -> Option<String> {
        self.value(map::SECRETS, key)
    }
    /// A public token parameter (pctx).
    pub fn param(&self, key: &str) -> Option<String> {
        self.value(map::PARAMS, key)
    }
    /// The webtask's metadata.
    pub fn meta(&self, key: &str) -> Option<String> {
        self.value(map::META, key)
    }
    /// The merged view: query, then params override, then secrets override.
    pub fn data(&self, key: &str) -> Option<String> {
        self.value(map::DATA, key)
    }
    /// One claim of the caller the host verified before the run (the
    /// webtask's declared JWT auth, abi/SPEC.md "Declarative auth"):
    /// strings as they are, other values as JSON text. `None` when absent
    /// or when the webtask declares no JWT auth.
    pub fn user(&self, claim: &str) -> Option<String> {
        self.value(map::USER, claim)
    }
    /// The verified caller's claims as one JSON object; `None` when the
    /// webtask declares no JWT auth.
    pub fn user_json(&self) -> Option<String> {
        self.field(field::USER).map(string)
    }

    /// Reads the named webtask's stored document: the value as JSON text
    /// (`None` when nothing is stored) and its etag, to give back to
    /// `storage_set`.
    pub fn storage_get(&self) -> Result<Stored, StorageError> {
        let doc = read_result(|buf, len| unsafe { sys::storage_get(buf, len) }).map_err(StorageError::from_code)?;
        let doc = std::str::from_utf8(&doc).map_err(|_| StorageError::Failed)?;
        let data = json::get_raw(doc, "data").ok_or(StorageError::Failed)?;
        let etag = json::get_str(doc, "etag").ok_or(StorageError::Failed)?;
        let data = if data == "null" { None } else { Some(data.to_string()) };
        Ok(Stored { data, etag })
    }

    /// Stores `data` (JSON text) if `etag` is the stored document's (as
    /// `storage_get` returned it; `storage::NO_ETAG` while nothing is
    /// stored), or whatever is stored with `force`, and returns the new
    /// etag. `Ok` means the write is durable; `Err(StorageError::Conflict)`
    /// means another write came first: read again and retry.
    pub fn storage_set(&self, data: &str, etag: &str, force: bool) -> Result<String, StorageError> {
        let flags = if force { storage::FORCE } else { 0 };
        let mut buf = [0u8; 64]; // an etag is at most 32 bytes (abi/SPEC.md)
        let n = unsafe {
            sys::storage_set(
                data.as_ptr(),
                data.len() as i32,
                etag.as_ptr(),
                etag.len() as i32,
                flags,
                buf.as_mut_ptr(),
                buf.len() as i32,
            )
        };
        if n < 0 {
            return Err(StorageError::from_code(n));
        }
        let etag = buf.get(..n as usize).ok_or(StorageError::Failed)?;
        Ok(string(etag.to_vec()))
    }

    /// Makes an outbound HTTP call through the host, which applies the
    /// container's policy (set by the admin: `PUT /api/outbound/{container}`),
    /// the request's time limit and a response size limit, and logs
    /// `outbound METHOD host STATUS` (never the path, query, headers or
    /// body). Any status is a `Response`; `Err` is a call that did not get
    /// one, with the host's reason:
    ///
    /// ```ignore
    /// let resp = ctx.fetch(&http::Request::post(url).header("content-type", "application/json").body(json))?;
    /// if resp.status != 200 { … }
    /// ```
    pub fn fetch(&self, req: &http::Request) -> Result<http::Response, http::Error> {
        let mut hdrs = Vec::new();
        for (k, v) in &req.headers {
            hdrs.extend_from_slice(k.as_bytes());
            hdrs.push(0);
            hdrs.extend_from_slice(v.as_bytes());
            hdrs.push(0);
        }
        let st = unsafe {
            sys::http_request(
                req.method.as_ptr(),
                req.method.len() as i32,
                req.url.as_ptr(),
                req.url.len() as i32,
                hdrs.as_ptr(),
                hdrs.len() as i32,
                req.body.as_ptr(),
                req.body.len() as i32,
            )
        };
        let part = |p: i32| read(|buf, len| unsafe { sys::http_response(p, buf, len) });
        if st < 0 {
            let message = part(http::PART_ERROR).map(string).unwrap_or_default();
            return Err(http::Error { kind: http::ErrorKind::from_code(st), message });
        }
        Ok(http::Response {
            status: st as u16,
            headers: pairs(&part(http::PART_HEADERS).unwrap_or_default()),
            body: part(http::PART_BODY).unwrap_or_default(),
        })
    }
}

/// Outbound HTTP (abi/SPEC.md, "Outbound HTTP"): what `Context::fetch`
/// sends and gets back.
pub mod http {
    /// Parts of the last response (abi.HTTPPart*).
    pub const PART_HEADERS: i32 = 0;
    pub const PART_BODY: i32 = 1;
    pub const PART_ERROR: i32 = 2;

    /// An outbound call: method ("" is GET), an absolute http(s) url,
    /// headers in order and a body. The host owns `host`,
    /// `content-length`, `transfer-encoding` and `connection`.
    #[derive(Debug, Clone, Default)]
    pub struct Request {
        pub method: String,
        pub url: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Request {
        pub fn new(method: &str, url: &str) -> Request {
            Request { method: method.into(), url: url.into(), ..Request::default() }
        }
        pub fn get(url: &str) -> Request {
            Request::new("GET", url)
        }
        pub fn post(url: &str) -> Request {
            Request::new("POST", url)
        }
        /// Adds a header.
        pub fn header(mut self, name: &str, value: &str) -> Request {
            self.headers.push((name.into(), value.into()));
            self
        }
        /// Sets the body.
        pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
            self.body = body.into();
            self
        }
    }

    /// The answer to a call: any status, the headers (names lower-cased,
    /// sorted, repeated names in order) and the body.
    #[derive(Debug, Clone)]
    pub struct Response {
        pub status: u16,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Response {
        /// The first value of a header (any case).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
        /// The body as text (invalid UTF-8 replaced).
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    /// Why a call got no response (the ABI's negative results).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ErrorKind {
        /// The container's policy refuses the url; no connection was made.
        Denied,
        /// DNS, connect, TLS, the peer closed, no answer in the request's time.
        Failed,
        /// The response body is over the policy's `max_response_bytes`.
        TooLarge,
        /// This request made the policy's `max_calls` calls.
        TooMany,
        /// A bad method, url (not absolute http/https) or header.
        Invalid,
    }

    impl ErrorKind {
        pub(crate) fn from_code(n: i32) -> ErrorKind {
            match n {
                -5 => ErrorKind::Denied,
                -7 => ErrorKind::TooLarge,
                -8 => ErrorKind::TooMany,
                -9 => ErrorKind::Invalid,
                _ => ErrorKind::Failed,
            }
        }
    }

    /// A call that got no response: its kind and the host's reason, e.g.
    /// "api.example.com:443 is not on the container's outbound allow-list"
    /// (`Denied`).
    #[derive(Debug, Clone)]
    pub struct Error {
        pub kind: ErrorKind,
        pub message: String,
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.message)
        }
    }
}

impl From<http::Error> for Error {
    /// A failed call answers 502 with the host's reason, so `?` works in a
    /// simple-model handler.
    fn from(e: http::Error) -> Error {
        Error::new(502, e.message)
    }
}

/// Storage constants (abi/abi.go).
pub mod storage {
    /// `storage_set`'s flag that overwrites whatever is stored.
    pub const FORCE: i32 = 1;
    /// The etag while nothing is stored.
    pub const NO_ETAG: &str = "0";
}

/// The named webtask's stored document, as `Context::storage_get` read it.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The stored value as JSON text; `None` when nothing is stored.
    pub data: Option<String>,
    /// The document's etag, for `Context::storage_set`.
    pub etag: String,
}

/// Why a storage call failed (abi/SPEC.md, "Storage").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError {
    /// The run has no storage (code a token fixes; only a named webtask has one).
    NoStorage,
    /// The etag given is not the stored document's; nothing was written.
    Conflict,
    /// The data is over the 500 KB limit; nothing was written.
    TooLarge,
    /// The data is not JSON, or the store failed (the reason is in the log).
    Failed,
}

impl StorageError {
    fn from_code(n: i32) -> StorageError {
        match n {
            NOT_FOUND => StorageError::NoStorage,
            -2 => StorageError::Conflict,
            -3 => StorageError::TooLarge,
            _ => StorageError::Failed,
        }
    }

    /// A sentence for logs and error responses.
    pub fn message(self) -> &'static str {
        match self {
            StorageError::NoStorage => "this run has no storage (only a named webtask has one)",
            StorageError::Conflict => "storage: the data changed since it was read",
            StorageError::TooLarge => "storage: the data is over the 500 KB limit",
            StorageError::Failed => "storage: the call failed (see the log)",
        }
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<StorageError> for Error {
    /// A storage failure answers 500 with its message, so `?` works in a
    /// simple-model handler.
    fn from(e: StorageError) -> Error {
        Error::new(500, e.message())
    }
}

/// The raw-model response. Each call takes effect at once; the response is
/// sent when the handler returns. The host traps (500) on a status outside
/// 100–599, a header name that is not an HTTP token, a value with CR, LF or
/// NUL, or a header it owns (content-length, connection, x-wt-*, …).
pub struct Response {
    _private: (),
}

impl Response {
    pub fn status(&mut self, code: u16) {
        unsafe { sys::set_status(code as i32) }
    }
    /// Sets a header, replacing its values.
    pub fn set_header(&mut self, name: &str, value: &str) {
        unsafe { sys::set_header(name.as_ptr(), name.len() as i32, value.as_ptr(), value.len() as i32) }
    }
    /// Adds one more value to a header.
    pub fn add_header(&mut self, name: &str, value: &str) {
        unsafe { sys::add_header(name.as_ptr(), name.len() as i32, value.as_ptr(), value.len() as i32) }
    }
    /// Appends bytes to the body.
    pub fn write(&mut self, b: &[u8]) {
        unsafe { sys::write_body(b.as_ptr(), b.len() as i32) }
    }
    pub fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes())
    }
}

/// A simple-model error: the response is `status` (0 means 400) with
/// `{"code":…,"error":"Script returned an error.","message":…}`.
#[derive(Debug)]
pub struct Error {
    pub status: u16,
    pub message: String,
}

impl Error {
    pub fn new(status: u16, message: impl Into<String>) -> Error {
        Error { status, message: message.into() }
    }
}

impl<T: Into<String>> From<T> for Error {
    /// A plain message is a 400 error, as `cb(new Error(msg))` was.
    fn from(message: T) -> Error {
        Error::new(0, message)
    }
}

/// Finishes the request with a JSON result (200, application/json). The
/// text must be one valid JSON value or the host traps.
pub fn result(json: &str) {
    unsafe { sys::result(json.as_ptr(), json.len() as i32) }
}

/// Finishes the request with a simple-model error.
pub fn error(status: u16, message: &str) {
    unsafe { sys::error(status as i32, message.as_ptr(), message.len() as i32) }
}

/// Log levels.
#[derive(Clone, Copy)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Writes one line to the container's log. println! (info) and eprintln!
/// (error) log too, one line per "\n".
pub fn log(level: Level, msg: &str) {
    unsafe { sys::log(level as i32, msg.as_ptr(), msg.len() as i32) }
}

/// A simple-model handler: JSON text, or an error.
pub type SimpleFn = fn(&Context) -> Result<String, Error>;
/// A raw-model handler.
pub type RawFn = fn(&Context, &mut Response);

fn finish(r: Result<String, Error>) {
    match r {
        Ok(json) => result(&json),
        Err(e) => error(e.status, &e.message),
    }
}

/// Serves the request in the simple model; return its value from wt_handle.
pub fn handle_simple(f: impl FnOnce(&Context) -> Result<String, Error>) -> i32 {
    finish(f(&Context { _private: () }));
    0
}

/// Serves the request in the raw model; return its value from wt_handle.
pub fn handle_raw(f: impl FnOnce(&Context, &mut Response)) -> i32 {
    f(&Context { _private: () }, &mut Response { _private: () });
    0
}

/// What a route runs.
#[derive(Clone, Copy)]
pub enum Handler {
    Simple(SimpleFn),
    Raw(RawFn),
}

/// One route: method ("*" for any; HEAD also matches GET routes) and path
/// pattern (exact, ignoring one trailing "/"; or a prefix when it ends in "*").
#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub pattern: &'static str,
    pub handler: Handler,
}

impl Route {
    pub fn simple(method: &'static str, pattern: &'static str, f: SimpleFn) -> Route {
        Route { method, pattern, handler: Handler::Simple(f) }
    }
    pub fn raw(method: &'static str, pattern: &'static str, f: RawFn) -> Route {
        Route { method, pattern, handler: Handler::Raw(f) }
    }
    fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        if let Some(prefix) = self.pattern.strip_suffix('*') {
            return path.starts_with(prefix);
        }
        trim_slash(self.pattern) == trim_slash(path)
    }
}

fn trim_slash(p: &str) -> &str {
    if p.len() > 1 && p.ends_with('/') {
        &p[..p.len() - 1]
    } else {
        p
    }
}

/// Runs the first route that matches the request, or answers 404 with
/// `{"code":404,"message":"no route for METHOD PATH"}`. Return its value
/// from wt_handle.
pub fn serve_routes(routes: &[Route]) -> i32 {
    let ctx = Context { _private: () };
    let (method, path) = (ctx.method(), ctx.path());
    let found = routes.iter().find(|r| r.matches(&method, &path)).or_else(|| {
        if method == "HEAD" {
            routes.iter().find(|r| r.matches("GET", &path))
        } else {
            None
        }
    });
    let mut res = Response { _private: () };
    match found.map(|r| r.handler) {
        Some(Handler::Simple(f)) => finish(f(&ctx)),
        Some(Handler::Raw(f)) => f(&ctx, &mut res),
        None => {
            let body = json::Object::new()
                .int("code", 404)
                .str("message", &format!("no route for {} {}", method, path))
                .finish();
            res.status(404);
            res.set_header("content-type", "application/json");
            res.write_str(&body);
        }
    }
    0
}

/// Just enough JSON for guests without crates.
pub mod json {
    /// Appends `s` as a quoted, escaped JSON string.
    pub fn quote_into(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// `s` as a quoted, escaped JSON string.
    pub fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        quote_into(&mut out, s);
        out
    }

    /// Builds one JSON object, member by member.
    pub struct Object {
        buf: String,
    }

    impl Object {
        pub fn new() -> Object {
            Object { buf: String::from("{") }
        }
        fn key(mut self, k: &str) -> Object {
            if self.buf.len() > 1 {
                self.buf.push(',');
            }
            quote_into(&mut self.buf, k);
            self.buf.push(':');
            self
        }
        pub fn str(self, k: &str, v: &str) -> Object {
            let mut o = self.key(k);
            quote_into(&mut o.buf, v);
            o
        }
        /// A string member, or null for None.
        pub fn opt_str(self, k: &str, v: Option<&str>) -> Object {
            match v {
                Some(v) => self.str(k, v),
                None => self.raw(k, "null"),
            }
        }
        pub fn int(self, k: &str, v: i64) -> Object {
            let mut o = self.key(k);
            o.buf.push_str(&v.to_string());
            o
        }
        pub fn bool(self, k: &str, v: bool) -> Object {
            self.raw(k, if v { "true" } else { "false" })
        }
        /// A member whose value is already JSON text.
        pub fn raw(self, k: &str, json: &str) -> Object {
            let mut o = self.key(k);
            o.buf.push_str(json);
            o
        }
        pub fn finish(mut self) -> String {
            self.buf.push('}');
            self.buf
        }
    }

    /// Finds the string member `key` of a flat JSON object and returns it
    /// unescaped; None when the text is not an object, the member is
    /// missing or not a string. Nested values are skipped, not searched.
    pub fn get_str(text: &str, key: &str) -> Option<String> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if p.eat(b'}').is_some() {
            return None;
        }
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            if k == key && p.peek() == Some(b'"') {
                return p.string();
            }
            p.skip_value()?;
            p.ws();
            if p.eat(b',').is_none() {
                return None;
            }
        }
    }

    /// Finds the member `key` of a JSON object and returns its value as raw
    /// JSON text (a string keeps its quotes); None when the text is not an
    /// object or the member is missing. The first member of that name wins.
    pub fn get_raw<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        p.ws();
        p.eat(b'{')?;
        p.ws();
        if p.eat(b'}').is_some() {
            return None;
        }
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let start = p.i;
            p.skip_value()?;
            if k == key {
                return text.get(start..p.i);
            }
            p.ws();
            p.eat(b',')?;
        }
    }

    /// Finds the integer member `key` of a flat JSON object.
    pub fn get_int(text: &str, key: &str) -> Option<i64> {
        let mut p = Parser { b: text.as_bytes(), i: 0 };
        p.ws();
        p.eat(b'{')?;
        loop {
            p.ws();
            let k = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let start = p.i;
            p.skip_value()?;
            if k == key {
                return std::str::from_utf8(&p.b[start..p.i]).ok()?.parse().ok();
            }
            p.ws();
            p.eat(b',')?;
        }
    }

    struct Parser<'a> {
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Parser<'a> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }
        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Option<()> {
            if self.peek() == Some(c) {
                self.i += 1;
                Some(())
            } else {
                None
            }
        }
        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                let c = self.peek()?;
                self.i += 1;
                match c {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let e = self.peek()?;
                        self.i += 1;
                        match e {
                            b'"' | b'\\' | b'/' => out.push(e),
                            b'n' => out.push(b'\n'),
                            b'r' => out.push(b'\r'),
                            b't' => out.push(b'\t'),
                            b'b' => out.push(8),
                            b'f' => out.push(12),
                            b'u' => {
                                let hex = std::str::from_utf8(self.b.get(self.i..self.i + 4)?).ok()?;
                                let mut cp = u32::from_str_radix(hex, 16).ok()?;
                                self.i += 4;
                                if (0xD800..0xDC00).contains(&cp) {
                                    // a surrogate pair: \uD83D\uDE00
                                    if self.b.get(self.i..self.i + 2)? != b"\\u" {
                                        return None;
                                    }
                                    let lo = std::str::from_utf8(self.b.get(self.i + 2..self.i + 6)?).ok()?;
                                    let lo = u32::from_str_radix(lo, 16).ok()?;
                                    self.i += 6;
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo.checked_sub(0xDC00)? & 0x3FF);
                                }
                                let mut tmp = [0u8; 4];
                                out.extend_from_slice(char::from_u32(cp)?.encode_utf8(&mut tmp).as_bytes());
                            }
                            _ => return None,
                        }
                    }
                    c if c < 0x20 => return None,
                    c => out.push(c),
                }
            }
        }
        fn skip_value(&mut self) -> Option<()> {
            match self.peek()? {
                b'"' => self.string().map(|_| ()),
                b'{' | b'[' => {
                    let mut depth = 0usize;
                    loop {
                        match self.peek()? {
                            b'"' => {
                                self.string()?;
                                continue;
                            }
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    self.i += 1;
                                    return Some(());
                                }
                            }
                            _ => {}
                        }
                        self.i += 1;
                    }
                }
                _ => {
                    let start = self.i;
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'+' || c == b'.') {
                        self.i += 1;
                    }
                    if self.i == start {
                        None
                    } else {
                        Some(())
                    }
                }
            }
        }
    }
}
