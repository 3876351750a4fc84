// conformance — the AssemblyScript guest of the conformance kit
// (guests/conformance): the same routes, with the same answers, as every
// other language's conformance guest. guests/README.md describes the routes.
import {
  Context, Level, MapId, Response, Router, atoi, eprintln, error, hostGet, hostGetMap, hostGetValue,
  log, hostLog, println, quote, quoteOrNull, result, serve,
} from "../wasmtask";

function hello(ctx: Context, res: Response): void {
  const name = ctx.query("name");
  result('{"message":' + quote("hello, " + (name !== null ? name : "world")) + "}");
}

// pairs lists a map as [["key","value"],...] in the host's order.
function pairs(ctx: Context, map: i32): string {
  const entries = ctx.map(map);
  let out = "[";
  for (let i = 0; i < entries.length; i++) {
    if (i > 0) out += ",";
    out += "[" + quote(entries[i].key) + "," + quote(entries[i].value) + "]";
  }
  return out + "]";
}

function context(ctx: Context, res: Response): void {
  const x = String.UTF8.encode("x");
  let out = '{"method":' + quote(ctx.method);
  out += ',"path":' + quote(ctx.path);
  out += ',"raw_query":' + quote(ctx.rawQuery);
  out += ',"body":' + quote(ctx.bodyText());
  out += ',"container":' + quote(ctx.container);
  out += ',"name":' + quote(ctx.name);
  out += ',"request_id":' + quote(ctx.requestId);
  out += ',"query":' + pairs(ctx, MapId.QUERY);
  out += ',"headers":' + pairs(ctx, MapId.HEADERS);
  out += ',"secrets":' + pairs(ctx, MapId.SECRETS);
  out += ',"params":' + pairs(ctx, MapId.PARAMS);
  out += ',"meta":' + pairs(ctx, MapId.META);
  out += ',"data":' + pairs(ctx, MapId.DATA);
  out += ',"lookup":{"query":' + quoteOrNull(ctx.query("x"));
  out += ',"header":' + quoteOrNull(ctx.header("X-Custom"));
  out += ',"secret":' + quoteOrNull(ctx.secret("auth-secret"));
  out += ',"param":' + quoteOrNull(ctx.param("p"));
  out += ',"meta":' + quoteOrNull(ctx.meta("owner"));
  out += ',"data":' + quoteOrNull(ctx.data("name"));
  out += ',"missing":' + quoteOrNull(ctx.query("no-such-key"));
  out += '},"unknown":{"field":' + hostGet(99, 0, 0).toString();
  out += ',"map":' + hostGetMap(99, 0, 0).toString();
  out += ',"value":' + hostGetValue(99, changetype<usize>(x), 1, 0, 0).toString();
  result(out + "}}");
}

function fail(ctx: Context, res: Response): void {
  const msg = ctx.query("message");
  error(atoi(ctx.query("status"), 0), msg !== null ? msg : "Not Authorized");
}

function raw(ctx: Context, res: Response): void {
  res.status(atoi(ctx.query("status"), 200));
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("x-replaced", "old");
  res.setHeader("x-replaced", "new");
  res.addHeader("x-multi", "a");
  res.addHeader("x-multi", "b");
  const h = ctx.query("header");
  if (h !== null) {
    const colon = h.indexOf(":");
    if (colon >= 0) res.addHeader(h.substring(0, colon), h.substring(colon + 1));
  }
  res.writeString("raw ");
  res.writeString("body");
}

function binary(ctx: Context, res: Response): void {
  const b = new Uint8Array(256);
  for (let i = 0; i < 256; i++) b[i] = <u8>i;
  res.setHeader("content-type", "application/octet-stream");
  res.write(b.buffer);
}

function echoBody(ctx: Context, res: Response): void {
  const ct = ctx.header("content-type");
  res.setHeader("content-type", ct !== null ? ct : "application/octet-stream");
  res.write(ctx.body());
}

function logLines(ctx: Context, res: Response): void {
  log(Level.DEBUG, "debug line");
  log(Level.INFO, "info line");
  log(Level.WARN, "warn line");
  log(Level.ERROR, "error line");
  log(7, "level 7 line");
  println("stdout line");
  eprintln("stderr line");
  result('{"logged":true}');
}

function trap(ctx: Context, res: Response): void {
  abort("trap route");
}

function empty(ctx: Context, res: Response): void {}

const router = new Router()
  .get("/hello", hello)
  .any("/context", context)
  .get("/error", fail)
  .get("/raw", raw)
  .get("/binary", binary)
  .post("/echo-body", echoBody)
  .get("/log", logLines)
  .get("/trap", trap)
  .get("/empty", empty);

export function wt_handle(): i32 {
  return serve(router);
}
