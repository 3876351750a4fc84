// lib/express.js — the built-in module express: Express 4's application,
// Router, routes and middleware chain, and its request/response helpers,
// written for this engine (the npm package needs Node's http, net, fs and
// stream). Covered: app.use/route/all/METHOD with paths ('/a/:id',
// optional ':id?', '*', RegExp, arrays), express.Router, error
// middleware (err, req, res, next), next('route'), next('router'),
// promise rejections of async handlers (as Express 5), app.set/get/enable/
// disable ('json spaces', 'case sensitive routing', 'strict routing',
// 'x-powered-by'), app.param, express.json/urlencoded/text/raw
// (body-parser), req.get/is/query/params/path/hostname/protocol/secure/xhr,
// res.status/set/get/type/send/json/sendStatus/redirect/location/cookie/
// clearCookie/append/vary/attachment/format and Express's 404 and error
// pages. Not covered: views (res.render), res.sendFile/download,
// express.static, app.listen (a webtask does not listen: webtask-tools'
// fromExpress serves the app).

var bodyParser = require('body-parser');
var qs = require('querystring');
var Buffer = require('buffer').Buffer;

var METHODS = ['get', 'post', 'put', 'delete', 'patch', 'options', 'head'];

var STATUS = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 301: 'Moved Permanently', 302: 'Found',
  303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request',
  401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  406: 'Not Acceptable', 409: 'Conflict', 410: 'Gone', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  418: "I'm a Teapot", 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };

var MIME = { html: 'text/html', htm: 'text/html', text: 'text/plain', txt: 'text/plain', json: 'application/json',
  js: 'application/javascript', css: 'text/css', xml: 'application/xml', csv: 'text/csv', png: 'image/png',
  jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', svg: 'image/svg+xml', pdf: 'application/pdf',
  bin: 'application/octet-stream', form: 'application/x-www-form-urlencoded', urlencoded: 'application/x-www-form-urlencoded',
  multipart: 'multipart/*' };

function mimeOf(t) {
  t = String(t);
  if (t.indexOf('/') !== -1) return t;
  return MIME[t.replace(/^\./, '').toLowerCase()] || 'application/octet-stream';
}

function withCharset(type) {
  if (/;\s*charset\s*=/i.test(type)) return type;
  var base = type.split(';')[0].trim().toLowerCase();
  return /^text\//.test(base) || base === 'application/json' || base === 'application/javascript' ? type + '; charset=utf-8' : type;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; });
}

// ---- paths ------------------------------------------------------------------

// compilePath is Express 4's path-to-regexp (0.1): ':name' and ':name?'
// parameters, '*' as (.*), a RegExp as it is; end false for use() (a
// prefix at a segment boundary).
function compilePath(path, opts, end) {
  var keys = [];
  if (path instanceof RegExp) {
    var n = new RegExp(path.source + '|').exec('').length - 1;
    for (var k = 0; k < n; k++) keys.push({ name: k, optional: false });
    return { regexp: path, keys: keys };
  }
  if (Array.isArray(path)) {
    var parts = path.map(function (p) { var c = compilePath(p, opts, end); keys = keys.concat(c.keys); return c.regexp.source.replace(/^\^|\$$|\(\?=\\\/\|\$\)$/g, ''); });
    return { regexp: new RegExp('^(?:' + parts.join('|') + ')' + (end ? (opts.strict ? '' : '\\/?') + '$' : '(?=\\/|$)'), opts.sensitive ? '' : 'i'), keys: keys };
  }
  var src = String(path);
  if (!opts.strict && end) src = src.replace(/\/$/, '');
  var re = '';
  for (var i = 0; i < src.length;) {
    var m = /^(\/?):(\w+)(\(.*?\))?(\?)?/.exec(src.slice(i));
    if (m) {
      keys.push({ name: m[2], optional: !!m[4] });
      var group = '(' + (m[3] ? m[3].slice(1, -1) : '[^\\/]+?') + ')';
      re += m[4] ? '(?:' + (m[1] ? '\\/' : '') + group + ')?' : (m[1] ? '\\/' : '') + group;
      i += m[0].length;
    } else if (src[i] === '*') {
      keys.push({ name: keys.length, optional: false });
      re += '(.*)'; i++;
    } else {
      re += src[i].replace(/[.+?^${}()|[\]\\\/]/g, '\\$&'); i++;
    }
  }
  if (end) re += (opts.strict ? '' : '\\/?') + '$';
  else re += src === '/' || src === '' ? '' : '(?=\\/|$)';
  return { regexp: new RegExp('^' + re, opts.sensitive ? '' : 'i'), keys: keys };
}

