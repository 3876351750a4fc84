// The AssemblyScript guest SDK for wasmtask, host ABI v1 (abi/SPEC.md).
//
// A guest builds a Router (or one handler) at the top level and exports
// wt_handle from its entry file:
//
//   import { Context, Response, Router, result, serve } from "../wasmtask";
//
//   function hello(ctx: Context, res: Response): void {
//     const name = ctx.query("name");
//     result('{"message":' + quote("hello, " + (name !== null ? name : "world")) + "}");
//   }
//
//   const router = new Router().get("/hello", hello);
//   export function wt_handle(): i32 { return serve(router); }
//
// Build (see guests/Makefile):
//
//   asc assembly/examples/hello.ts -o hello.wasm -O3 --runtime minimal \
//       --exportStart _initialize --use abort=assembly/wasmtask/wtAbort
//
// Every handler has the raw signature (ctx, res). Answer in the simple model
// with result(json) or error(status, message), or in the raw model through
// res (status, headers, body). AssemblyScript has no exceptions: a failed
// assertion or a `throw` aborts, which wtAbort logs before it traps (500).
//
// Memory: the minimal runtime's collector runs at the end of every request
// (serve calls __collect), so per-request garbage does not pile up in a
// pooled instance. Keep state you want to survive in globals.

// ---- The host functions (wasmtask_v1.*) -------------------------------------

@external("wasmtask_v1", "get")
export declare function hostGet(field: i32, buf: usize, bufLen: i32): i32;
@external("wasmtask_v1", "get_value")
export declare function hostGetValue(map: i32, key: usize, keyLen: i32, buf: usize, bufLen: i32): i32;
@external("wasmtask_v1", "get_map")
export declare function hostGetMap(map: i32, buf: usize, bufLen: i32): i32;
@external("wasmtask_v1", "set_status")
export declare function hostSetStatus(status: i32): void;
@external("wasmtask_v1", "set_header")
export declare function hostSetHeader(name: usize, nameLen: i32, value: usize, valueLen: i32): void;
@external("wasmtask_v1", "add_header")
export declare function hostAddHeader(name: usize, nameLen: i32, value: usize, valueLen: i32): void;
@external("wasmtask_v1", "write_body")
export declare function hostWriteBody(buf: usize, bufLen: i32): void;
@external("wasmtask_v1", "result")
export declare function hostResult(buf: usize, bufLen: i32): void;
@external("wasmtask_v1", "error")
export declare function hostError(status: i32, msg: usize, msgLen: i32): void;
@external("wasmtask_v1", "log")
export declare function hostLog(level: i32, buf: usize, bufLen: i32): void;
@external("wasmtask_v1", "storage_get")
export declare function hostStorageGet(buf: usize, bufLen: i32): i32;
@external("wasmtask_v1", "storage_set")
export declare function hostStorageSet(data: usize, dataLen: i32, etag: usize, etagLen: i32, flags: i32, buf: usize, bufLen: i32): i32;
@external("wasmtask_v1", "http_request")
export declare function hostHTTPRequest(method: usize, methodLen: i32, url: usize, urlLen: i32, headers: usize, headersLen: i32, body: usize, bodyLen: i32): i32;
@external("wasmtask_v1", "http_response")
export declare function hostHTTPResponse(part: i32, buf: usize, bufLen: i32): i32;
@external("wasi_snapshot_preview1", "fd_write")
declare function fdWrite(fd: i32, iovs: usize, iovsLen: i32, nwritten: usize): i32;

// ---- ABI constants (abi/abi.go) ---------------------------------------------

export namespace Field {
  export const METHOD: i32 = 0;
  export const PATH: i32 = 1;
  export const QUERY: i32 = 2;
  export const BODY: i32 = 3;
  export const CONTAINER: i32 = 4;
  export const NAME: i32 = 5;
  export const REQUEST_ID: i32 = 6;
  export const CONTEXT_JSON: i32 = 7;
  /** The verified caller: the JWT's claims as one JSON object; NOT_FOUND when none. */
  export const USER: i32 = 8;
}

