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
}

export namespace MapId {
  export const QUERY: i32 = 0;
  export const HEADERS: i32 = 1;
  export const SECRETS: i32 = 2;
  export const PARAMS: i32 = 3;
  export const META: i32 = 4;
  export const DATA: i32 = 5;
}

export namespace Level {
  export const DEBUG: i32 = 0;
  export const INFO: i32 = 1;
  export const WARN: i32 = 2;
  export const ERROR: i32 = 3;
}

export const NOT_FOUND: i32 = -1;

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
    const out = new Array<Pair>();
    const b = read(SRC_MAP, map, null);
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
