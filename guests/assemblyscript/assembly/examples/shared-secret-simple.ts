// shared-secret-simple — seed 001 ("Securing Webtasks Part 1: Shared Secret
// Authorization") in the simple model:
//
//   module.exports = function(context, cb) {
//     if (context.query.secret !== context.secrets['auth-secret'])
//       return cb(new Error('Not Authorized'));
//     cb(null, { question: 'Am I secure?', answer: 'Yes!' });
//   };
//
// A missing or empty auth-secret never authorizes: 400 Not Authorized.
import { Context, Response, error, result, serveHandler } from "../wasmtask";

function handle(ctx: Context, res: Response): void {
  const secret = ctx.secret("auth-secret"), given = ctx.query("secret");
  if (secret === null || secret.length == 0 || given === null || given != secret) {
    error(0, "Not Authorized");
    return;
  }
  result('{"question":"Am I secure?","answer":"Yes!"}');
}

export function wt_handle(): i32 {
  return serveHandler(handle);
}
