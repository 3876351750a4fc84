// lib/jsonwebtoken.js — the built-in module jsonwebtoken: the npm
// package's (v9) sign, verify and decode, with its options, defaults,
// error classes and messages, for the HMAC algorithms HS256, HS384 and
// HS512 (crypto's createHmac). RS*, ES* and PS* need public-key
// signatures this server's crypto does not have: they fail with a clear
// error. 'none' is refused, as by the package.

var crypto = require('crypto');
var Buffer = require('buffer').Buffer;

var HMAC = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' };

function JsonWebTokenError(message, error) {
  var e = new Error(message);
  Object.setPrototypeOf(e, JsonWebTokenError.prototype);
  if (error) e.inner = error;
  return e;
}
JsonWebTokenError.prototype = Object.create(Error.prototype, {
  constructor: { value: JsonWebTokenError, writable: true, configurable: true },
  name: { value: 'JsonWebTokenError', writable: true, configurable: true },
});
function TokenExpiredError(message, expiredAt) {
  var e = JsonWebTokenError(message);
  Object.setPrototypeOf(e, TokenExpiredError.prototype);
  e.expiredAt = expiredAt;
  return e;
}
TokenExpiredError.prototype = Object.create(JsonWebTokenError.prototype, {
  constructor: { value: TokenExpiredError, writable: true, configurable: true },
  name: { value: 'TokenExpiredError', writable: true, configurable: true },
});
function NotBeforeError(message, date) {
  var e = JsonWebTokenError(message);
  Object.setPrototypeOf(e, NotBeforeError.prototype);
  e.date = date;
  return e;
}
NotBeforeError.prototype = Object.create(JsonWebTokenError.prototype, {
  constructor: { value: NotBeforeError, writable: true, configurable: true },
  name: { value: 'NotBeforeError', writable: true, configurable: true },
});

// ms is the npm package ms's parser: "2 days", "1d", "10h", "2.5 hrs",
// "1m", "5s", "100" (milliseconds); undefined when it does not parse.
function ms(str) {
  var m = /^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$/i.exec(str);
  if (!m || str.length > 100) return undefined;
  var n = parseFloat(m[1]), u = (m[2] || 'ms').toLowerCase();
  var s = 1000, mi = s * 60, h = mi * 60, d = h * 24;
  var unit = /^y/.test(u) ? d * 365.25 : /^w/.test(u) ? d * 7 : /^d/.test(u) ? d : /^h/.test(u) ? h :
    /^mi|^m$/.test(u) && !/^ms|^msec|^milli/.test(u) ? mi : /^s/.test(u) ? s : 1;
  return n * unit;
}

function timespan(time, iat) {
  if (typeof time === 'string') {
    var v = ms(time);
    return v === undefined ? undefined : Math.floor(iat + v / 1000);
  }
  if (typeof time === 'number') return iat + time;
  return undefined;
}

function b64url(buf) { return Buffer.from(buf).toString('base64url'); }

function hmac(alg, input, secret) {
  var h = HMAC[alg];
  if (!h) throw JsonWebTokenError('"' + alg + '" is not supported by this server: it signs and verifies with HS256, HS384 and HS512');
  return crypto.createHmac(h, secret).update(input).digest('base64url');
}

function secretBytes(key) {
  if (key && key._secret) return key._secret;
  if (typeof key === 'string' || ArrayBuffer.isView(key)) return key;
  return undefined;
}

function async(cb, fn) {
  if (typeof cb !== 'function') return fn();
  var r, err = null;
  try { r = fn(); } catch (e) { err = e; }
  setImmediate(function () { err ? cb(err) : cb(null, r); });
}

var optionsToPayload = { audience: 'aud', issuer: 'iss', subject: 'sub', jwtid: 'jti' };

function sign(payload, secret, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  options = options || {};
  return async(callback, function () {
    var isObject = typeof payload === 'object' && payload !== null && !Buffer.isBuffer(payload);
    var header = Object.assign({ alg: options.algorithm || 'HS256', typ: isObject ? 'JWT' : undefined, kid: options.keyid }, options.header);
    if (!secret && header.alg !== 'none') throw new Error('secretOrPrivateKey must have a value');
    if (header.alg === 'none') throw new Error('"none" is not a supported algorithm');
    if (typeof payload === 'undefined') throw new Error('payload is required');
    if (isObject) {
      payload = Object.assign({}, payload);
      ['iat', 'exp', 'nbf'].forEach(function (k) {
        if (payload[k] !== undefined && typeof payload[k] !== 'number') throw new Error('"' + k + '" should be a number of seconds');
      });
    } else if (options.expiresIn !== undefined || options.notBefore !== undefined) {
      throw new Error('invalid ' + (options.expiresIn !== undefined ? 'expiresIn' : 'notBefore') + ' option for ' + (typeof payload === 'string' ? 'string' : 'buffer') + ' payload');
    }
    if (isObject && options.expiresIn !== undefined && payload.exp !== undefined) {
      throw new Error('Bad "options.expiresIn" option the payload already has an "exp" property.');
    }
    if (isObject && options.notBefore !== undefined && payload.nbf !== undefined) {
      throw new Error('Bad "options.notBefore" option the payload already has an "nbf" property.');
    }
    var timestamp = (isObject && payload.iat) || Math.floor(Date.now() / 1000);
    if (options.noTimestamp) { if (isObject) delete payload.iat; } else if (isObject) payload.iat = timestamp;
    if (isObject && options.notBefore !== undefined) {
      payload.nbf = timespan(options.notBefore, timestamp);
      if (payload.nbf === undefined) throw new Error('"notBefore" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60');
    }
    if (isObject && options.expiresIn !== undefined) {
      payload.exp = timespan(options.expiresIn, timestamp);
      if (payload.exp === undefined) throw new Error('"expiresIn" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60');
    }
    Object.keys(optionsToPayload).forEach(function (k) {
      var claim = optionsToPayload[k];
      if (options[k] === undefined) return;
      if (isObject && payload[claim] !== undefined) throw new Error('Bad "options.' + k + '" option. The payload already has an "' + claim + '" property.');
      if (isObject) payload[claim] = options[k];
    });
    var body = isObject ? JSON.stringify(payload) : String(payload);
    var input = b64url(JSON.stringify(header)) + '.' + b64url(body);
    var key = secretBytes(secret);
    if (key === undefined) throw new Error('secretOrPrivateKey must be a string, a buffer or a secret KeyObject for ' + header.alg);
    return input + '.' + hmac(header.alg, input, key);
  });
}

