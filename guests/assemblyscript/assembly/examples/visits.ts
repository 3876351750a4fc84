// visits — counts the requests of its webtask in the webtask's storage
// (Context.storageGet / storageSet), so the count survives instances,
// policies and restarts: {"visits":N}. A write that loses to a concurrent
// one reads again and retries.
//
//   curl http://127.0.0.1:8080/api/run/acme/visits
import { Context, Response, atoi, error, jsonMember, result, serveHandler } from "../wasmtask";

function visit(ctx: Context, res: Response): void {
  for (;;) {
    const stored = ctx.storageGet();
    if (!stored.ok) {
      error(500, stored.message());
      return;
    }
    let visits = 0;
    const data = stored.data;
    if (data !== null) {
      const n = jsonMember(data, "visits");
      visits = n !== null ? atoi(n, -1) : 0; // {} counts 0
      if (visits < 0) {
        error(500, 'stored data is not {"visits":N}');
        return;
      }
    }
    const doc = '{"visits":' + (visits + 1).toString() + "}";
    const written = ctx.storageSet(doc, stored.etag);
    if (written.conflict) continue;
    if (!written.ok) {
      error(500, written.message());
      return;
    }
    result(doc);
    return;
  }
}

export function wt_handle(): i32 {
  return serveHandler(visit);
}