export namespace MapId {
  export const QUERY: i32 = 0;
  export const HEADERS: i32 = 1;
  export const SECRETS: i32 = 2;
  export const PARAMS: i32 = 3;
  export const META: i32 = 4;
  export const DATA: i32 = 5;
  /** The verified caller's claims; empty when none. */
  export const USER: i32 = 6;
}

export namespace Level {
  export const DEBUG: i32 = 0;
  export const INFO: i32 = 1;
  export const WARN: i32 = 2;
  export const ERROR: i32 = 3;
}

export const NOT_FOUND: i32 = -1;

/** Storage results (StorageResult.code) and flags (abi/SPEC.md, "Storage"). */
export namespace Storage {
  export const OK: i32 = 0;
  /** The run has no storage (code a token fixes; only a named webtask has one). */
  export const NONE: i32 = -1;
  /** The etag is not the stored document's; nothing was written. */
  export const CONFLICT: i32 = -2;
  /** The data is over the 500 KB limit; nothing was written. */
  export const TOO_LARGE: i32 = -3;
  /** The data is not JSON, or the store failed (the reason is in the log). */
  export const FAILED: i32 = -4;
  /** storageSet's force: overwrite whatever is stored. */
  export const FORCE: i32 = 1;
  /** The etag while nothing is stored. */
  export const NO_ETAG: string = "0";
}

/**
 * Outbound HTTP results (FetchResponse.code) and the parts of a response
 * (abi/SPEC.md, "Outbound HTTP").
 */
export namespace HTTP {
  /** The call got a response (any status). */
  export const OK: i32 = 0;
  /** The container's policy refuses the url (a host not on its allow-list, a private or loopback address); no connection was made. */
  export const DENIED: i32 = -5;
  /** The call was made and failed: DNS, connect, TLS, the peer closed, too many redirects, no answer in the request's time. */
  export const FAILED: i32 = -6;
  /** The response body is over the policy's max_response_bytes. */
  export const TOO_LARGE: i32 = -7;
  /** This request already made the policy's max_calls calls. */
  export const TOO_MANY: i32 = -8;
  /** A bad method, url (not absolute http/https, or with credentials) or header (malformed, or one the host owns). */
  export const INVALID: i32 = -9;
  /** http_response's parts. */
  export const PART_HEADERS: i32 = 0;
  export const PART_BODY: i32 = 1;
  export const PART_ERROR: i32 = 2;
}

// ---- Reading: the buffer rule ---------------------------------------------

// Values up to this size are read with one host call.
const SCRATCH: i32 = 1024;
const scratch = new ArrayBuffer(SCRATCH);

const SRC_FIELD: i32 = 0;
const SRC_VALUE: i32 = 1;
const SRC_MAP: i32 = 2;

function hostRead(src: i32, id: i32, key: ArrayBuffer | null, buf: usize, len: i32): i32 {
  if (src == SRC_FIELD) return hostGet(id, buf, len);
  if (src == SRC_MAP) return hostGetMap(id, buf, len);
  const k = key!;
  return hostGetValue(id, changetype<usize>(k), k.byteLength, buf, len);
}

// read returns the value's bytes, or null when the host answers NotFound.
function read(src: i32, id: i32, key: ArrayBuffer | null): ArrayBuffer | null {
  const n = hostRead(src, id, key, changetype<usize>(scratch), SCRATCH);
  if (n < 0) return null;
  const out = new ArrayBuffer(n);
  if (n <= SCRATCH) {
    memory.copy(changetype<usize>(out), changetype<usize>(scratch), n);
  } else {
    hostRead(src, id, key, changetype<usize>(out), n);
  }
  return out;
}

