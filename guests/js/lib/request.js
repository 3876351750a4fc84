// lib/request.js — the built-in module request (the npm package's API:
// request(uri[, options], callback), request.get/post/put/patch/del/head,
// request.defaults) and the global fetch. Outbound HTTP is a host function
// the server does not have yet (the platform-services issue): until it
// does, every call fails the way a network error fails — the callback's
// error, an 'error' event, or fetch's rejected promise — with a message
// that says so. Nothing is sent.

var EventEmitter = require('events');

function unavailable(method, uri) {
  var e = new Error('outbound HTTP is not available on this server yet: ' + method + ' ' + uri + ' was not sent');
  e.code = 'EWT_NO_OUTBOUND';
  return e;
}

function params(uri, options, callback) {
  if (typeof options === 'function') { callback = options; options = undefined; }
  var o = {};
  if (uri && typeof uri === 'object') Object.assign(o, uri);
  else o.uri = uri;
  if (options && typeof options === 'object') Object.assign(o, options);
  if (typeof callback === 'function') o.callback = callback;
  return o;
}

function send(o, defaults) {
  o = Object.assign({}, defaults, o);
  var method = String(o.method || 'GET').toUpperCase();
  var uri = String(o.uri || o.url || '');
  if (o.baseUrl) uri = String(o.baseUrl).replace(/\/$/, '') + '/' + uri.replace(/^\//, '');
  var req = new EventEmitter();
  req.method = method; req.uri = uri; req.headers = o.headers || {};
  req.abort = function () {};
  var err = unavailable(method, uri);
  setImmediate(function () {
    if (typeof o.callback === 'function') o.callback(err);
    else if (req.listenerCount('error') > 0) req.emit('error', err);
    else console.warn('request: ' + err.message);
  });
  return req;
}

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
    var fn = function (uri, options, callback) { return send(params(uri, options, callback), Object.assign({}, defaults, d)); };
    verbs(fn, Object.assign({}, defaults, d));
    return fn;
  };
  target.jar = function () { return {}; };
  return target;
}
verbs(request, {});

// fetch rejects as Node's does when nothing can be sent: TypeError('fetch
// failed') with the reason as its cause.
request.fetch = function fetch(input, init) {
  var uri = input && typeof input === 'object' && 'url' in input ? input.url : String(input);
  var method = String((init && init.method) || (input && input.method) || 'GET').toUpperCase();
  var e = new TypeError('fetch failed: ' + unavailable(method, uri).message);
  e.cause = unavailable(method, uri);
  return Promise.reject(e);
};

module.exports = request;
