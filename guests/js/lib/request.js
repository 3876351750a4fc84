// lib/request.js — the built-in module request (the npm package's API:
// request(uri[, options], callback), request.get/post/put/patch/del/head,
// request.defaults) and the global fetch, over the host's outbound HTTP
// (abi/SPEC.md, "Outbound HTTP"; wt.httpRequest in engine.c).
//
// The call is made at once, when request() or fetch() is called: the
// webtask waits for the answer (inside the request's time limit), so a
// call whose answer nobody waits for is still made. The answer is then
// delivered asynchronously, as on Node: the callback and the request's
// 'response', 'data', 'end' and 'complete' events on setImmediate, fetch's
// promise as a resolved promise. The host applies the container's policy
// (the admin allows hosts with PUT /api/outbound/{container}); a call it
// refuses or that fails is the callback's error (or an 'error' event) with
// the host's reason as message and a code — EWT_HTTP_DENIED,
// EWT_HTTP_FAILED, EWT_HTTP_TOO_LARGE, EWT_HTTP_TOO_MANY, EWT_HTTP_INVALID
// — and, for fetch, a rejected TypeError('fetch failed') with that error as
// its cause, as Node's fetch.
//
// request's options: uri/url, baseUrl, method, qs (querystring-encoded
// onto the url; undefined values left out, as the package's qs does),
// headers, body (string, Buffer, typed array or ArrayBuffer; an object
// with json), json (true: accept JSON, send an object body as JSON, parse
// the answer when it parses), form (an object, url-encoded, or a string),
// auth ({user, pass} or {bearer}), encoding (null: the body as a Buffer).
// The host follows redirects (at most 5) and times out with the request;
// followRedirect, timeout, pool, agent and the like are accepted and
// ignored. Headers the host sets itself (host, content-length,
// transfer-encoding, connection, keep-alive) are dropped, as Node's
// HTTP client manages them.

var EventEmitter = require('events');
var querystring = require('querystring');
var Buffer = require('buffer').Buffer;

var CODES = { '-5': 'EWT_HTTP_DENIED', '-6': 'EWT_HTTP_FAILED', '-7': 'EWT_HTTP_TOO_LARGE',
  '-8': 'EWT_HTTP_TOO_MANY', '-9': 'EWT_HTTP_INVALID' };
var OWNED = { host: true, 'content-length': true, 'transfer-encoding': true, connection: true, 'keep-alive': true };

// call makes one call: {status, headers, body: ArrayBuffer}, or throws the
// host's error (message, code, errno: the ABI's result).
function call(method, uri, headers, body) {
  var h = {};
  Object.keys(headers || {}).forEach(function (k) {
    var v = headers[k];
    if (v === undefined || OWNED[k.toLowerCase()]) return;
    h[k] = Array.isArray(v) ? v.map(String) : String(v);
  });
  var r = wt.httpRequest(method, uri, h, body);
  if (r.error !== undefined) {
    var e = new Error(r.message || 'outbound HTTP failed');
    e.code = CODES[r.error] || 'EWT_HTTP_FAILED';
    e.errno = r.error;
    throw e;
  }
  return r;
}

function hasHeader(headers, name) {
  return Object.keys(headers).some(function (k) { return k.toLowerCase() === name; });
}

// withQuery appends an encoded query string to a url, before its fragment.
function withQuery(uri, q) {
  if (!q) return uri;
  var hash = uri.indexOf('#'), frag = '';
  if (hash >= 0) { frag = uri.slice(hash); uri = uri.slice(0, hash); }
  return uri + (uri.indexOf('?') >= 0 ? (/[?&]$/.test(uri) ? '' : '&') : '?') + q + frag;
}

function isBytes(v) { return v instanceof ArrayBuffer || ArrayBuffer.isView(v); }

// ---- request ---------------------------------------------------------------

function params(uri, options, callback) {
  if (typeof options === 'function') { callback = options; options = undefined; }
  var o = {};
  if (uri && typeof uri === 'object' && !(typeof URL === 'function' && uri instanceof URL)) Object.assign(o, uri);
  else o.uri = uri;
  if (options && typeof options === 'object') Object.assign(o, options);
  if (typeof callback === 'function') o.callback = callback;
  return o;
}

