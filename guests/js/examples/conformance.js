// conformance.js — the JavaScript guest of the conformance kit
// (guests/conformance): the same routes, with the same answers, as every
// other language's conformance guest (guests/README.md lists them).
//
// A webtask has one programming model, chosen by the arity of the function
// it exports; this one takes the raw model (context, req, res) because most
// routes set the status and headers. The routes the other languages serve
// in the simple model send here what the simple model sends: 200
// application/json with the result's JSON, or the error document
// {"code","error":"Script returned an error.","message"} as cb(err) does.
//
// Where JavaScript cannot do what a route asks (no raw host calls, no
// trap, no binary request body yet) the route says so, and the kit's gap
// list (guests/conformance/gaps_test.go) names the checks it skips for JS.
'use strict';

var routes = [
  ['GET', '/hello', hello],
  ['*', '/context', contextDoc],
  ['GET', '/error', failWith],
  ['GET', '/raw', raw],
  ['GET', '/binary', binary],
  ['POST', '/echo-body', echoBody],
  ['GET', '/log', logLines],
  ['GET', '/trap', trap],
  ['GET', '/empty', empty],
];

module.exports = function (context, req, res) {
  var method = context.method, path = context.path;
  var h = match(method, path) || (method === 'HEAD' && match('GET', path));
  if (!h) {
    send(res, 404, { code: 404, message: 'no route for ' + method + ' ' + path });
    return;
  }
  h(context, req, res);
};

// match returns the handler of the first route for method and path; a
// trailing "/" does not count, as in the other languages' routers.
function match(method, path) {
  var exact = path.length > 1 && path[path.length - 1] === '/' ? path.slice(0, -1) : path;
  for (var i = 0; i < routes.length; i++) {
    var r = routes[i];
    if ((r[0] === '*' || r[0] === method) && r[1] === exact) return r[2];
  }
  return null;
}

// send answers JSON, as the simple model's result does.
function send(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

// first is the first value of a query parameter (repeated ones are arrays).
function first(v) {
  return Array.isArray(v) ? v[0] : v;
}

// toInt is the C SDK's wt_atoi: an optionally signed decimal, else def.
function toInt(s, def) {
  return typeof s === 'string' && /^[+-]?[0-9]{1,12}$/.test(s) ? Number(s) : def;
}

// readBody calls done with the request's body: a Buffer (its bytes) when
// the engine has Buffer, a string (UTF-8 decoded) when not, '' without one.
function readBody(req, done) {
  var chunks = [];
  req.on('data', function (chunk) { chunks.push(chunk); });
  req.on('end', function () {
    done(chunks.length && typeof chunks[0] !== 'string' ? Buffer.concat(chunks) : chunks.join(''));
  });
}

function hello(context, req, res) {
  var name = first(context.query.name);
  send(res, 200, { message: 'hello, ' + (name === undefined ? 'world' : name) });
}

// pairs lists a map as [key, value] pairs in the host's order: sorted by
// key, repeated keys (arrays) in arrival order.
function pairs(m) {
  var out = [];
  Object.keys(m).sort().forEach(function (k) {
    [].concat(m[k]).forEach(function (v) { out.push([k, v]); });
  });
  return out;
}

// lookup is get_value: the (first) value, or null when there is none.
function lookup(m, key) {
  return Object.prototype.hasOwnProperty.call(m, key) ? first(m[key]) : null;
}

// contextDoc is /context. Header names are lower-cased, so the lookup of
// "X-Custom" is too. Not here: "unknown" (get, get_map and get_value with
// an unknown id), which needs raw host calls JavaScript does not have.
function contextDoc(context, req, res) {
  var q = req.url.indexOf('?');
  readBody(req, function (body) {
    send(res, 200, {
      method: context.method,
      path: context.path,
      raw_query: q < 0 ? '' : req.url.slice(q + 1),
      body: String(body),
      container: context.container,
      name: context.name,
      request_id: context.requestId,
      query: pairs(context.query),
      headers: pairs(context.headers),
      secrets: pairs(context.secrets),
      params: pairs(context.params),
      meta: pairs(context.meta),
      data: pairs(context.data),
      lookup: {
        query: lookup(context.query, 'x'),
        header: lookup(context.headers, 'X-Custom'.toLowerCase()),
        secret: lookup(context.secrets, 'auth-secret'),
        param: lookup(context.params, 'p'),
        meta: lookup(context.meta, 'owner'),
        data: lookup(context.data, 'name'),
        missing: lookup(context.query, 'no-such-key'),
      },
    });
  });
}

// failWith is the simple model's cb(err) with err.statusCode: a status
// outside 400-599 (or none) is 400, as the JavaScript simple model has it
// (the ABI's error call traps on one outside 400-599 instead).
function failWith(context, req, res) {
  var status = toInt(first(context.query.status), 0);
  var message = first(context.query.message);
  if (!(status >= 400 && status <= 599)) status = 400;
  send(res, status, {
    code: status, error: 'Script returned an error.',
    message: message === undefined ? 'Not Authorized' : message,
  });
}

// add is the ABI's add_header: one more value for name.
function add(res, name, value) {
  var cur = res.getHeader(name);
  res.setHeader(name, cur === undefined ? value : [].concat(cur, value));
}

// raw: a status of 600 or a header name that is not a token throws (a
// RangeError or TypeError, as Node), and host-owned headers such as
// content-length are dropped; the ABI traps on all three.
function raw(context, req, res) {
  res.statusCode = toInt(first(context.query.status), 200);
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('x-replaced', 'old');
  res.setHeader('x-replaced', 'new');
  add(res, 'x-multi', 'a');
  add(res, 'x-multi', 'b');
  var h = first(context.query.header);
  var colon = h === undefined ? -1 : h.indexOf(':');
  if (colon >= 0) add(res, h.slice(0, colon), h.slice(colon + 1));
  res.write('raw ');
  res.end('body');
}

function binary(context, req, res) {
  var b = new Uint8Array(256);
  for (var i = 0; i < b.length; i++) b[i] = i;
  res.setHeader('content-type', 'application/octet-stream');
  res.end(b);
}

// echoBody echoes the body's bytes where the engine has Buffer; without
// it only text survives (the body arrives as a UTF-8 decoded string).
function echoBody(context, req, res) {
  res.setHeader('content-type', req.headers['content-type'] || 'application/octet-stream');
  readBody(req, function (body) { res.end(body); });
}

// logLines: console.debug/info/warn/error log at levels 0-3. JavaScript
// has no level 7 and no stdout or stderr during a request: console.log is
// the info line the host makes of both, console.error the error line of
// stderr.
function logLines(context, req, res) {
  console.debug('debug line');
  console.info('info line');
  console.warn('warn line');
  console.error('error line');
  console.log('level 7 line');
  console.log('stdout line');
  console.error('stderr line');
  send(res, 200, { logged: true });
}

// trap: JavaScript cannot trap; an uncaught exception is its nearest
// thing (the webtask's own 500, the instance kept).
function trap() {
  throw new Error('trap route');
}

// empty: a raw webtask must end its response; ending it with nothing set
// answers what calling nothing answers in the ABI (200, no headers, no body).
function empty(context, req, res) {
  res.end();
}
