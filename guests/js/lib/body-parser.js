// lib/body-parser.js — the built-in module body-parser: json, urlencoded,
// text and raw middleware with the npm package's (1.x) options (type,
// limit, strict, reviver, extended, defaultCharset, verify) and errors
// (400 entity.parse.failed, 413 entity.too.large, 415
// charset.unsupported), reading the body from req's 'data' and 'end'
// events. Also express.json() and friends.

var qs = require('querystring');
var Buffer = require('buffer').Buffer;

function httpError(status, message, props) {
  var e = new Error(message);
  e.status = e.statusCode = status;
  e.expose = status < 500;
  Object.assign(e, props);
  return e;
}

// typeMatches says whether a media type (lower case, no parameters)
// matches a type-is pattern: 'json', 'urlencoded', 'text/*',
// 'application/*+json', '*/*'.
function typeMatches(base, pattern) {
  var p = String(pattern).toLowerCase();
  if (p === 'json') p = 'application/json';
  else if (p === 'urlencoded') p = 'application/x-www-form-urlencoded';
  else if (p === 'text') p = 'text/plain';
  else if (p === 'multipart') p = 'multipart/*';
  else if (p.indexOf('/') === -1 && p[0] !== '+') return false;
  if (p[0] === '+') p = '*/*' + p;
  var a = p.split('/'), b = base.split('/');
  if (a.length !== 2 || b.length !== 2) return false;
  if (a[0] !== '*' && a[0] !== b[0]) return false;
  if (a[1] === '*') return true;
  if (a[1].slice(0, 2) === '*+') return b[1].slice(-(a[1].length - 1)) === a[1].slice(1);
  return a[1] === b[1];
}

function bytes(limit) {
  if (typeof limit === 'number') return limit;
  var m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(String(limit));
  if (!m) throw new TypeError('option limit "' + limit + '" is invalid');
  return Math.floor(parseFloat(m[1]) * { b: 1, kb: 1024, mb: 1048576, gb: 1073741824 }[(m[2] || 'b').toLowerCase()]);
}

function matcher(type) {
  if (typeof type === 'function') return type;
  var list = Array.isArray(type) ? type : [type];
  return function (req) {
    var ct = (req.headers && req.headers['content-type']) || '';
    var base = ct.split(';')[0].trim().toLowerCase();
    return !!base && list.some(function (t) { return typeMatches(base, t); });
  };
}

function charsetOf(req) {
  var m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec((req.headers && req.headers['content-type']) || '');
  return m ? m[1].toLowerCase() : undefined;
}

function hasBody(req) {
  var h = req.headers || {};
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
}

// reader makes a middleware that reads the body as a Buffer and passes
// it to parse(buffer, charset) → the value of req.body.
function reader(name, defaults, options, parse) {
  var opts = Object.assign({}, defaults, options);
  var limit = bytes(opts.limit === undefined ? '100kb' : opts.limit);
  var shouldParse = matcher(opts.type);
  var verify = opts.verify;
  return function (req, res, next) {
    if (req._body) return next();
    req.body = req.body || {};
    if (!hasBody(req) || !shouldParse(req)) return next();
    var charset = charsetOf(req);
    if (opts.charsets && charset && opts.charsets.indexOf(charset) === -1) {
      return next(httpError(415, 'unsupported charset "' + charset.toUpperCase() + '"', { charset: charset, type: 'charset.unsupported' }));
    }
    var chunks = [], size = 0, failed = false;
    req.on('data', function (c) {
      if (failed) return;
      var b = typeof c === 'string' ? Buffer.from(c) : c;
      size += b.length;
      if (size > limit) { failed = true; return next(httpError(413, 'request entity too large', { expected: size, length: size, limit: limit, type: 'entity.too.large' })); }
      chunks.push(b);
    });
    req.on('end', function () {
      if (failed) return;
      var buf = Buffer.concat(chunks);
      if (verify) {
        try { verify(req, res, buf, charset || 'utf-8'); } catch (e) {
          return next(httpError(403, e.message, { body: buf.toString(), type: e.type || 'entity.verify.failed' }));
        }
      }
      try { req.body = parse(buf, charset); } catch (e) {
        return next(e.status ? e : httpError(400, e.message, { body: buf.toString(), type: 'entity.parse.failed' }));
      }
      req._body = true;
      next();
    });
  };
}