function Layer(path, opts, end, fn) {
  var c = compilePath(path, opts, end);
  this.path = path; this.regexp = c.regexp; this.keys = c.keys; this.handle = fn; this.end = end;
  this.slash = path === '/' && !end;
}
Layer.prototype.match = function (path) {
  if (this.slash) { this.params = {}; this.matched = ''; return true; }
  var m = this.regexp.exec(path);
  if (!m) return false;
  this.params = {}; this.matched = m[0];
  for (var i = 1; i < m.length; i++) {
    var key = this.keys[i - 1];
    if (!key) continue;
    var v = m[i];
    if (v !== undefined) { try { v = decodeURIComponent(v); } catch (e) { e.status = 400; throw e; } }
    if (v !== undefined || !hasOwn.call(this.params, key.name)) this.params[key.name] = v;
  }
  return true;
};

// ---- Route and Router -------------------------------------------------------

function Route(path) { this.path = path; this.stack = []; this.methods = {}; }
Route.prototype.handles = function (method) {
  if (this.methods._all) return true;
  var m = method.toLowerCase();
  if (m === 'head' && !this.methods.head) m = 'get';
  return !!this.methods[m];
};
Route.prototype.dispatch = function (req, res, done) {
  var idx = 0, stack = this.stack, method = req.method.toLowerCase();
  if (method === 'head' && !this.methods.head) method = 'get';
  req.route = this;
  function next(err) {
    if (err === 'route') return done();
    if (err === 'router') return done(err);
    var layer = stack[idx++];
    if (!layer) return done(err);
    if (layer.method && layer.method !== method) return next(err);
    call(layer.handle, err, req, res, next);
  }
  next();
};
['all'].concat(METHODS).forEach(function (m) {
  Route.prototype[m] = function () {
    var fns = flatten(slice.call(arguments));
    for (var i = 0; i < fns.length; i++) {
      if (typeof fns[i] !== 'function') throw new TypeError('Route.' + m + '() requires a callback function but got a ' + Object.prototype.toString.call(fns[i]));
      var l = new Layer('/', {}, true, fns[i]);
      l.method = m === 'all' ? undefined : m;
      this.methods[m === 'all' ? '_all' : m] = true;
      this.stack.push(l);
    }
    return this;
  };
});

function flatten(a) {
  var out = [];
  for (var i = 0; i < a.length; i++) Array.isArray(a[i]) ? (out = out.concat(flatten(a[i]))) : out.push(a[i]);
  return out;
}

// call runs a handler: only error handlers (4 arguments) with an error,
// only the others without; a throw or a rejected promise is next(err).
function call(fn, err, req, res, next) {
  try {
    var r;
    if (err) { if (fn.length !== 4) return next(err); r = fn(err, req, res, next); }
    else { if (fn.length > 3) return next(); r = fn(req, res, next); }
    if (r && typeof r.then === 'function') r.then(null, function (e) { next(e || new Error('Rejected promise')); });
  } catch (e) {
    next(e);
  }
}