function decode(token, options) {
  options = options || {};
  if (typeof token !== 'string') return null;
  var parts = token.split('.');
  if (parts.length !== 3) return null;
  var header, payload;
  try { header = JSON.parse(Buffer.from(parts[0], 'base64url').toString()); } catch (e) { return null; }
  var text = Buffer.from(parts[1], 'base64url').toString();
  try { payload = JSON.parse(text); } catch (e) { payload = text; }
  if (typeof payload === 'string' && options.json) return null;
  if (options.complete) return { header: header, payload: payload, signature: parts[2] };
  return payload;
}

function verify(token, secret, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  options = Object.assign({}, options);
  var done = function (err, v) {
    if (typeof callback === 'function') return setImmediate(function () { err ? callback(err) : callback(null, v); });
    if (err) throw err;
    return v;
  };
  var clock = options.clockTimestamp || Math.floor(Date.now() / 1000);
  if (!token) return done(JsonWebTokenError('jwt must be provided'));
  if (typeof token !== 'string') return done(JsonWebTokenError('jwt must be a string'));
  var parts = token.split('.');
  if (parts.length !== 3) return done(JsonWebTokenError('jwt malformed'));
  var d = decode(token, { complete: true });
  if (!d) return done(JsonWebTokenError('invalid token'));
  var header = d.header, payload = d.payload;
  if (!secret) return done(JsonWebTokenError('secret or public key must be provided'));
  if (!parts[2]) return done(JsonWebTokenError('jwt signature is required'));
  var algorithms = options.algorithms || ['HS256', 'HS384', 'HS512'];
  if (algorithms.indexOf(header.alg) === -1) return done(JsonWebTokenError('invalid algorithm'));
  var key = secretBytes(secret), expected;
  try {
    if (key === undefined) throw JsonWebTokenError('secret must be a string, a buffer or a secret KeyObject');
    expected = hmac(header.alg, parts[0] + '.' + parts[1], key);
  } catch (e) { return done(e); }
  if (expected.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(expected), Buffer.from(parts[2]))) return done(JsonWebTokenError('invalid signature'));
  var tol = options.clockTolerance || 0;
  if (payload.nbf !== undefined && !options.ignoreNotBefore) {
    if (typeof payload.nbf !== 'number') return done(JsonWebTokenError('invalid nbf value'));
    if (payload.nbf > clock + tol) return done(NotBeforeError('jwt not active', new Date(payload.nbf * 1000)));
  }
  if (payload.exp !== undefined && !options.ignoreExpiration) {
    if (typeof payload.exp !== 'number') return done(JsonWebTokenError('invalid exp value'));
    if (clock >= payload.exp + tol) return done(TokenExpiredError('jwt expired', new Date(payload.exp * 1000)));
  }
  if (options.audience) {
    var auds = Array.isArray(options.audience) ? options.audience : [options.audience];
    var target = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    var ok = target.some(function (a) { return auds.some(function (x) { return x instanceof RegExp ? x.test(a) : x === a; }); });
    if (!ok) return done(JsonWebTokenError('jwt audience invalid. expected: ' + auds.join(' or ')));
  }
  var checks = [['issuer', 'iss'], ['subject', 'sub'], ['jwtid', 'jti']];
  for (var i = 0; i < checks.length; i++) {
    var want = options[checks[i][0]];
    if (!want) continue;
    var list = Array.isArray(want) ? want : [want];
    if (list.indexOf(payload[checks[i][1]]) === -1) {
      return done(JsonWebTokenError('jwt ' + (checks[i][0] === 'jwtid' ? 'id' : checks[i][0]) + ' invalid. expected: ' + list.join(' or ')));
    }
  }
  if (options.maxAge) {
    if (typeof payload.iat !== 'number') return done(JsonWebTokenError('iat required when maxAge is specified'));
    var max = timespan(options.maxAge, payload.iat);
    if (max === undefined) return done(JsonWebTokenError('"maxAge" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60'));
    if (clock >= max + tol) return done(TokenExpiredError('maxAge exceeded', new Date(max * 1000)));
  }
  return done(null, options.complete ? { header: header, payload: payload, signature: parts[2] } : payload);
}

module.exports = {
  sign: sign, verify: verify, decode: decode,
  JsonWebTokenError: JsonWebTokenError, TokenExpiredError: TokenExpiredError, NotBeforeError: NotBeforeError,
};
