// hello — the smallest AssemblyScript webtask: {"message":"hello, <name>"}.
//
//   curl 'http://127.0.0.1:8080/api/run/acme/hello?name=Tomek'
import { Context, Response, quote, result, serveHandler } from "../wasmtask";

function hello(ctx: Context, res: Response): void {
  const name = ctx.query("name");
  result('{"message":' + quote("hello, " + (name !== null ? name : "world")) + "}");
}

export function wt_handle(): i32 {
  return serveHandler(hello);
}