function Router(options) {
  options = options || {};
  var router = function (req, res, next) { router.handle(req, res, next); };
  Object.setPrototypeOf(router, Router.prototype);
  router.params = {}; router.stack = [];
  router.caseSensitive = options.caseSensitive; router.strict = options.strict; router.mergeParams = options.mergeParams;
  return router;
}
Router.prototype = Object.create(Function.prototype);
Router.prototype.opts = function () { return { sensitive: this.caseSensitive, strict: this.strict }; };
Router.prototype.use = function (path) {
  var fns = slice.call(arguments), p = '/';
  if (typeof path !== 'function' && !Array.isArray(path) || Array.isArray(path) && typeof path[0] !== 'function') { p = path; fns = fns.slice(1); }
  fns = flatten(fns);
  if (!fns.length) throw new TypeError('Router.use() requires a middleware function');
  for (var i = 0; i < fns.length; i++) {
    if (typeof fns[i] !== 'function') throw new TypeError('Router.use() requires a middleware function but got a ' + Object.prototype.toString.call(fns[i]));
    this.stack.push(new Layer(p, this.opts(), false, fns[i]));
  }
  return this;
};
Router.prototype.route = function (path) {
  var route = new Route(path), layer = new Layer(path, this.opts(), true, function (req, res, next) { route.dispatch(req, res, next); });
  layer.route = route;
  this.stack.push(layer);
  return route;
};
['all'].concat(METHODS).forEach(function (m) {
  Router.prototype[m] = function (path) {
    var route = this.route(path);
    route[m].apply(route, slice.call(arguments, 1));
    return this;
  };
});
Router.prototype.param = function (name, fn) {
  (this.params[name] = this.params[name] || []).push(fn);
  return this;
};
Router.prototype.handle = function (req, res, out) {
  var self = this, idx = 0, removed = '', slashAdded = false, parentParams = req.params, parentUrl = req.baseUrl || '';
  var done = function (err) {
    req.baseUrl = parentUrl; req.params = parentParams;
    restore();
    out(err);
  };
  function restore() {
    if (removed) { req.url = removed + (slashAdded ? req.url.slice(1) : req.url); removed = ''; slashAdded = false; }
  }
  var called = {};
  function next(err) {
    if (err === 'route') err = undefined;
    if (err === 'router') return done();
    restore();
    req.baseUrl = parentUrl;
    var path = pathOf(req.url);
    for (;;) {
      var layer = self.stack[idx++];
      if (!layer) return done(err);
      var ok;
      try { ok = layer.match(path); } catch (e) { err = err || e; continue; }
      if (!ok) continue;
      if (layer.route && !layer.route.handles(req.method)) continue;
      req.params = self.mergeParams ? Object.assign({}, parentParams, layer.params) : layer.params;
      if (layer.route) {
        if (err) continue; // routes take no errors
        return params(layer, function (e) { e ? next(e) : call(layer.handle, undefined, req, res, next); });
      }
      var m = layer.matched;
      if (m && m !== '/') {
        removed = m.replace(/\/$/, '');
        req.url = req.url.slice(removed.length) || '/';
        if (req.url[0] !== '/') { req.url = '/' + req.url; slashAdded = true; }
        req.baseUrl = parentUrl + removed;
      }
      return call(layer.handle, err, req, res, next);
    }
  }
  // params runs app.param/router.param callbacks once per value.
  function params(layer, cb) {
    var names = layer.keys.map(function (k) { return k.name; }).filter(function (n) { return self.params[n]; });
    var i = 0;
    (function step(e) {
      if (e || i >= names.length) return cb(e);
      var name = names[i++], value = req.params[name], fns = self.params[name], j = 0;
      if (value === undefined || called[name] === value) return step();
      called[name] = value;
      (function each(e2) {
        if (e2 || j >= fns.length) return step(e2);
        try { fns[j++](req, res, each, value, name); } catch (e3) { each(e3); }
      })();
    })();
  }
  next();
};

function pathOf(url) { var q = url.indexOf('?'); return q === -1 ? url : url.slice(0, q); }

// ---- request and response helpers --------------------------------------------