// pairs decodes "name NUL value NUL …" (get_map's and http_response's
// encoding).
function pairs(b: ArrayBuffer | null): Pair[] {
  const out = new Array<Pair>();
  if (b === null) return out;
  const base = changetype<usize>(b);
  const end = <i32>b.byteLength;
  let i = 0;
  while (i < end) {
    const k = i;
    while (i < end && load<u8>(base + i) != 0) i++;
    if (i >= end) break;
    const v = ++i;
    while (i < end && load<u8>(base + i) != 0) i++;
    if (i >= end) break;
    out.push(new Pair(String.UTF8.decodeUnsafe(base + k, v - 1 - k), String.UTF8.decodeUnsafe(base + v, i - v)));
    i++;
  }
  return out;
}

function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

function text(b: ArrayBuffer | null): string | null {
  return b === null ? null : String.UTF8.decode(b);
}

/** One entry of a map. */
export class Pair {
  constructor(public key: string, public value: string) {}
}

/** The request being served; every accessor is a host call. */
export class Context {
  /** Any scalar field's bytes; null for an unknown field. */
  field(f: i32): ArrayBuffer | null {
    return read(SRC_FIELD, f, null);
  }
  private fieldString(f: i32): string {
    const s = text(this.field(f));
    return s !== null ? s : "";
  }
  /** HTTP method in upper case. */
  get method(): string { return this.fieldString(Field.METHOD); }
  /** The path below the webtask, starting with "/". */
  get path(): string { return this.fieldString(Field.PATH); }
  /** The query string without "?", key and webtask_*. */
  get rawQuery(): string { return this.fieldString(Field.QUERY); }
  get container(): string { return this.fieldString(Field.CONTAINER); }
  get name(): string { return this.fieldString(Field.NAME); }
  get requestId(): string { return this.fieldString(Field.REQUEST_ID); }
  /** The raw request body. */
  body(): ArrayBuffer {
    const b = this.field(Field.BODY);
    return b !== null ? b : new ArrayBuffer(0);
  }
  /** The body decoded as UTF-8. */
  bodyText(): string { return String.UTF8.decode(this.body()); }
  /** The whole context as one JSON object (abi/SPEC.md). */
  contextJSON(): string { return this.fieldString(Field.CONTEXT_JSON); }

  /** One value of a map (the first of repeated keys); null when absent. */
  value(map: i32, key: string): string | null {
    return text(read(SRC_VALUE, map, utf8(key)));
  }
  /** Every entry of a map, sorted by key, repeated keys in arrival order. */
  map(map: i32): Pair[] {
    return pairs(read(SRC_MAP, map, null));
  }
  /** A URL-decoded query parameter. */
  query(key: string): string | null { return this.value(MapId.QUERY, key); }
  /** A request header, matched case-insensitively. */
  header(name: string): string | null { return this.value(MapId.HEADERS, name); }
  /** A decrypted secret. */
  secret(key: string): string | null { return this.value(MapId.SECRETS, key); }
  /** A public token parameter (pctx). */
  param(key: string): string | null { return this.value(MapId.PARAMS, key); }
  /** The webtask's metadata. */
  meta(key: string): string | null { return this.value(MapId.META, key); }
  /** The merged view: query, then params override, then secrets override. */
  data(key: string): string | null { return this.value(MapId.DATA, key); }
  /**
   * One claim of the caller the host verified before the run (the
   * webtask's declared JWT auth, abi/SPEC.md "Declarative auth"): strings
   * as they are, other values as JSON text; null when absent or when the
   * webtask declares no JWT auth.
   */
  user(claim: string): string | null { return this.value(MapId.USER, claim); }
  /** The verified caller's claims as one JSON object; null when the webtask declares no JWT auth. */
  userJSON(): string | null { return text(this.field(Field.USER)); }

