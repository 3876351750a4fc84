// noabort — a complete webtask built without --use abort=...: the
// AssemblyScript compiler then imports env.abort, which the host does not
// offer, so the upload is refused with a 400 that names the import.
import { Context, Response, result, serve, Router } from "../assembly/wasmtask";

function hello(ctx: Context, res: Response): void {
  result('{"message":"hello, world"}');
}

const router = new Router().get("/hello", hello);

export function wt_handle(): i32 {
  return serve(router);
}