function json(options) {
  var strict = !options || options.strict !== false, reviver = options && options.reviver;
  return reader('json', { type: 'application/json', charsets: ['utf-8', 'utf8', 'utf-16le', 'utf-16be'] }, options, function (buf) {
    var s = buf.toString();
    if (s.length === 0) return {};
    if (strict) {
      var first = /^[\x20\x09\x0a\x0d]*([^\x20\x09\x0a\x0d])/.exec(s);
      if (first && first[1] !== '{' && first[1] !== '[') {
        throw httpError(400, 'Unexpected token ' + first[1] + ' in JSON at position ' + s.indexOf(first[1]), { body: s, type: 'entity.parse.failed' });
      }
    }
    return JSON.parse(s, reviver);
  });
}

function urlencoded(options) {
  var extended = options && options.extended !== undefined ? !!options.extended : true;
  var limit = options && options.parameterLimit !== undefined ? options.parameterLimit : 1000;
  return reader('urlencoded', { type: 'application/x-www-form-urlencoded', charsets: ['utf-8', 'utf8'] }, options, function (buf) {
    var s = buf.toString();
    if ((s.match(/&/g) || []).length + 1 > limit && s.length) throw httpError(413, 'too many parameters', { type: 'parameters.too.many' });
    var flat = qs.parse(s, '&', '=', { maxKeys: limit });
    return extended ? nest(flat) : flat;
  });
}

// nest turns the extended form's a[b]=1&a[c][]=2 into nested objects,
// as the qs package does for the common cases.
function nest(flat) {
  var out = {};
  Object.keys(flat).forEach(function (key) {
    var m = /^([^\[\]]+)((?:\[[^\[\]]*\])+)$/.exec(key);
    if (!m) { out[key] = flat[key]; return; }
    var path = [m[1]].concat(m[2].slice(1, -1).split(']['));
    var o = out;
    for (var i = 0; i < path.length; i++) {
      var k = path[i], last = i === path.length - 1;
      if (k === '__proto__' || k === 'constructor' || k === 'prototype') return;
      if (last) {
        if (k === '' && Array.isArray(o)) o.push.apply(o, [].concat(flat[key]));
        else o[k] = flat[key];
      } else {
        var nextIsArray = path[i + 1] === '';
        if (k === '' && Array.isArray(o)) { var n = nextIsArray ? [] : {}; o.push(n); o = n; continue; }
        if (typeof o[k] !== 'object' || o[k] === null) o[k] = nextIsArray ? [] : {};
        o = o[k];
      }
    }
  });
  return out;
}

function text(options) {
  var def = (options && options.defaultCharset) || 'utf-8';
  return reader('text', { type: 'text/plain' }, options, function (buf, charset) {
    var cs = (charset || def).toLowerCase();
    return buf.toString(cs === 'utf-8' || cs === 'utf8' ? 'utf8' : cs === 'iso-8859-1' || cs === 'latin1' ? 'latin1' : cs === 'us-ascii' ? 'ascii' : 'utf8');
  });
}

function raw(options) {
  return reader('raw', { type: 'application/octet-stream' }, options, function (buf) { return buf; });
}

function bodyParser(options) {
  var j = json(options), u = urlencoded(options);
  return function (req, res, next) { j(req, res, function (e) { e ? next(e) : u(req, res, next); }); };
}
bodyParser.json = json;
bodyParser.urlencoded = urlencoded;
bodyParser.text = text;
bodyParser.raw = raw;
Object.defineProperty(bodyParser, '_typeMatches', { value: typeMatches });

module.exports = bodyParser;