  /**
   * Reads the named webtask's stored document: on success (ok) data is the
   * stored value as JSON text (null when nothing is stored) and etag is
   * what to give back to storageSet.
   */
  storageGet(): StorageResult {
    // The buffer rule, in a loop: the document may grow between two calls
    // (another request wrote it).
    let buf = scratch;
    let n = hostStorageGet(changetype<usize>(buf), SCRATCH);
    while (n > buf.byteLength) {
      buf = new ArrayBuffer(n);
      n = hostStorageGet(changetype<usize>(buf), n);
    }
    if (n < 0) return new StorageResult(storageCode(n), null, "");
    const doc = String.UTF8.decodeUnsafe(changetype<usize>(buf), n);
    const data = jsonMember(doc, "data");
    const etag = jsonString(doc, "etag");
    if (data === null || etag === null) return new StorageResult(Storage.FAILED, null, "");
    return new StorageResult(Storage.OK, data == "null" ? null : data, etag);
  }

  /**
   * Stores data (JSON text) if etag is the stored document's (as storageGet
   * returned it; Storage.NO_ETAG while nothing is stored), or whatever is
   * stored with force. On success (ok) the write is durable and etag is the
   * new one; conflict means another write came first: read again, retry.
   */
  storageSet(data: string, etag: string, force: bool = false): StorageResult {
    const d = utf8(data), e = utf8(etag);
    const n = hostStorageSet(changetype<usize>(d), d.byteLength, changetype<usize>(e), e.byteLength,
      force ? Storage.FORCE : 0, changetype<usize>(etagBuf), etagBuf.byteLength);
    if (n < 0) return new StorageResult(storageCode(n), null, "");
    if (n > etagBuf.byteLength) return new StorageResult(Storage.FAILED, null, ""); // cannot happen
    return new StorageResult(Storage.OK, null, String.UTF8.decodeUnsafe(changetype<usize>(etagBuf), n));
  }

  /** Makes an outbound HTTP call: the same as fetch(req). */
  fetch(req: FetchRequest): FetchResponse {
    return fetch(req);
  }
}

// An etag is at most 32 bytes (abi/SPEC.md).
const etagBuf = new ArrayBuffer(64);

function storageCode(n: i32): i32 {
  if (n == NOT_FOUND) return Storage.NONE;
  if (n == Storage.CONFLICT || n == Storage.TOO_LARGE) return n;
  return Storage.FAILED;
}

/** What a storage call answered. */
export class StorageResult {
  constructor(
    /** Storage.OK or why the call failed (Storage.NONE, CONFLICT, TOO_LARGE, FAILED). */
    public code: i32,
    /** storageGet: the stored value as JSON text, null when nothing is stored. */
    public data: string | null,
    /** storageGet: the document's etag; storageSet: the new etag. */
    public etag: string,
  ) {}

  get ok(): bool { return this.code == Storage.OK; }
  get conflict(): bool { return this.code == Storage.CONFLICT; }

  /** A sentence for logs and error responses. */
  message(): string {
    if (this.code == Storage.OK) return "ok";
    if (this.code == Storage.NONE) return "this run has no storage (only a named webtask has one)";
    if (this.code == Storage.CONFLICT) return "storage: the data changed since it was read";
    if (this.code == Storage.TOO_LARGE) return "storage: the data is over the 500 KB limit";
    return "storage: the call failed (see the log)";
  }
}

// ---- Outbound HTTP -------------------------------------------------------------

/**
 * An outbound call: method ("" is GET), an absolute http(s) url, headers
 * in order and a body. The host owns host, content-length,
 * transfer-encoding and connection, and sends user-agent: wasmtask unless
 * one is set here.
 *
 *   const req = FetchRequest.post("https://api.example.com/sms")
 *     .header("content-type", "application/json")
 *     .withText('{"to":"+1"}');
 */
export class FetchRequest {
  headers: Pair[] = [];
  body: ArrayBuffer = new ArrayBuffer(0);

  constructor(public method: string, public url: string) {}

  static get(url: string): FetchRequest { return new FetchRequest("GET", url); }
  static post(url: string): FetchRequest { return new FetchRequest("POST", url); }