var request = {
  get: function (name) {
    var n = String(name).toLowerCase(), h = this.headers || {};
    if (n === 'referer' || n === 'referrer') return h.referer || h.referrer;
    return h[n];
  },
  is: function (types) {
    var ct = (this.headers && this.headers['content-type']) || '';
    if (!ct) return null;
    var base = ct.split(';')[0].trim().toLowerCase();
    var list = Array.isArray(types) ? types : slice.call(arguments);
    for (var i = 0; i < list.length; i++) {
      if (!bodyParser._typeMatches(base, list[i])) continue;
      // type-is: the request's type for a pattern with a wildcard.
      return String(list[i]).indexOf('*') !== -1 || String(list[i])[0] === '+' ? base : list[i];
    }
    return false;
  },
  accepts: function (types) {
    var accept = (this.headers && this.headers.accept) || '*/*', list = Array.isArray(types) ? types : slice.call(arguments);
    if (!list.length) return accept.split(',').map(function (s) { return s.split(';')[0].trim(); });
    var wanted = accept.split(',').map(function (s) { return s.split(';')[0].trim().toLowerCase(); });
    for (var i = 0; i < list.length; i++) {
      var t = mimeOf(list[i]).toLowerCase();
      for (var j = 0; j < wanted.length; j++) {
        var w = wanted[j];
        if (w === '*/*' || w === t || (/\/\*$/.test(w) && t.split('/')[0] === w.split('/')[0])) return list[i];
      }
    }
    return false;
  },
};
request.header = request.get;
function defineGetter(obj, name, fn) { Object.defineProperty(obj, name, { configurable: true, enumerable: true, get: fn }); }
defineGetter(request, 'path', function () { return pathOf(this.url); });
// The X-Forwarded-* headers count only with the app's 'trust proxy', as
// in Express.
function trusted(req, name) { return req.app && req.app.enabled('trust proxy') ? req.get(name) : undefined; }
defineGetter(request, 'hostname', function () {
  var h = trusted(this, 'x-forwarded-host') || this.get('host') || '';
  return h.split(',')[0].trim().replace(/:\d+$/, '');
});
defineGetter(request, 'protocol', function () { var p = trusted(this, 'x-forwarded-proto'); return p ? p.split(',')[0].trim() : 'http'; });
defineGetter(request, 'secure', function () { return this.protocol === 'https'; });
defineGetter(request, 'ip', function () { var f = trusted(this, 'x-forwarded-for'); return f ? f.split(',')[0].trim() : ''; });
defineGetter(request, 'xhr', function () { return String(this.get('x-requested-with') || '').toLowerCase() === 'xmlhttprequest'; });
defineGetter(request, 'query', function () {
  var q = this.url.indexOf('?'), v = q === -1 ? {} : qs.parse(this.url.slice(q + 1));
  Object.defineProperty(this, 'query', { value: v, writable: true, configurable: true, enumerable: true });
  return v;
});

var response = {
  status: function (code) { this.statusCode = code; return this; },
  set: function (field, value) {
    if (typeof field === 'object') { for (var k in field) this.set(k, field[k]); return this; }
    var v = Array.isArray(value) ? value.map(String) : String(value);
    if (String(field).toLowerCase() === 'content-type') {
      if (Array.isArray(v)) throw new TypeError('Content-Type cannot be set to an Array');
      v = withCharset(v);
    }
    this.setHeader(field, v);
    return this;
  },
  get: function (field) { return this.getHeader(field); },
  append: function (field, value) {
    var prev = this.getHeader(field);
    var v = prev === undefined ? value : [].concat(prev, value);
    return this.set(field, v);
  },
  type: function (t) { return this.set('Content-Type', mimeOf(t)); },
  send: function (body) {
    var app = this.app;
    if (typeof body === 'number' && arguments.length === 1) { this.statusCode = body; body = STATUS[body] || String(body); if (!this.getHeader('content-type')) this.type('txt'); }
    if (body === null || body === undefined) body = '';
    else if (typeof body === 'boolean' || typeof body === 'number' || (typeof body === 'object' && !(body instanceof Uint8Array))) return this.json(body);
    else if (typeof body === 'string') { if (!this.getHeader('content-type')) this.type('html'); }
    else if (!this.getHeader('content-type')) this.type('bin');
    if (this.statusCode === 204 || this.statusCode === 304) {
      this.removeHeader('Content-Type');
      body = '';
    }
    if (this.req && this.req.method === 'HEAD') body = '';
    this.end(body);
    return this;
  },
  json: function (obj) {
    var app = this.app, spaces = app && app.get('json spaces'), replacer = app && app.get('json replacer');
    var body = JSON.stringify(obj, replacer, spaces);
    if (!this.getHeader('content-type')) this.set('Content-Type', 'application/json');
    return this.send(body === undefined ? '' : body);
  },
  sendStatus: function (code) {
    this.statusCode = code;
    this.type('txt');
    return this.send(STATUS[code] || String(code));
  },
  location: function (url) { return this.set('Location', url === 'back' ? (this.req && this.req.get('referrer')) || '/' : encodeURI(url).replace(/%25([0-9a-fA-F]{2})/g, '%$1')); },
  redirect: function (a, b) {
    var status = 302, url = a;
    if (b !== undefined) { status = typeof a === 'number' ? a : b; url = typeof a === 'number' ? b : a; }
    this.location(url);
    var loc = this.getHeader('location');
    this.statusCode = status;
    this.vary('Accept');
    if (this.req && this.req.accepts('html') && !this.req.accepts('text')) {
      this.set('Content-Type', 'text/html');
      this.end(this.req.method === 'HEAD' ? '' : '<p>' + STATUS[status] + '. Redirecting to ' + escapeHtml(loc) + '</p>');
    } else {
      this.set('Content-Type', 'text/plain');
      this.end(this.req && this.req.method === 'HEAD' ? '' : STATUS[status] + '. Redirecting to ' + loc);
    }
  },
  cookie: function (name, value, opts) {
    opts = Object.assign({}, opts);
    var v = typeof value === 'object' ? 'j:' + JSON.stringify(value) : String(value);
    var parts = [name + '=' + encodeURIComponent(v)];
    if (opts.maxAge !== undefined) { opts.expires = new Date(Date.now() + opts.maxAge); parts.push('Max-Age=' + Math.floor(opts.maxAge / 1000)); }
    parts.push('Path=' + (opts.path || '/'));
    if (opts.domain) parts.push('Domain=' + opts.domain);
    if (opts.expires) parts.push('Expires=' + opts.expires.toUTCString());
    if (opts.httpOnly) parts.push('HttpOnly');
    if (opts.secure) parts.push('Secure');
    if (opts.sameSite) parts.push('SameSite=' + (opts.sameSite === true ? 'Strict' : String(opts.sameSite).replace(/^\w/, function (c) { return c.toUpperCase(); })));
    return this.append('Set-Cookie', parts.join('; '));
  },
  clearCookie: function (name, opts) {
    return this.cookie(name, '', Object.assign({ path: '/' }, opts, { expires: new Date(1), maxAge: undefined }));
  },
  vary: function (field) {
    var prev = this.getHeader('vary'), list = prev ? String(prev).split(/\s*,\s*/) : [];
    if (list.indexOf(field) === -1) list.push(field);
    return this.set('Vary', list.join(', '));
  },
  attachment: function (filename) {
    if (filename) this.type(String(filename).split('.').pop());
    return this.set('Content-Disposition', filename ? 'attachment; filename="' + String(filename).split('/').pop() + '"' : 'attachment');
  },
  format: function (obj) {
    var keys = Object.keys(obj).filter(function (k) { return k !== 'default'; });
    var key = keys.length ? this.req.accepts(keys) : false;
    this.vary('Accept');
    if (key) { this.set('Content-Type', mimeOf(key)); obj[key](this.req, this, this.req.next); }
    else if (obj['default']) obj['default'](this.req, this, this.req.next);
    else { var e = new Error('Not Acceptable'); e.status = e.statusCode = 406; this.req.next(e); }
    return this;
  },
  render: function () { throw new Error('res.render: this server has no view engines'); },
  sendFile: function () { throw new Error('res.sendFile: a webtask has no files to send'); },
};
response.header = response.set;
response.contentType = response.type;