// prepare turns request's options into the call: method, url, headers, body.
function prepare(o) {
  var method = String(o.method || 'GET').toUpperCase();
  var uri = o.uri !== undefined ? o.uri : o.url;
  uri = uri && typeof uri === 'object' && 'href' in uri ? String(uri.href) : String(uri === undefined ? '' : uri);
  if (o.baseUrl) uri = String(o.baseUrl).replace(/\/$/, '') + '/' + uri.replace(/^\//, '');
  if (o.qs && typeof o.qs === 'object') {
    var qs = {};
    Object.keys(o.qs).forEach(function (k) { if (o.qs[k] !== undefined) qs[k] = o.qs[k]; });
    uri = withQuery(uri, querystring.stringify(qs));
  }
  var headers = Object.assign({}, o.headers);
  var body = o.body;
  if (o.form !== undefined) {
    body = typeof o.form === 'string' ? o.form : querystring.stringify(o.form);
    if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (o.json !== undefined && o.json !== false) {
    if (!hasHeader(headers, 'accept')) headers.accept = 'application/json';
    if (o.json !== true && body === undefined) body = o.json;
    if (body !== undefined && typeof body !== 'string' && !isBytes(body)) {
      body = JSON.stringify(body);
      if (!hasHeader(headers, 'content-type')) headers['content-type'] = 'application/json';
    }
  }
  if (body !== undefined && body !== null && typeof body !== 'string' && !isBytes(body)) {
    throw new Error('Argument error, options.body.');
  }
  var auth = o.auth;
  if (auth && !hasHeader(headers, 'authorization')) {
    if (auth.bearer) headers.authorization = 'Bearer ' + (typeof auth.bearer === 'function' ? auth.bearer() : auth.bearer);
    else if (auth.user !== undefined || auth.username !== undefined) {
      headers.authorization = 'Basic ' + Buffer.from((auth.user !== undefined ? auth.user : auth.username) + ':' +
        (auth.pass !== undefined ? auth.pass : auth.password || '')).toString('base64');
    }
  }
  return { method: method, uri: uri, headers: headers, body: body };
}

// send makes the call now and delivers its outcome on setImmediate.
function send(o, defaults) {
  defaults = defaults || {};
  var headers = Object.assign({}, defaults.headers, o.headers);
  o = Object.assign({}, defaults, o);
  o.headers = headers;
  var req = new EventEmitter();
  var aborted = false;
  req.abort = function () { aborted = true; };
  var err = null, res = null, body;
  try {
    var p = prepare(o);
    req.method = p.method; req.uri = p.uri; req.headers = p.headers;
    var r = call(p.method, p.uri, p.headers, p.body);
    body = o.encoding === null ? Buffer.from(r.body) : wt.utf8Decode(r.body);
    if (o.json && typeof body === 'string' && body !== '') {
      try { body = JSON.parse(body); } catch (e) { /* kept as text, as the package does */ }
    }
    res = new EventEmitter();
    res.statusCode = r.status;
    res.statusMessage = STATUS[r.status] || '';
    res.headers = r.headers;
    res.body = body;
    res.request = { method: p.method, uri: { href: p.uri }, headers: p.headers };
    res.toJSON = function () { return { statusCode: res.statusCode, body: res.body, headers: res.headers, request: res.request }; };
  } catch (e) {
    err = e;
  }
  setImmediate(function () {
    if (aborted) return;
    if (err) {
      if (typeof o.callback === 'function') o.callback(err);
      else if (req.listenerCount('error') > 0) req.emit('error', err);
      else console.warn('request: ' + err.message);
      return;
    }
    req.response = res;
    req.emit('response', res);
    var chunk = o.encoding === null || typeof body !== 'string' ? Buffer.from(r.body) : body;
    if (chunk.length > 0) { req.emit('data', chunk); res.emit('data', chunk); }
    res.emit('end');
    req.emit('end');
    req.emit('complete', res, body);
    if (typeof o.callback === 'function') o.callback(null, res, body);
  });
  return req;
}

var STATUS = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found',
  304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

function request(uri, options, callback) { return send(params(uri, options, callback)); }

function verbs(target, defaults) {
  ['get', 'head', 'post', 'put', 'patch', 'del', 'delete', 'options'].forEach(function (verb) {
    target[verb] = function (uri, options, callback) {
      var o = params(uri, options, callback);
      o.method = verb === 'del' ? 'DELETE' : verb.toUpperCase();
      return send(o, defaults);
    };
  });
  target.defaults = function (d) {
    var merged = Object.assign({}, defaults, d, { headers: Object.assign({}, defaults.headers, d && d.headers) });
    var fn = function (uri, options, callback) { return send(params(uri, options, callback), merged); };
    verbs(fn, merged);
    return fn;
  };
  target.jar = function () { return {}; };
  return target;
}
verbs(request, {});

// ---- fetch -----------------------------------------------------------------

// Headers is the WHATWG class, enough of it: names lower-cased, values
// of a repeated name joined with ", ".
function Headers(init) {
  if (!(this instanceof Headers)) throw new TypeError("Class constructor Headers cannot be invoked without 'new'");
  var map = this._map = {};
  if (init === undefined || init === null) return;
  if (typeof init.forEach === 'function' && !Array.isArray(init)) {
    init.forEach(function (v, k) { Headers.prototype.append.call({ _map: map }, k, v); });
  } else if (Array.isArray(init) || typeof init[Symbol.iterator] === 'function') {
    for (var pair of init) {
      if (pair.length !== 2) throw new TypeError('Headers constructor: expected name/value pair to be length 2, found ' + pair.length + '.');
      this.append(pair[0], pair[1]);
    }
  } else {
    for (var k in init) if (hasOwn.call(init, k)) this.append(k, init[k]);
  }
}
function checkName(name) {
  name = String(name);
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new TypeError('Headers.append: "' + name + '" is an invalid header name.');
  return name.toLowerCase();
}
Headers.prototype.append = function (k, v) {
  k = checkName(k); v = String(v).trim();
  this._map[k] = hasOwn.call(this._map, k) ? this._map[k] + ', ' + v : v;
};
Headers.prototype.set = function (k, v) { this._map[checkName(k)] = String(v).trim(); };
Headers.prototype.get = function (k) { k = String(k).toLowerCase(); return hasOwn.call(this._map, k) ? this._map[k] : null; };
Headers.prototype.has = function (k) { return hasOwn.call(this._map, String(k).toLowerCase()); };
Headers.prototype['delete'] = function (k) { delete this._map[String(k).toLowerCase()]; };
Headers.prototype.forEach = function (fn, thisArg) {
  var self = this;
  Object.keys(this._map).sort().forEach(function (k) { fn.call(thisArg, self._map[k], k, self); });
};
Headers.prototype.entries = function () { var m = this._map; return Object.keys(m).sort().map(function (k) { return [k, m[k]]; })[Symbol.iterator](); };
Headers.prototype.keys = function () { return Object.keys(this._map).sort()[Symbol.iterator](); };
Headers.prototype.values = function () { var m = this._map; return Object.keys(m).sort().map(function (k) { return m[k]; })[Symbol.iterator](); };
Headers.prototype[Symbol.iterator] = Headers.prototype.entries;

// Response is what fetch resolves to.
function Response(status, headers, body, url) {
  this.status = status;
  this.statusText = STATUS[status] || '';
  this.ok = status >= 200 && status <= 299;
  this.headers = headers;
  this.url = url;
  this.redirected = false;
  this.type = 'basic';
  this._body = body; // an ArrayBuffer
  this.bodyUsed = false;
}
Response.prototype._consume = function () {
  if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
  this.bodyUsed = true;
  return Promise.resolve(this._body);
};
Response.prototype.arrayBuffer = function () { return this._consume().then(function (b) { return b.slice(0); }); };
Response.prototype.text = function () { return this._consume().then(function (b) { return wt.utf8Decode(b); }); };
Response.prototype.json = function () { return this.text().then(JSON.parse); };
Response.prototype.clone = function () {
  if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
  return new Response(this.status, new Headers(this.headers), this._body, this.url);
};

function fetch(input, init) {
  init = init || {};
  var isReq = input && typeof input === 'object' && !(typeof URL === 'function' && input instanceof URL) && 'url' in input;
  var uri = isReq ? String(input.url) : String(input && input.href !== undefined ? input.href : input);
  var method = String(init.method || (isReq && input.method) || 'GET').toUpperCase();
  var headers = new Headers(init.headers || (isReq ? input.headers : undefined));
  var body = init.body !== undefined ? init.body : isReq ? input.body : undefined;
  if (typeof URLSearchParams === 'function' && body instanceof URLSearchParams) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    body = body.toString();
  } else if (typeof body === 'string') {
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
  } else if (body !== undefined && body !== null && !isBytes(body)) {
    body = String(body);
  }
  if ((method === 'GET' || method === 'HEAD') && body !== undefined && body !== null) {
    return Promise.reject(new TypeError('Request with GET/HEAD method cannot have body.'));
  }
  try {
    var r = call(method, uri, headers._map, body);
  } catch (cause) {
    var e = new TypeError('fetch failed');
    e.cause = cause;
    return Promise.reject(e);
  }
  var h = new Headers();
  Object.keys(r.headers).forEach(function (k) {
    var v = r.headers[k];
    h._map[k] = Array.isArray(v) ? v.join(', ') : v;
  });
  return Promise.resolve(new Response(r.status, h, r.body, uri));
}

request.fetch = fetch;
request.Headers = Headers;
request.Response = Response;

module.exports = request;