  /** Adds a header (a repeated name is sent once per value). */
  header(name: string, value: string): FetchRequest {
    this.headers.push(new Pair(name, value));
    return this;
  }
  /** Sets the body's bytes. */
  withBody(b: ArrayBuffer): FetchRequest {
    this.body = b;
    return this;
  }
  /** Sets the body to s, UTF-8 encoded. */
  withText(s: string): FetchRequest {
    this.body = utf8(s);
    return this;
  }
}

/**
 * What fetch answered. ok means a response came back, whatever its status
 * (a 404 or a 500 is a response too: check status); otherwise code is why
 * not (HTTP.DENIED, FAILED, TOO_LARGE, TOO_MANY, INVALID) and error the
 * host's reason, e.g. "cannot connect to api.example.com:443".
 */
export class FetchResponse {
  constructor(
    /** HTTP.OK, or why the call got no response. */
    public code: i32,
    /** The response's status (100-599); 0 when the call failed. */
    public status: i32,
    /** The response's headers: names lower-cased, sorted, repeated names in order. */
    public headers: Pair[],
    /** The response's body. */
    public body: ArrayBuffer,
    /** Why the call failed, as the host says it (without the kind); "" when ok. */
    public error: string,
  ) {}

  /** A response came back (any status). */
  get ok(): bool { return this.code == HTTP.OK; }
  /** The body decoded as UTF-8. */
  get text(): string { return String.UTF8.decode(this.body); }

  /** The first value of a header (any case); null when absent. */
  header(name: string): string | null {
    const n = name.toLowerCase();
    for (let i = 0; i < this.headers.length; i++) {
      if (this.headers[i].key == n) return this.headers[i].value;
    }
    return null;
  }

  /** A sentence for logs and error responses: the kind and the host's reason. */
  message(): string {
    if (this.code == HTTP.OK) return "ok";
    let kind = "outbound HTTP failed";
    if (this.code == HTTP.DENIED) kind = "outbound HTTP denied";
    else if (this.code == HTTP.TOO_LARGE) kind = "outbound HTTP response too large";
    else if (this.code == HTTP.TOO_MANY) kind = "too many outbound HTTP calls";
    else if (this.code == HTTP.INVALID) kind = "invalid outbound HTTP request";
    return this.error.length > 0 ? kind + ": " + this.error : kind;
  }
}

function fetchFailed(code: i32, reason: string): FetchResponse {
  return new FetchResponse(code, 0, new Array<Pair>(), new ArrayBuffer(0), reason);
}

// httpPart reads a part of the last response under the buffer rule: the
// scratch buffer first, then one of the size the host asked for.
function httpPart(part: i32): ArrayBuffer | null {
  const n = hostHTTPResponse(part, changetype<usize>(scratch), SCRATCH);
  if (n < 0) return null;
  const out = new ArrayBuffer(n);
  if (n <= SCRATCH) {
    memory.copy(changetype<usize>(out), changetype<usize>(scratch), n);
  } else if (hostHTTPResponse(part, changetype<usize>(out), n) != n) {
    return null; // cannot happen: the response stays until the next call
  }
  return out;
}

/**
 * Makes an outbound HTTP call through the host, which applies the
 * container's policy (PUT /api/outbound/{container}), the request's time
 * limit and a response size limit, and logs the call (method, host,
 * status; never the path, headers or body). It blocks until the answer is
 * read. AssemblyScript has no exceptions: a failure is a FetchResponse
 * that is not ok.
 *
 *   const r = fetch(FetchRequest.get("https://api.example.com/status"));
 *   if (!r.ok) { error(502, r.message()); return; }
 *   if (r.status != 200) { error(502, "status " + r.status.toString()); return; }
 *   result(r.text);
 */