// ---- the application ----------------------------------------------------------

function finalHandler(req, res) {
  return function (err) {
    if (res.finished || res.headersSent && res.writableEnded) return;
    var status, msg;
    if (err) {
      status = err.status || err.statusCode;
      if (!(status >= 400 && status <= 599)) status = 500;
      // Node's finalhandler logs err.stack, whose first line there is
      // "Name: message"; QuickJS's stack is the frames only, so the error
      // is logged as util.inspect shows it: that line, then the frames.
      console.error(err && err.stack ? inspect(err) : String(err));
      // As Express in production (its default here): the status's
      // message, never the error's; 'development' shows the stack.
      msg = STATUS[status] || String(status);
      if (req.app && req.app.get('env') === 'development') msg = err.stack || String(err);
      if (err.headers) for (var h in err.headers) res.setHeader(h, err.headers[h]);
    } else {
      status = 404;
      msg = 'Cannot ' + req.method + ' ' + escapeHtml(pathOf(req.originalUrl || req.url));
    }
    res.statusCode = status;
    res.setHeader('Content-Security-Policy', "default-src 'none'");
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(req.method === 'HEAD' ? '' : '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n</head>\n<body>\n<pre>' +
      (err ? escapeHtml(msg).replace(/\n/g, '<br>').replace(/ {2}/g, ' &nbsp;') : msg) + '</pre>\n</body>\n</html>\n');
  };
}

