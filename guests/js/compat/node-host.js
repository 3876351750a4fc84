// node-host.js — runs a webtask on plain Node.js with the real npm
// packages (package.json here), for guests/conformance/compat_test.go to
// compare with the same webtask on wasmtask.
//
//   node node-host.js APP.js   → prints the port it listens on, then serves
//
// A request's path is the path below the webtask, as wasmtask gives it to
// the webtask. The context is what a webtask reads of it in these apps:
// query, headers, secrets (none), data (the query), body (undefined).
'use strict';
const http = require('http');
const path = require('path');
const Module = require('module');

// webtask-tools is the original platform's package; on Node it is the
// adapter the platform used: the app gets req with req.webtaskContext.
const webtaskTools = {
  fromExpress: (app) => (context, req, res) => { req.webtaskContext = context; app(req, res); },
};
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'webtask-tools') return 'webtask-tools';
  return resolve.call(this, request, ...rest);
};
require.cache['webtask-tools'] = { id: 'webtask-tools', filename: 'webtask-tools', loaded: true, exports: webtaskTools };

const webtask = require(path.resolve(process.argv[2]));

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const query = Object.fromEntries(url.searchParams);
  const context = { query, headers: req.headers, secrets: {}, params: {}, meta: {}, data: { ...query } };
  if (webtask.length >= 3) return webtask(context, req, res);
  webtask(context, (err, result) => {
    if (err) {
      res.writeHead(err.statusCode || 400, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ code: err.statusCode || 400, error: 'Script returned an error.', message: err.message }));
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(result === undefined ? '' : JSON.stringify(result));
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