export function fetch(req: FetchRequest): FetchResponse {
  let h = "";
  for (let i = 0; i < req.headers.length; i++) {
    const p = req.headers[i];
    if (p.key.includes("\0") || p.value.includes("\0")) {
      return fetchFailed(HTTP.INVALID, "header " + quote(p.key) + " holds a NUL byte");
    }
    h += p.key + "\0" + p.value + "\0";
  }
  const m = utf8(req.method), u = utf8(req.url), hb = utf8(h), b = req.body;
  const st = hostHTTPRequest(changetype<usize>(m), m.byteLength, changetype<usize>(u), u.byteLength,
    changetype<usize>(hb), hb.byteLength, changetype<usize>(b), b.byteLength);
  if (st < 0) {
    const why = httpPart(HTTP.PART_ERROR);
    const code = st >= HTTP.INVALID && st <= HTTP.DENIED ? st : HTTP.FAILED;
    return fetchFailed(code, why !== null ? String.UTF8.decode(why) : "");
  }
  const body = httpPart(HTTP.PART_BODY);
  return new FetchResponse(HTTP.OK, st, pairs(httpPart(HTTP.PART_HEADERS)),
    body !== null ? body : new ArrayBuffer(0), "");
}

/**
 * s percent-encoded for a url's query or path: UTF-8 bytes, everything but
 * letters, digits and "-_.~" as %XX (RFC 3986's unreserved characters).
 */
export function urlEncode(s: string): string {
  const hexUpper = "0123456789ABCDEF"; // here, not a global: only a module that encodes carries it
  const b = utf8(s);
  const base = changetype<usize>(b);
  let out = "";
  let start = 0;
  for (let i = 0; i < b.byteLength; i++) {
    const c = <i32>load<u8>(base + i);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x2d || c == 0x5f || c == 0x2e || c == 0x7e) continue;
    out += String.UTF8.decodeUnsafe(base + start, i - start);
    out += "%" + hexUpper.charAt(c >> 4) + hexUpper.charAt(c & 15);
    start = i + 1;
  }
  return out + String.UTF8.decodeUnsafe(base + start, b.byteLength - start);
}

// ---- Answering ---------------------------------------------------------------

/** Simple model: finish with one JSON value (200, application/json). */
export function result(json: string): void {
  const b = utf8(json);
  hostResult(changetype<usize>(b), b.byteLength);
}

/** Simple model: finish with an error; status 0 means 400. */
export function error(status: i32, message: string): void {
  const b = utf8(message);
  hostError(status, changetype<usize>(b), b.byteLength);
}

/** Raw model: status, headers and body, sent when the handler returns. */
export class Response {
  status(code: i32): void { hostSetStatus(code); }
  /** Sets a header, replacing its values. */
  setHeader(name: string, value: string): void {
    const n = utf8(name), v = utf8(value);
    hostSetHeader(changetype<usize>(n), n.byteLength, changetype<usize>(v), v.byteLength);
  }
  /** Adds one more value to a header. */
  addHeader(name: string, value: string): void {
    const n = utf8(name), v = utf8(value);
    hostAddHeader(changetype<usize>(n), n.byteLength, changetype<usize>(v), v.byteLength);
  }
  /** Appends bytes to the body. */
  write(b: ArrayBuffer): void { hostWriteBody(changetype<usize>(b), b.byteLength); }
  /** Appends a string to the body, UTF-8 encoded. */
  writeString(s: string): void { this.write(utf8(s)); }
}

// ---- Logging --------------------------------------------------------------

/** One line of the container's log. */
export function log(level: i32, msg: string): void {
  const b = utf8(msg);
  hostLog(level, changetype<usize>(b), b.byteLength);
}

const iov = new ArrayBuffer(16);

function writeFd(fd: i32, s: string): void {
  const b = utf8(s);
  const p = changetype<usize>(iov);
  store<u32>(p, <u32>changetype<usize>(b));
  store<u32>(p, <u32>b.byteLength, 4);
  fdWrite(fd, p, 1, p + 8);
}

/** Writes s and "\n" to stdout: an info log line. */
export function println(s: string): void { writeFd(1, s + "\n"); }

/** Writes s and "\n" to stderr: an error log line. */
export function eprintln(s: string): void { writeFd(2, s + "\n"); }

