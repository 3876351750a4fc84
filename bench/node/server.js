// The Node.js baseline of bench's js section: one webtask on a plain Node
// `http` server, as a Webtask user would otherwise run the same function.
// The harness embeds this file (bench/js.go), starts it as a child process
// and kills it after:
//
//	node server.js --port 8080 --code hello.js
//
// The code is loaded as CommonJS (module.exports = function ...) and run
// with the Webtask conventions: (context, cb) answers 200 application/json
// with JSON.stringify of the result, or the error as
// {"code":400,"error":"Script returned an error.","message":...} (the
// error's statusCode when it has one); (context, req, res) writes the
// response itself. The context is built from the request: query (without
// key and webtask_*), headers, body, data (the query), method, and empty
// secrets, params and meta. No dependency but Node itself.
'use strict';

const fs = require('fs');
const http = require('http');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) {
    console.error(`usage: node server.js --port PORT --code FILE (missing --${name})`);
    process.exit(2);
  }
  return process.argv[i + 1];
}

const port = Number(arg('port'));
const file = arg('code');
const mod = { exports: {} };
new Function('module', 'exports', 'require', fs.readFileSync(file, 'utf8'))(mod, mod.exports, require);
const task = mod.exports;
if (typeof task !== 'function') {
  console.error(`${file}: module.exports is not a function`);
  process.exit(2);
}

function reserved(k) {
  return k === 'key' || k.startsWith('webtask_');
}

function context(req, url, body) {
  const query = {};
  for (const [k, v] of url.searchParams) {
    if (!reserved(k)) query[k] = v;
  }
  return {
    query, body, headers: req.headers, method: req.method, path: url.pathname,
    data: Object.assign({}, query), secrets: {}, params: {}, meta: {},
  };
}

function send(res, status, value) {
  const body = value === undefined ? '' : JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-wt-response-source': 'webtask',
  });
  res.end(body);
}

function run(req, res, body) {
  const url = new URL(req.url, 'http://localhost');
  const ctx = context(req, url, body);
  try {
    if (task.length >= 3) {
      task(ctx, req, res);
      return;
    }
    task(ctx, (err, result) => {
      if (err) {
        const code = Number(err.statusCode) || 400;
        send(res, code, { code, error: 'Script returned an error.', message: String(err.message || err) });
        return;
      }
      send(res, 200, result);
    });
  } catch (e) {
    send(res, 500, { code: 500, error: 'Script generated an unhandled synchronous exception.', message: String(e && e.message) });
  }
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' || req.method === 'HEAD') {
    run(req, res, undefined);
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => run(req, res, Buffer.concat(chunks).toString('utf8')));
});
server.keepAliveTimeout = 120000;
server.listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