function createApplication() {
  var app = function (req, res, next) { app.handle(req, res, next); };
  app.settings = { 'x-powered-by': true, env: 'production', 'jsonp callback name': 'callback', etag: 'weak' };
  app.locals = { settings: app.settings };
  app.mountpath = '/';
  app.request = Object.create(request);
  app.response = Object.create(response);
  var router = null;
  app.lazyrouter = function () {
    if (!router) {
      router = Router({ caseSensitive: app.enabled('case sensitive routing'), strict: app.enabled('strict routing') });
      router.use(function expressInit(req, res, next) {
        if (app.enabled('x-powered-by')) res.setHeader('X-Powered-By', 'Express');
        req.res = res; res.req = req; req.next = next;
        // Express's req and res are the server's, with the app's helpers
        // inserted between them and their own prototype.
        if (Object.getPrototypeOf(req) !== app.request) {
          if (!app._reqProto) { app._reqProto = Object.create(Object.getPrototypeOf(req)); copyProps(app._reqProto, app.request); }
          if (!app._resProto) { app._resProto = Object.create(Object.getPrototypeOf(res)); copyProps(app._resProto, app.response); }
          Object.setPrototypeOf(req, app._reqProto);
          Object.setPrototypeOf(res, app._resProto);
        }
        req.app = res.app = app;
        res.locals = res.locals || Object.create(app.locals);
        next();
      });
    }
    return router;
  };
  Object.defineProperty(app, '_router', { get: function () { return app.lazyrouter(); } });
  app.handle = function (req, res, callback) {
    req.originalUrl = req.originalUrl || req.url;
    app.lazyrouter().handle(req, res, callback || finalHandler(req, res));
  };
  app.use = function () {
    var args = slice.call(arguments);
    var r = app.lazyrouter();
    var fns = args, path = '/';
    if (typeof args[0] !== 'function' && !(Array.isArray(args[0]) && typeof args[0][0] === 'function')) { path = args[0]; fns = args.slice(1); }
    flatten(fns).forEach(function (fn) {
      if (fn && typeof fn.handle === 'function' && typeof fn.set === 'function') { // a sub-app
        var sub = fn;
        sub.mountpath = path; sub.parent = app;
        r.use(path, function mounted(req, res, next) {
          var orig = req.app;
          sub.handle(req, res, function (err) {
            Object.setPrototypeOf(req, orig._reqProto || Object.getPrototypeOf(req));
            Object.setPrototypeOf(res, orig._resProto || Object.getPrototypeOf(res));
            req.app = res.app = orig;
            next(err);
          });
        });
      } else {
        r.use(path, fn);
      }
    });
    return app;
  };
  app.route = function (path) { return app.lazyrouter().route(path); };
  app.param = function (name, fn) { app.lazyrouter().param(name, fn); return app; };
  ['all'].concat(METHODS).forEach(function (m) {
    app[m] = function (path) {
      if (m === 'get' && arguments.length === 1) return app.set(path);
      var route = app.route(path);
      route[m].apply(route, slice.call(arguments, 1));
      return app;
    };
  });
  app.del = app['delete'];
  app.set = function (name, value) {
    if (arguments.length === 1) return app.settings[name];
    app.settings[name] = value;
    return app;
  };
  app.enable = function (n) { return app.set(n, true); };
  app.disable = function (n) { return app.set(n, false); };
  app.enabled = function (n) { return !!app.settings[n]; };
  app.disabled = function (n) { return !app.settings[n]; };
  app.engine = function () { return app; };
  app.render = function (name, opts, cb) { (typeof opts === 'function' ? opts : cb)(new Error('app.render: this server has no view engines')); };
  app.listen = function () {
    var e = new Error('app.listen: a webtask does not listen; export it with require("webtask-tools").fromExpress(app)');
    e.code = 'ERR_WT_NO_LISTEN';
    throw e;
  };
  return app;
}

function copyProps(dst, src) {
  var o = src;
  while (o && o !== Object.prototype) {
    Object.getOwnPropertyNames(o).forEach(function (k) {
      if (!hasOwn.call(dst, k)) Object.defineProperty(dst, k, Object.getOwnPropertyDescriptor(o, k));
    });
    o = Object.getPrototypeOf(o);
  }
}

createApplication.Router = Router;
createApplication.Route = Route;
createApplication.json = bodyParser.json;
createApplication.urlencoded = bodyParser.urlencoded;
createApplication.text = bodyParser.text;
createApplication.raw = bodyParser.raw;
createApplication.request = request;
createApplication.response = response;
createApplication.application = {};
createApplication['static'] = function () {
  throw new Error('express.static: a webtask has no files to serve');
};

module.exports = createApplication;
