// prelude.js — the JavaScript half of the wasmtask JavaScript engine
// (engine.c is the C half). engine.c evaluates this file once, during
// _initialize, before the webtask's code; its value is a function that
// takes the native bindings (`wt`, never reachable from webtask code) and
// returns the entry points engine.c calls:
//
//   load(fn, bare) runs the webtask's CommonJS wrapper and keeps
//                  module.exports (bare: fn is the webtask's function itself)
//   run()          starts one request: builds context (and req/res), calls
//                  the webtask
//   step()         after the job queue is drained: runs a due timer and
//                  says what to do next (see there)
//   finish(why)    ends the request: answers 500 when the webtask never
//                  responded, drops the request's timers
//   report(e)      formats an exception for the log and stderr
//   rehearse()     answers two stand-in requests, before the webtask's
//                  code is loaded (see there)
//   uncaught(e)    handles an exception that escaped all of the above
//
// It also defines what a webtask finds in its global scope besides the
// language: console, timers, queueMicrotask, process.env/nextTick, global.
// `require` provides the built-in modules of lib/ (host/deploy/jsmodules.go
// keeps the list), each run at its first require.
(function prelude(wt, wrapLen) {
  'use strict';

  var MAP_QUERY = 0, MAP_HEADERS = 1, MAP_SECRETS = 2, MAP_PARAMS = 3, MAP_META = 4, MAP_DATA = 5;
  var FIELD_METHOD = 0, FIELD_PATH = 1, FIELD_QUERY = 2, FIELD_BODY = 3,
    FIELD_CONTAINER = 4, FIELD_NAME = 5, FIELD_REQUEST_ID = 6, FIELD_USER = 8;
  var MAP_SINGLE = 0, MAP_ARRAYS = 1, MAP_HEADERS_JOINED = 2;
  var LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3;

  var global = globalThis;
  var hasOwn = Object.prototype.hasOwnProperty;

  // ---- console and util.inspect ------------------------------------------

  // inspect is a subset of Node's util.inspect: the same output for the
  // common values (depth 2 by default, cycles as <ref *1> ... [Circular *1],
  // one line up to 80 characters, else one entry a line).
  function inspect(v, opts) {
    var depth = opts && opts.depth !== undefined ? (opts.depth === null ? Infinity : opts.depth) : 2;
    return fmtValue({ depth: depth, seen: [], refs: new Map(), indent: 0 }, v, 0, true);
  }

  function quote(s) {
    var q = s.indexOf("'") < 0 ? "'" : s.indexOf('"') < 0 ? '"' : s.indexOf('`') < 0 ? '`' : "'";
    return q + s.replace(/[\\\n\r\t\b\f\v\0]|[\x01-\x1f\x7f]/g, function (c) {
      var m = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v', '\0': '\\x00' }[c];
      return m || '\\x' + ('0' + c.charCodeAt(0).toString(16).toUpperCase()).slice(-2);
    }).split(q).join('\\' + q) + q;
  }

  function fmtValue(ctx, v, level, top) {
    switch (typeof v) {
      case 'string': return top === 'raw' ? v : quote(v);
      case 'number': return Object.is(v, -0) ? '-0' : String(v);
      case 'function':
        var fs = Function.prototype.toString.call(v);
        var base = /^class\b/.test(fs) ? '[class ' + (v.name || '(anonymous)') + ']' :
          '[' + (isAsync(v) ? 'AsyncFunction' : 'Function') + (v.name ? ': ' + v.name : ' (anonymous)') + ']';
        return Object.keys(v).length ? fmtObject(ctx, v, level, base) : base;
      case 'symbol': return v.toString();
      case 'bigint': return v + 'n';
      case 'undefined': return 'undefined';
      case 'object': break;
      default: return String(v);
    }
    if (v === null) return 'null';
    if (v instanceof Error) {
      var s = v.stack ? v.name + ': ' + v.message + '\n' + v.stack.replace(/\n$/, '') : String(v);
      return level > 0 ? '[' + s.split('\n')[0] + ']' : s;
    }
    if (v instanceof Date) return isNaN(v) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (typeof v.then === 'function' && v instanceof Promise) return 'Promise { <unknown> }';
    return fmtObject(ctx, v, level, '');
  }

  function fmtObject(ctx, v, level, base) {
    if (ctx.seen.indexOf(v) >= 0) {
      var n = ctx.refs.get(v);
      if (!n) { n = ctx.refs.size + 1; ctx.refs.set(v, n); }
      return '[Circular *' + n + ']';
    }
    var isArr = Array.isArray(v), proto = Object.getPrototypeOf(v);
    var ctor = proto === null ? null : proto.constructor && proto.constructor.name;
    var prefix = proto === null ? '[Object: null prototype] ' : '';
    if (v instanceof Map) prefix = (ctor || 'Map') + '(' + v.size + ') ';
    else if (v instanceof Set) prefix = (ctor || 'Set') + '(' + v.size + ') ';
    else if (isArr) prefix = ctor && ctor !== 'Array' ? ctor + '(' + v.length + ') ' : '';
    else if (ArrayBuffer.isView(v)) prefix = ctor + '(' + v.length + ') ';
    else if (base) prefix = base + ' ';
    else if (ctor && ctor !== 'Object') prefix = ctor + ' ';
    var open = isArr || ArrayBuffer.isView(v) ? '[' : '{', close = open === '[' ? ']' : '}';
    if (level > ctx.depth) return isArr ? '[Array]' : '[' + (ctor || 'Object') + ']';
    ctx.seen.push(v);
    ctx.indent += 2;
    var parts = [], i, keys = Object.keys(v);
    if (v instanceof Map) v.forEach(function (x, k) { parts.push(fmtValue(ctx, k, level + 1) + ' => ' + fmtValue(ctx, x, level + 1)); });
    else if (v instanceof Set) v.forEach(function (x) { parts.push(fmtValue(ctx, x, level + 1)); });
    if (isArr || ArrayBuffer.isView(v)) {
      for (i = 0; i < v.length && i < 100; i++) parts.push(i in v ? fmtValue(ctx, v[i], level + 1) : '<1 empty item>');
      if (v.length > 100) parts.push('... ' + (v.length - 100) + ' more items');
      keys = keys.filter(function (k) { return !(String(k >>> 0) === k && k >>> 0 < v.length); });
    }
    for (i = 0; i < keys.length; i++) {
      var k = keys[i];
      parts.push((/^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k)) + ': ' + fmtValue(ctx, v[k], level + 1));
    }
    ctx.indent -= 2;
    ctx.seen.pop();
    var ref = ctx.refs.get(v);
    if (ref) prefix = '<ref *' + ref + '> ' + prefix;
    if (!parts.length) return base && !keys.length ? base : prefix + open + close;
    var len = parts.length + ctx.indent + prefix.length + 11;
    for (i = 0; i < parts.length; i++) len += parts[i].length;
    if (len <= 80 && !/\n/.test(parts.join(''))) return prefix + open + ' ' + parts.join(', ') + ' ' + close;
    var ind = '\n' + ' '.repeat(ctx.indent);
    return prefix + open + ind + '  ' + parts.join(',' + ind + '  ') + ind + close;
  }

  // format is Node's util.format: %s %d %i %f %j %o %O %c %%, then the
  // rest of the arguments separated by spaces (strings as they are).
  function format() {
    var args = arguments, first = args[0], i = 0, out = '';
    if (typeof first === 'string') {
      i = 1;
      out = args.length < 2 ? first : first.replace(/%([sdifjoOc%])/g, function (m, c) {
        if (c === '%') return '%';
        if (i >= args.length) return m;
        var a = args[i++];
        switch (c) {
          case 's':
            if (typeof a === 'bigint') return a + 'n';
            if (typeof a === 'number') return Object.is(a, -0) ? '-0' : String(a);
            if (typeof a === 'object' && a !== null && !(a instanceof Error) &&
              (!hasOwn.call(a, 'toString') && Object.getPrototypeOf(a) !== null && a.toString === Object.prototype.toString ||
                Array.isArray(a) && a.toString === Array.prototype.toString)) return inspect(a, { depth: 0 });
            return a instanceof Error ? String(a.stack || a) : String(a);
          case 'd': return typeof a === 'bigint' ? a + 'n' : typeof a === 'symbol' ? 'NaN' : fmtValue(null, Number(a));
          case 'i': return typeof a === 'bigint' ? a + 'n' : typeof a === 'symbol' ? 'NaN' : fmtValue(null, parseInt(a));
          case 'f': return typeof a === 'symbol' ? 'NaN' : fmtValue(null, parseFloat(a));
          case 'j': try { return JSON.stringify(a); } catch (e) { return '[Circular]'; }
          case 'c': return '';
          case 'o': return inspect(a, { depth: 4 });
          default: return inspect(a);
        }
      });
    }
    for (; i < args.length; i++) out += (i > 0 ? ' ' : '') + (typeof args[i] === 'string' ? args[i] : inspect(args[i]));
    return out;
  }

  function logger(level) {
    return function () { wt.log(level, format.apply(null, arguments)); };
  }

  global.console = {
    log: logger(LOG_INFO), info: logger(LOG_INFO), debug: logger(LOG_DEBUG),
    warn: logger(LOG_WARN), error: logger(LOG_ERROR), trace: logger(LOG_DEBUG),
    dir: function (v, opts) { wt.log(LOG_INFO, inspect(v, opts)); },
  };

  // ---- timers and the request's event loop --------------------------------
  // A request runs until the webtask has answered: engine.c drains the job
  // queue (Promises), then calls step(), which runs the earliest due timer
  // or tells engine.c how long to sleep. Timers left when the request ends
  // are dropped: nothing of a request runs in another one.

  var timers = [], timerSeq = 0;

  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be a function');
    ms = Number(ms);
    if (!(ms >= 0 && ms <= 2147483647)) ms = 0;
    if (repeat && ms < 1) ms = 1; // an interval of 0 would never let the loop sleep
    var t = { id: ++timerSeq, fn: fn, ms: ms, args: args, repeat: repeat, when: Date.now() + ms };
    timers.push(t);
    return t.id;
  }

  function clearTimer(id) {
    if (id && typeof id === 'object') id = id.id;
    for (var i = 0; i < timers.length; i++) {
      if (timers[i].id === id) { timers.splice(i, 1); return; }
    }
  }

  var slice = Array.prototype.slice;
  global.setTimeout = function (fn, ms) { return addTimer(fn, ms, slice.call(arguments, 2), false); };
  global.setInterval = function (fn, ms) { return addTimer(fn, ms, slice.call(arguments, 2), true); };
  global.setImmediate = function (fn) { return addTimer(fn, 0, slice.call(arguments, 1), false); };
  global.clearTimeout = global.clearInterval = global.clearImmediate = clearTimer;
  if (typeof global.queueMicrotask !== 'function') {
    global.queueMicrotask = function (fn) {
      if (typeof fn !== 'function') throw new TypeError('The "callback" argument must be a function');
      Promise.resolve().then(function () { fn(); });
    };
  }
  global.global = global;
  global.process = {
    env: {},
    platform: 'wasi',
    // The Node.js whose built-in modules lib/ follows (wt-cli asks for it).
    version: 'v20.0.0',
    versions: { node: '20.0.0' },
    nextTick: function (fn) {
      var args = slice.call(arguments, 1);
      Promise.resolve().then(function () { fn.apply(null, args); });
    },
  };

  // ---- require: the built-in modules ---------------------------------------
  // Each module is compiled and run at its first require (a require at the
  // top level of a webtask runs during initialisation and lands in the
  // snapshot), then shared by every require of it; "node:NAME" is NAME.
  // The modules' code is guests/js/lib/NAME.js, kept in the engine's
  // library (a custom section, outside the instance's memory: abi/SPEC.md)
  // and read by wt.compile only when first required, so a webtask that
  // requires nothing neither holds nor compiles it. host/deploy/jsmodules.go
  // lists the same names. A module's code is the body of a function of
  // moduleDeps: what it uses of the prelude.

  var loaded = {};
  var moduleDeps = 'module, exports, require, wt, internal, hasOwn, slice, inspect, format, argError, isAsync, LOG_WARN';
  var internal = {};

  function require(name) {
    var id = typeof name === 'string' && name.slice(0, 5) === 'node:' ? name.slice(5) : name;
    if (typeof id === 'string' && hasOwn.call(loaded, id)) return loaded[id].exports;
    var f = typeof id === 'string' && /^[a-z][a-z0-9_-]*$/.test(id) ? wt.compile('lib/' + id + '.js', moduleDeps) : undefined;
    if (f === undefined) {
      var e = new Error("Cannot find module '" + name + "': not a built-in module of this server");
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    }
    // A cycle (a requires b requires a) sees the exports so far, as in Node.
    var module = loaded[id] = { exports: {}, id: id };
    try {
      f(module, module.exports, require, wt, internal, hasOwn, slice, inspect, format, argError, isAsync, LOG_WARN);
    } catch (e) {
      delete loaded[id];
      throw e;
    }
    return module.exports;
  }

  function argError(name, what, v) {
    var e = new TypeError('The "' + name + '" argument must be ' + what + '. Received ' + (v === null ? 'null' : typeof v === 'object' ? 'an instance of ' + ((v.constructor && v.constructor.name) || 'Object') : 'type ' + typeof v + ' (' + inspect(v) + ')'));
    e.code = 'ERR_INVALID_ARG_TYPE';
    return e;
  }

  // Globals that are Node's built-in modules' (URL, Buffer, …), each
  // loaded at first use.
  function lazyGlobal(name, get) {
    if (name in global) return;
    Object.defineProperty(global, name, {
      configurable: true, enumerable: false,
      get: function () { var v = get(); own(global, name, v); return v; },
      set: function (v) { own(global, name, v); },
    });
  }
  ['URL', 'URLSearchParams'].forEach(function (name) { lazyGlobal(name, function () { return require('url')[name]; }); });
  ['Buffer', 'atob', 'btoa'].forEach(function (name) { lazyGlobal(name, function () { return require('buffer')[name]; }); });
  ['TextEncoder', 'TextDecoder'].forEach(function (name) { lazyGlobal(name, function () { require('buffer'); return internal[name]; }); });
  lazyGlobal('fetch', function () { return require('request').fetch; });
  lazyGlobal('Headers', function () { return require('request').Headers; });
  lazyGlobal('crypto', function () { return require('crypto').webcrypto; });

  // ---- the webtask -------------------------------------------------------

  var handler = null;

  function load(fn, bare, map) {
    lineTableText = map || '';
    var module = { exports: {} };
    if (bare) module.exports = fn;
    else fn.call(module.exports, module.exports, require, module, '/webtask.js', '/');
    // An ES module's `export default function` (made CommonJS by esbuild at
    // upload) is the exported function.
    var m = module.exports;
    if (m && typeof m === 'object' && m.__esModule && typeof m['default'] === 'function') module.exports = m['default'];
    if (typeof module.exports !== 'function') {
      throw new TypeError('module.exports must be a function: (context, cb) or (context, req, res), not ' +
        (module.exports === null ? 'null' : typeof module.exports));
    }
    handler = module.exports;
  }

  // ---- the context -------------------------------------------------------
  // Fields are read from the host the first time the webtask touches them:
  // a webtask that reads nothing costs no copying. A context kept past its
  // request reads nothing more (undefined): it never shows a later
  // request's fields.

  var current = null; // the context of the request in progress

  function Context() {}

  function lazy(name, read) {
    Object.defineProperty(Context.prototype, name, {
      enumerable: true, configurable: true,
      get: function () {
        if (this !== current) return undefined;
        var v = read(this); own(this, name, v); return v;
      },
      set: function (v) { own(this, name, v); },
    });
  }

  function own(obj, name, v) {
    Object.defineProperty(obj, name, { value: v, writable: true, enumerable: true, configurable: true });
  }

  function field(f) { var v = wt.get(f); return v === undefined ? '' : v; }

  lazy('query', function () { return wt.map(MAP_QUERY, MAP_ARRAYS); });
  lazy('headers', function () { return wt.map(MAP_HEADERS, MAP_HEADERS_JOINED); });
  lazy('secrets', function () { return wt.map(MAP_SECRETS, MAP_SINGLE); });
  lazy('params', function () { return wt.map(MAP_PARAMS, MAP_SINGLE); });
  lazy('meta', function () { return wt.map(MAP_META, MAP_SINGLE); });
  lazy('data', function () { return wt.map(MAP_DATA, MAP_SINGLE); });
  lazy('body', parseBody);
  lazy('method', function () { return field(FIELD_METHOD); });
  lazy('path', function () { return field(FIELD_PATH); });
  lazy('container', function () { return field(FIELD_CONTAINER); });
  lazy('name', function () { return field(FIELD_NAME); });
  lazy('requestId', function () { return field(FIELD_REQUEST_ID); });
  lazy('storage', function (ctx) { return new Storage(ctx); });
  // context.user: the caller the host verified before the run (the claims
  // of the JWT the webtask's declared auth checked); undefined when none.
  lazy('user', function () { var s = wt.get(FIELD_USER); return s === undefined ? undefined : JSON.parse(s); });

  // context.storage is the named webtask's storage, as on the original
  // platform: get(cb) calls back (error, data); set(data[, {force}], cb)
  // writes if nothing changed since this request's last get (with force,
  // whatever is there), else calls back a 409 error (err.code). A set
  // without a get first succeeds only while nothing is stored. The calls
  // go to the host at once (abi/SPEC.md, "Storage"); callbacks run next.
  function Storage(ctx) {
    Object.defineProperty(this, '_ctx', { value: ctx });
    Object.defineProperty(this, '_etag', { value: '0', writable: true });
  }
  function storageError(msg, code) {
    var e = new Error(msg);
    e.code = e.statusCode = code;
    return e;
  }
  function storageFailure(r) {
    switch (r) {
      case undefined: case -1: return storageError('context.storage: this run has no storage (only a named webtask has one)', 404);
      case -2: return storageError('context.storage: the data changed since it was read; get it again, or set with {force: 1}', 409);
      case -3: return storageError('context.storage: the data is over the 500 KB limit', 413);
    }
    return storageError('context.storage: the storage call failed (see the log)', 500);
  }
  Object.defineProperty(Storage.prototype, 'get', { writable: true, configurable: true, value: function (options, cb) {
    if (typeof options === 'function') cb = options;
    var err = null, data;
    if (this._ctx !== current) err = storageError('context.storage: its request has ended', 500);
    else {
      var r = wt.storageGet();
      if (typeof r !== 'string') err = storageFailure(r);
      else {
        var doc = JSON.parse(r);
        this._etag = doc.etag;
        data = doc.data === null ? undefined : doc.data;
      }
    }
    if (typeof cb === 'function') setImmediate(function () { err ? cb(err) : cb(null, data); });
  } });
  Object.defineProperty(Storage.prototype, 'set', { writable: true, configurable: true, value: function (data, options, cb) {
    if (typeof options === 'function') { cb = options; options = undefined; }
    var err = null, text = JSON.stringify(data);
    if (this._ctx !== current) err = storageError('context.storage: its request has ended', 500);
    else if (text === undefined) err = storageError('context.storage: data must be a JSON value', 400);
    else {
      var r = wt.storageSet(text, this._etag, !!(options && options.force));
      if (typeof r === 'string') this._etag = r;
      else err = storageFailure(r);
    }
    if (typeof cb === 'function') setImmediate(function () { cb(err); });
  } });

  // toJSON makes JSON.stringify(context) and console.log(context) show
  // every field, read or not (storage is a service, not a field).
  Object.defineProperty(Context.prototype, 'toJSON', {
    value: function () {
      var o = {};
      for (var k in this) if (k !== 'toJSON' && k !== 'storage') o[k] = this[k];
      return o;
    },
  });

  function contentType() {
    var ct = wt.map(MAP_HEADERS, MAP_HEADERS_JOINED)['content-type'] || '';
    return ct.split(';')[0].trim().toLowerCase();
  }

  // parseBody: JSON when the content type says so (application/json or
  // */*+json), a form as an object, any other body as a string; undefined
  // without a body. A JSON body that does not parse stays a string.
  function parseBody() {
    var raw = wt.get(FIELD_BODY);
    if (!raw) return undefined;
    var ct = contentType();
    if (ct === 'application/json' || /\+json$/.test(ct)) {
      try { return JSON.parse(raw); } catch (e) { return raw; }
    }
    if (ct === 'application/x-www-form-urlencoded') return parseForm(raw);
    return raw;
  }

  function decode(s) {
    s = s.replace(/\+/g, ' ');
    try { return decodeURIComponent(s); } catch (e) { return s; }
  }

  function parseForm(s) {
    var o = {};
    s.split('&').forEach(function (pair) {
      if (!pair) return;
      var i = pair.indexOf('=');
      var k = decode(i < 0 ? pair : pair.slice(0, i)), v = i < 0 ? '' : decode(pair.slice(i + 1));
      if (!hasOwn.call(o, k)) o[k] = v;
      else if (Array.isArray(o[k])) o[k].push(v);
      else o[k] = [o[k], v];
    });
    return o;
  }

  // ---- one request -------------------------------------------------------

  var st = null; // the request's state: { done, raw, started }

  function describe(e) {
    if (e instanceof Error) return e.name + ': ' + e.message;
    if (typeof e === 'string') return e;
    try { return inspect(e); } catch (x) { return String(e); }
  }

  // The webtask's code is wrapped in a function whose head shares its
  // first line (wrapLen characters): positions on line 1 are given back as
  // the author wrote them.
  function fixColumns(stack) {
    return stack.replace(/webtask\.js:(\d+):(\d+)/g, function (m, l, c) {
      l = +l; c = +c;
      if (l === 1) c = Math.max(1, c - wrapLen);
      var p = sourcePosition(l, c);
      return 'webtask.js:' + p[0] + ':' + p[1];
    });
  }

  // An ES module runs as esbuild's CommonJS translation, whose lines are
  // not the author's: the host appends a table of the translation's
  // positions (host/deploy/jsmap.go: per line, genColumn, sourceLine,
  // sourceColumn triples, 0-based), which engine.c cuts off and load
  // receives. sourcePosition maps a 1-based line:column of the code that
  // runs to the source's, through the last segment at or before it.
  var lineTableText = '', lineTable = null;
  function sourcePosition(l, c) {
    if (!lineTableText) return [l, c];
    if (!lineTable) {
      try { lineTable = JSON.parse(lineTableText); } catch (e) { lineTableText = ''; return [l, c]; }
    }
    var segs = lineTable[l - 1];
    if (!segs || !segs.length) return [l, c];
    var best = 0;
    for (var i = 3; i < segs.length; i += 3) if (segs[i] <= c - 1) best = i;
    return [segs[best + 1] + 1, segs[best + 2] + 1 + Math.max(0, c - 1 - segs[best])];
  }

  // where is the innermost position in the webtask's code an exception
  // comes from, as " (webtask.js:line:column)", or "".
  function where(e) {
    var m = e instanceof Error && typeof e.stack === 'string' && /webtask\.js:\d+:\d+/.exec(fixColumns(e.stack));
    return m ? ' (' + m[0] + ')' : '';
  }

  // report is the log text of an exception: what and where on the first
  // line, then the JS stack.
  function report(e) {
    var s = describe(e) + where(e);
    if (e instanceof Error && e.stack) s += '\n' + fixColumns(e.stack).replace(/\n$/, '');
    return s;
  }

  // fail answers 500 with the exception's description, unless the webtask
  // already answered; the JS stack goes to the log either way.
  function fail(prefix, e) {
    wt.log(LOG_ERROR, prefix + report(e));
    if (st && !st.done) {
      st.done = true;
      wt.error(500, prefix + describe(e) + where(e));
    }
  }

  function errorMessage(err) {
    if (err instanceof Error || (err && typeof err.message === 'string')) return String(err.message);
    if (typeof err === 'string') return err;
    try { return JSON.stringify(err); } catch (e) { return String(err); }
  }

  // respond finishes the simple-model request of state mine: 200 with the
  // JSON of data, or the script error of err (status err.statusCode when
  // 400-599, else 400). A callback kept past its request answers nothing.
  function respond(mine, err, data) {
    if (st !== mine || st.done) return;
    st.done = true;
    if (err) {
      var status = err.statusCode;
      if (!(status >= 400 && status <= 599 && status === (status | 0))) status = 0;
      wt.error(status, errorMessage(err));
      return;
    }
    var json;
    try {
      json = JSON.stringify(data);
    } catch (e) {
      st.done = false;
      fail('The result cannot be sent as JSON: ', e);
      return;
    }
    if (json === undefined) wt.respond(200, ['content-type', 'application/json'], []);
    else wt.result(json);
  }

  function run() {
    var fn = handler;
    st = { done: false, raw: fn.length >= 3 };
    var mine = st, context = current = new Context();
    var ret;
    try {
      if (st.raw) {
        ret = fn(context, new Request(context), new Response(mine));
      } else if (fn.length === 2 || isAsync(fn)) {
        ret = fn(context, callback(mine));
      } else {
        ret = fn(callback(mine)); // the original platform's function (cb)
      }
    } catch (e) {
      fail('Uncaught ', e);
      return;
    }
    if (ret && typeof ret.then === 'function') {
      ret.then(function (v) {
        if (!mine.raw && v !== undefined) respond(mine, null, v);
      }, function (e) {
        if (st === mine) fail('Uncaught (in promise) ', e);
      });
    }
  }

  function isAsync(fn) {
    return fn[Symbol.toStringTag] === 'AsyncFunction';
  }

  function callback(mine) {
    var called = false;
    return function cb(err, data) {
      if (called) {
        wt.log(LOG_WARN, 'the callback was called more than once; later calls are ignored');
        return;
      }
      called = true;
      respond(mine, err, data);
    };
  }

  // step runs the earliest due timer. It returns -1 when the request is
  // over (the webtask answered), -2 when nothing is left to run (the
  // webtask never answered), 0 after running a timer, or the milliseconds
  // to sleep until the next one is due.
  function step() {
    if (st.done) return -1;
    if (timers.length === 0) return -2;
    var t = timers[0], i;
    for (i = 1; i < timers.length; i++) if (timers[i].when < t.when) t = timers[i];
    var wait = t.when - Date.now();
    if (wait > 0) return wait;
    if (t.repeat) t.when += t.ms;
    else timers.splice(timers.indexOf(t), 1);
    try {
      t.fn.apply(null, t.args);
    } catch (e) {
      fail('Uncaught ', e);
    }
    return 0;
  }

  // finish ends a request. rejection is the reason of a promise rejected
  // and never handled, when there was one.
  function finish(hasRejection, rejection) {
    timers.length = 0;
    current = null;
    if (st.done) {
      if (hasRejection) wt.log(LOG_WARN, 'Unhandled promise rejection: ' + report(rejection));
    } else if (hasRejection) {
      fail('Unhandled promise rejection: ', rejection);
    } else {
      var what = st.raw ? 'res.end() was never called' : 'the callback was never called';
      fail('', new Error('The webtask did not respond: ' + what +
        ' and nothing is left to run (no pending timer or promise)'));
    }
    st = null;
  }

  // ---- the raw model: (context, req, res) ---------------------------------

  function Request(context) {
    this.method = field(FIELD_METHOD);
    var q = field(FIELD_QUERY);
    this.url = field(FIELD_PATH) + (q ? '?' + q : '');
    this._context = context;
    this._listeners = null;
  }
  Object.defineProperty(Request.prototype, 'headers', {
    enumerable: true, configurable: true,
    get: function () {
      if (this._context !== current) return undefined;
      var h = wt.map(MAP_HEADERS, MAP_HEADERS_JOINED); own(this, 'headers', h); return h;
    },
    set: function (v) { own(this, 'headers', v); },
  });
  // A minimal readable stream: the body arrives as one 'data' event (a
  // Buffer, as in Node) and 'end', after the handler returned.
  Request.prototype.on = Request.prototype.addListener = Request.prototype.once = function (ev, fn) {
    if (!this._listeners) {
      this._listeners = {};
      var self = this;
      setImmediate(function () {
        var body = wt.get(FIELD_BODY, true);
        if (body && body.byteLength) emit(self, 'data', require('buffer').Buffer.from(body));
        emit(self, 'end');
      });
    }
    (this._listeners[ev] = this._listeners[ev] || []).push(fn);
    return this;
  };
  Request.prototype.setEncoding = function () { return this; };
  Request.prototype.resume = Request.prototype.pause = function () { return this; };

  function emit(obj, ev, arg) {
    var ls = obj._listeners[ev] || [];
    for (var i = 0; i < ls.length; i++) ls[i].call(obj, arg);
  }

  var tokenRE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, badValueRE = /[\r\n\0]/;
  // Headers the host owns (abi/SPEC.md); the host computes content-length
  // itself, so setting these is not an error here: they are dropped.
  var hostHeaders = { 'content-length': 1, 'transfer-encoding': 1, 'connection': 1, 'server': 1, 'date': 1, 'trailer': 1 };

  function Response(state) {
    this._state = state;
    this.statusCode = 200;
    this.statusMessage = '';
    this.headersSent = false;
    this.finished = this.writableEnded = false;
    this._headers = {};  // lower-cased name -> [name, value]
    this._chunks = [];
  }
  Response.prototype.setHeader = function (name, value) {
    name = String(name);
    if (!tokenRE.test(name)) throw new TypeError('Header name must be a valid HTTP token ["' + name + '"]');
    if (value === undefined) throw new TypeError('Invalid value "undefined" for header "' + name + '"');
    var vs = Array.isArray(value) ? value : [value];
    for (var i = 0; i < vs.length; i++) {
      if (badValueRE.test(String(vs[i]))) throw new TypeError('Invalid character in header content ["' + name + '"]');
    }
    this._headers[name.toLowerCase()] = [name, value];
    return this;
  };
  Response.prototype.getHeader = function (name) {
    var h = this._headers[String(name).toLowerCase()];
    return h ? h[1] : undefined;
  };
  Response.prototype.getHeaders = function () {
    var o = {};
    for (var k in this._headers) o[k] = this._headers[k][1];
    return o;
  };
  Response.prototype.getHeaderNames = function () { return Object.keys(this._headers); };
  Response.prototype.hasHeader = function (name) { return hasOwn.call(this._headers, String(name).toLowerCase()); };
  Response.prototype.removeHeader = function (name) { delete this._headers[String(name).toLowerCase()]; };
  Response.prototype.writeHead = function (status, reason, headers) {
    if (typeof reason !== 'string') headers = reason;
    checkStatus(status);
    this.statusCode = status;
    if (Array.isArray(headers)) {
      for (var i = 0; i + 1 < headers.length; i += 2) this.setHeader(headers[i], headers[i + 1]);
    } else if (headers) {
      for (var k in headers) if (hasOwn.call(headers, k)) this.setHeader(k, headers[k]);
    }
    this.headersSent = true;
    return this;
  };
  Response.prototype.write = function (chunk, encoding, cb) {
    if (this.finished) throw new Error('write after end');
    if (typeof encoding === 'function') cb = encoding;
    if (chunk !== undefined && chunk !== null && chunk !== '') {
      if (ArrayBuffer.isView(chunk) && !(chunk instanceof Uint8Array)) {
        chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      } else if (typeof chunk !== 'string' && !(chunk instanceof ArrayBuffer) && !ArrayBuffer.isView(chunk)) {
        throw new TypeError('The "chunk" argument must be a string, an ArrayBuffer or a typed array');
      }
      this._chunks.push(chunk);
    }
    this.headersSent = true;
    if (typeof cb === 'function') setImmediate(cb);
    return true;
  };
  Response.prototype.end = function (chunk, encoding, cb) {
    if (typeof chunk === 'function') { cb = chunk; chunk = undefined; }
    if (typeof encoding === 'function') cb = encoding;
    if (this.finished) return this;
    if (chunk !== undefined && chunk !== null) this.write(chunk);
    checkStatus(this.statusCode);
    this.finished = this.writableEnded = this.headersSent = true;
    var hs = [];
    for (var k in this._headers) {
      if (hostHeaders[k] || k.slice(0, 5) === 'x-wt-') continue;
      var v = this._headers[k][1];
      if (Array.isArray(v)) for (var i = 0; i < v.length; i++) hs.push(k, String(v[i]));
      else hs.push(k, String(v));
    }
    if (st === this._state && !st.done) {
      st.done = true;
      wt.respond(this.statusCode, hs, this._chunks);
    }
    this._chunks = [];
    if (typeof cb === 'function') setImmediate(cb);
    return this;
  };

  function checkStatus(status) {
    if (!(status >= 200 && status <= 599 && status === (status | 0))) {
      throw new RangeError('Invalid status code: ' + status + ' (wasmtask answers 200-599)');
    }
  }

  function uncaught(e) {
    fail('Uncaught ', e);
  }

  // rehearse answers one stand-in request in each model, outside any
  // request (engine.c's natives then answer nothing and read no field),
  // before the webtask's code is loaded: so neither the webtask's code nor
  // a built-in it may have replaced runs. It is for the fresh policy: the
  // first request an instance answers costs the engine ~3 µs more than
  // later ones (QuickJS builds state on its first JSON.stringify), and
  // every fresh request is a first one, restored to the snapshot taken at
  // the end of _initialize. Rehearsed, that state is in the snapshot.
  function rehearse() {
    var stands = [
      function (context, cb) { cb(null, { message: 'rehearsal' }); },
      function (context, req, res) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ message: 'rehearsal' }));
      },
    ];
    try {
      for (var i = 0; i < stands.length; i++) {
        handler = stands[i];
        run();
        finish(false, undefined);
      }
    } finally {
      handler = null;
    }
  }

  return { load: load, run: run, step: step, finish: finish, report: report, uncaught: uncaught, rehearse: rehearse };
})