/**
 * The abort AssemblyScript calls on a failed assertion, a throw or an
 * out-of-bounds access; built with --use abort=assembly/wasmtask/wtAbort so
 * the module does not import env.abort. It logs and traps (500).
 */
export function wtAbort(message: string | null = null, fileName: string | null = null, line: u32 = 0, column: u32 = 0): void {
  let msg = "abort: " + (message !== null ? message : "(no message)");
  if (fileName !== null) msg += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  log(Level.ERROR, msg);
  unreachable();
}

// ---- Handlers and the router ---------------------------------------------

/** Every handler has the raw signature; simple ones call result or error. */
export type Handler = (ctx: Context, res: Response) => void;

const theContext = new Context();
const theResponse = new Response();

class Route {
  constructor(public method: string, public pattern: string, public handler: Handler) {}

  matches(method: string, path: string): bool {
    if (this.method != "*" && this.method != method) return false;
    if (this.pattern.endsWith("*")) return path.startsWith(this.pattern.slice(0, this.pattern.length - 1));
    return trimSlash(this.pattern) == trimSlash(path);
  }
}

function trimSlash(p: string): string {
  return p.length > 1 && p.endsWith("/") ? p.slice(0, p.length - 1) : p;
}

/**
 * Routes on method ("*" for any; HEAD also matches GET routes) and path
 * (exact, ignoring one trailing "/", or a prefix when the pattern ends in
 * "*"). No match answers 404 {"code":404,"message":"no route for METHOD PATH"}.
 */
export class Router {
  private routes: Route[] = [];

  handle(method: string, pattern: string, h: Handler): Router {
    this.routes.push(new Route(method.toUpperCase(), pattern, h));
    return this;
  }
  get(pattern: string, h: Handler): Router { return this.handle("GET", pattern, h); }
  post(pattern: string, h: Handler): Router { return this.handle("POST", pattern, h); }
  put(pattern: string, h: Handler): Router { return this.handle("PUT", pattern, h); }
  delete(pattern: string, h: Handler): Router { return this.handle("DELETE", pattern, h); }
  any(pattern: string, h: Handler): Router { return this.handle("*", pattern, h); }

  private find(method: string, path: string): Route | null {
    for (let i = 0; i < this.routes.length; i++) {
      const r = this.routes[i];
      if (r.matches(method, path)) return r;
    }
    return null;
  }

  /** Serves one request. */
  dispatch(ctx: Context, res: Response): void {
    const method = ctx.method, path = ctx.path;
    let r = this.find(method, path);
    if (r === null && method == "HEAD") r = this.find("GET", path);
    if (r !== null) {
      r.handler(ctx, res);
      return;
    }
    res.status(404);
    res.setHeader("content-type", "application/json");
    res.writeString('{"code":404,"message":' + quote("no route for " + method + " " + path) + "}");
  }
}

/** Serves the request with router; return its value from wt_handle. */
export function serve(router: Router): i32 {
  router.dispatch(theContext, theResponse);
  __collect();
  return 0;
}

/** Serves the request with one handler; return its value from wt_handle. */
export function serveHandler(h: Handler): i32 {
  h(theContext, theResponse);
  __collect();
  return 0;
}

// ---- JSON helpers ------------------------------------------------------------

const HEX = "0123456789abcdef";

/** s as a quoted, escaped JSON string. */
export function quote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(start, i);
    start = i + 1;
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else if (c == 0x0d) out += "\\r";
    else if (c == 0x09) out += "\\t";
    else out += "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
  }
  return out + s.substring(start) + '"';
}

/** s quoted, or null. */
export function quoteOrNull(s: string | null): string {
  return s !== null ? quote(s) : "null";
}

/** Parses a decimal integer; def when s is null, empty or not a number. */
export function atoi(s: string | null, def: i32): i32 {
  if (s === null || s.length == 0) return def;
  let i = 0, neg = false, v: i64 = 0;
  if (s.charCodeAt(0) == 0x2d) { neg = true; i = 1; }
  if (i >= s.length) return def;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9 || v > 100000000) return def;
    v = v * 10 + c;
  }
  return <i32>(neg ? -v : v);
}

