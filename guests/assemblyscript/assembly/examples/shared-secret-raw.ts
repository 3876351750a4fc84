// shared-secret-raw — seed 001 in the raw model:
//
//   module.exports = function(context, req, res) {
//     if (context.query.secret !== context.secrets['auth-secret']) {
//       res.writeHead(403);
//       return res.end();
//     }
//     res.writeHead(200, { 'Content-Type': 'application/json' });
//     res.end(JSON.stringify({ question: 'Am I secure?', answer: 'Yes!' }));
//   };
//
// A missing or empty auth-secret never authorizes: 403, empty body.
import { Context, Response, serveHandler } from "../wasmtask";

function handle(ctx: Context, res: Response): void {
  const secret = ctx.secret("auth-secret"), given = ctx.query("secret");
  if (secret === null || secret.length == 0 || given === null || given != secret) {
    res.status(403);
    return;
  }
  res.status(200);
  res.setHeader("content-type", "application/json");
  res.writeString('{"question":"Am I secure?","answer":"Yes!"}');
}

export function wt_handle(): i32 {
  return serveHandler(handle);
}