// ---- JSON reading ------------------------------------------------------------

// A scanner over JSON text, just enough to find an object's members.
class JsonScan {
  i: i32 = 0;
  constructor(public s: string) {}

  peek(): i32 { return this.i < this.s.length ? this.s.charCodeAt(this.i) : -1; }
  ws(): void {
    for (let c = this.peek(); c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d; c = this.peek()) this.i++;
  }
  eat(c: i32): bool {
    if (this.peek() != c) return false;
    this.i++;
    return true;
  }
  hex4(): i32 {
    if (this.i + 4 > this.s.length) return -1;
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.s.charCodeAt(this.i + k);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    this.i += 4;
    return v;
  }
  // A string, unescaped; null when malformed. (\u escapes are UTF-16 code
  // units, as AssemblyScript's strings are: pairs need no decoding.)
  string(): string | null {
    if (!this.eat(0x22)) return null;
    let out = "";
    let start = this.i;
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c == 0x22) {
        out += this.s.substring(start, this.i++);
        return out;
      }
      if (c < 0x20) return null;
      if (c != 0x5c) {
        this.i++;
        continue;
      }
      out += this.s.substring(start, this.i);
      this.i++;
      const e = this.peek();
      this.i++;
      if (e == 0x22 || e == 0x5c || e == 0x2f) out += String.fromCharCode(e);
      else if (e == 0x62) out += "\b";
      else if (e == 0x66) out += "\f";
      else if (e == 0x6e) out += "\n";
      else if (e == 0x72) out += "\r";
      else if (e == 0x74) out += "\t";
      else if (e == 0x75) {
        const u = this.hex4();
        if (u < 0) return null;
        out += String.fromCharCode(u);
      } else return null;
      start = this.i;
    }
    return null;
  }
  // Skips one value: a string, an object or array (by nesting), a literal
  // or a number.
  skip(): bool {
    const c = this.peek();
    if (c == 0x22) return this.string() !== null;
    if (c == 0x7b || c == 0x5b) {
      let depth = 0;
      while (this.i < this.s.length) {
        const d = this.peek();
        if (d == 0x22) {
          if (this.string() === null) return false;
          continue;
        }
        if (d == 0x7b || d == 0x5b) depth++;
        else if ((d == 0x7d || d == 0x5d) && --depth == 0) {
          this.i++;
          return true;
        }
        this.i++;
      }
      return false;
    }
    const start = this.i;
    for (let d = this.peek(); (d >= 0x30 && d <= 0x39) || (d >= 0x41 && d <= 0x5a) || (d >= 0x61 && d <= 0x7a) ||
      d == 0x2d || d == 0x2b || d == 0x2e; d = this.peek()) this.i++;
    return this.i > start;
  }
}

/**
 * The member key of the JSON object text as raw JSON text (a string keeps
 * its quotes); null when text is not an object or the member is missing.
 * The first member of that name wins; nested values are not searched.
 */
export function jsonMember(text: string, key: string): string | null {
  const p = new JsonScan(text);
  p.ws();
  if (!p.eat(0x7b)) return null;
  p.ws();
  if (p.eat(0x7d)) return null;
  do {
    p.ws();
    const k = p.string();
    if (k === null) return null;
    p.ws();
    if (!p.eat(0x3a)) return null;
    p.ws();
    const start = p.i;
    if (!p.skip()) return null;
    if (k == key) return text.substring(start, p.i);
    p.ws();
  } while (p.eat(0x2c));
  return null;
}

/** The string member key of the JSON object text, unescaped; null when missing or not a string. */
export function jsonString(text: string, key: string): string | null {
  const raw = jsonMember(text, key);
  if (raw === null || raw.charCodeAt(0) != 0x22) return null;
  return new JsonScan(raw).string();
}
