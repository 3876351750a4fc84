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
//   uncaught(e)    handles an exception that escaped all of the above
//
// It also defines what a webtask finds in its global scope besides the
// language: console, timers, queueMicrotask, process.env/nextTick, global.
// `require` provides the built-in modules below (events, util,
// querystring, url; host/deploy/jsmodules.go keeps the list), each run at
// its first require.
(function prelude(wt, wrapLen) {
  'use strict';

  var MAP_QUERY = 0, MAP_HEADERS = 1, MAP_SECRETS = 2, MAP_PARAMS = 3, MAP_META = 4, MAP_DATA = 5;
  var FIELD_METHOD = 0, FIELD_PATH = 1, FIELD_QUERY = 2, FIELD_BODY = 3,
    FIELD_CONTAINER = 4, FIELD_NAME = 5, FIELD_REQUEST_ID = 6;
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
    nextTick: function (fn) {
      var args = slice.call(arguments, 1);
      Promise.resolve().then(function () { fn.apply(null, args); });
    },
  };

  // ---- require: the built-in modules ---------------------------------------
  // Each module is compiled and run at its first require (a require at the
  // top level of a webtask runs during initialisation and lands in the
  // snapshot), then shared by every require of it; "node:NAME" is NAME.
  // host/deploy/jsmodules.go lists the same names.

  var loaded = {}, Fn = Function, fnToString = Function.prototype.toString;

  function require(name) {
    var id = typeof name === 'string' && name.slice(0, 5) === 'node:' ? name.slice(5) : name;
    if (typeof id === 'string' && hasOwn.call(moduleSource, id)) {
      if (!hasOwn.call(loaded, id)) {
        var f = Fn.apply(null, moduleDeps.concat("'use strict';\n" + moduleText(id) + '\nreturn ' + moduleSource[id] + '();'));
        loaded[id] = f(wt, require, hasOwn, slice, inspect, format, argError, isAsync, LOG_WARN);
      }
      return loaded[id];
    }
    var e = new Error("Cannot find module '" + name + "': not a built-in module of this server");
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }

  function argError(name, what, v) {
    var e = new TypeError('The "' + name + '" argument must be ' + what + '. Received ' + (v === null ? 'null' : typeof v === 'object' ? 'an instance of ' + ((v.constructor && v.constructor.name) || 'Object') : 'type ' + typeof v + ' (' + inspect(v) + ')'));
    e.code = 'ERR_INVALID_ARG_TYPE';
    return e;
  }

  // The modules' code is text in the comments below, compiled at the first
  // require (new Function): an engine that runs a webtask requiring nothing
  // neither compiles nor holds it, and parsing the prelude skips it. The
  // text is read from the prelude's own source (Function.prototype.toString);
  // each declares the function named here, called with moduleDeps (what it
  // uses of the prelude). No "*" then "/" inside them: it would end the comment.
  var moduleDeps = ['wt', 'require', 'hasOwn', 'slice', 'inspect', 'format', 'argError', 'isAsync', 'LOG_WARN'];
  var moduleSource = { events: 'modEvents', util: 'modUtil', querystring: 'modQuerystring', url: 'modURL' };

  function moduleText(id) {
    var src = fnToString.call(prelude), start = '/*module ' + id + '\n';
    var i = src.indexOf(start), j = src.indexOf(' module*/', i);
    return src.slice(i + start.length, j);
  }

/*module events
  function modEvents() {
    function EventEmitter() { EventEmitter.init.call(this); }
    EventEmitter.EventEmitter = EventEmitter;
    EventEmitter.defaultMaxListeners = 10;
    EventEmitter.errorMonitor = Symbol('events.errorMonitor');
    EventEmitter.init = function () {
      if (!this._events || this._events === Object.getPrototypeOf(this)._events) { this._events = Object.create(null); this._eventsCount = 0; }
      this._maxListeners = this._maxListeners || undefined;
    };
    var P = EventEmitter.prototype;
    P._events = undefined; P._eventsCount = 0; P._maxListeners = undefined;
    function check(fn) { if (typeof fn !== 'function') throw argError('listener', 'of type function', fn); }
    function events(self) { if (!self._events) { self._events = Object.create(null); self._eventsCount = 0; } return self._events; }
    function add(self, type, fn, prepend) {
      check(fn);
      var ev = events(self);
      if (ev.newListener) self.emit('newListener', type, fn.listener ? fn.listener : fn);
      var ls = ev[type];
      if (!ls) { ev[type] = [fn]; self._eventsCount++; } else if (prepend) ls.unshift(fn); else ls.push(fn);
      return self;
    }
    function onceWrap(self, type, fn) {
      var state = { fired: false, self: self, type: type, fn: fn };
      var w = function () {
        if (state.fired) return;
        state.fired = true;
        self.removeListener(type, w);
        return fn.apply(self, arguments);
      };
      w.listener = fn;
      return w;
    }
    P.setMaxListeners = function (n) { this._maxListeners = n; return this; };
    P.getMaxListeners = function () { return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners; };
    P.emit = function (type) {
      var ev = this._events, args = slice.call(arguments, 1);
      if (type === 'error' && ev && ev[EventEmitter.errorMonitor]) this.emit.apply(this, [EventEmitter.errorMonitor].concat(args));
      var ls = ev && ev[type];
      if (!ls) {
        if (type !== 'error') return false;
        var er = args[0];
        if (er instanceof Error) throw er;
        var e = new Error('Unhandled error. (' + inspect(er) + ')');
        e.code = 'ERR_UNHANDLED_ERROR'; e.context = er;
        throw e;
      }
      ls = ls.slice();
      for (var i = 0; i < ls.length; i++) ls[i].apply(this, args);
      return true;
    };
    P.on = P.addListener = function (type, fn) { return add(this, type, fn, false); };
    P.prependListener = function (type, fn) { return add(this, type, fn, true); };
    P.once = function (type, fn) { check(fn); return add(this, type, onceWrap(this, type, fn), false); };
    P.prependOnceListener = function (type, fn) { check(fn); return add(this, type, onceWrap(this, type, fn), true); };
    P.off = P.removeListener = function (type, fn) {
      check(fn);
      var ev = this._events, ls = ev && ev[type];
      if (!ls) return this;
      for (var i = ls.length - 1; i >= 0; i--) {
        if (ls[i] === fn || ls[i].listener === fn) {
          var removed = ls[i];
          ls.splice(i, 1);
          if (!ls.length) { delete ev[type]; this._eventsCount--; }
          if (ev.removeListener) this.emit('removeListener', type, removed.listener || removed);
          break;
        }
      }
      return this;
    };
    P.removeAllListeners = function (type) {
      var ev = this._events;
      if (!ev) return this;
      if (arguments.length === 0) { this._events = Object.create(null); this._eventsCount = 0; }
      else if (ev[type]) { delete ev[type]; this._eventsCount--; }
      return this;
    };
    P.listeners = function (type) {
      var ls = this._events && this._events[type];
      return ls ? ls.map(function (f) { return f.listener || f; }) : [];
    };
    P.rawListeners = function (type) {
      var ls = this._events && this._events[type];
      return ls ? ls.slice() : [];
    };
    P.listenerCount = function (type) {
      var ls = this._events && this._events[type];
      return ls ? ls.length : 0;
    };
    P.eventNames = function () { return this._events ? Reflect.ownKeys(this._events) : []; };
    EventEmitter.listenerCount = function (em, type) { return em.listenerCount(type); };
    EventEmitter.once = function (em, type) {
      return new Promise(function (resolve, reject) {
        function onError(err) { em.removeListener(type, onValue); reject(err); }
        function onValue() { if (type !== 'error') em.removeListener('error', onError); resolve(slice.call(arguments)); }
        em.once(type, onValue);
        if (type !== 'error') em.once('error', onError);
      });
    };
    return EventEmitter;
  } module*/
/*module util
  function modUtil() {
    var custom = Symbol.for('nodejs.util.promisify.custom');
    function promisify(fn) {
      if (typeof fn !== 'function') throw argError('original', 'of type function', fn);
      if (fn[custom]) return fn[custom];
      function p() {
        var self = this, args = slice.call(arguments);
        return new Promise(function (resolve, reject) {
          args.push(function (err, v) { if (err) reject(err); else resolve(v); });
          fn.apply(self, args);
        });
      }
      Object.setPrototypeOf(p, Object.getPrototypeOf(fn));
      Object.defineProperty(p, custom, { value: p });
      return Object.defineProperties(p, Object.getOwnPropertyDescriptors(fn));
    }
    promisify.custom = custom;
    function inherits(ctor, superCtor) {
      if (typeof ctor !== 'function') throw argError('ctor', 'of type function', ctor);
      if (typeof superCtor !== 'function') throw argError('superCtor', 'of type function', superCtor);
      if (superCtor.prototype === undefined) throw argError('superCtor.prototype', 'of type object', undefined);
      Object.defineProperty(ctor, 'super_', { value: superCtor, writable: true, configurable: true });
      Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
    }
    function deepEqual(a, b, seen) {
      if (Object.is(a, b)) return true;
      if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
      if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
      var ts = Object.prototype.toString;
      if (ts.call(a) !== ts.call(b)) return false;
      if (a instanceof Date) return Object.is(a.getTime(), b.getTime());
      if (a instanceof RegExp) return String(a) === String(b) && a.lastIndex === b.lastIndex;
      if (a instanceof Error && (a.message !== b.message || a.name !== b.name)) return false;
      if (typeof a.valueOf === 'function' && (a instanceof Number || a instanceof String || a instanceof Boolean) && !Object.is(a.valueOf(), b.valueOf())) return false;
      for (var i = 0; i < seen.length; i++) if (seen[i][0] === a && seen[i][1] === b) return true;
      seen.push([a, b]);
      try {
        if (a instanceof Map || a instanceof Set) {
          if (a.size !== b.size) return false;
          var ok = true;
          a.forEach(function (v, k) {
            if (!ok) return;
            if (a instanceof Set) {
              if (b.has(v)) return;
              ok = typeof v === 'object' && v !== null && Array.from(b).some(function (w) { return deepEqual(v, w, seen); });
            } else {
              ok = b.has(k) && deepEqual(v, b.get(k), seen);
            }
          });
          if (!ok) return false;
        }
        if (Array.isArray(a) && a.length !== b.length) return false;
        var ka = Object.keys(a), kb = Object.keys(b);
        if (ka.length !== kb.length) return false;
        for (i = 0; i < ka.length; i++) {
          if (!hasOwn.call(b, ka[i]) || !deepEqual(a[ka[i]], b[ka[i]], seen)) return false;
        }
        var sa = Object.getOwnPropertySymbols(a).filter(function (s) { return Object.prototype.propertyIsEnumerable.call(a, s); });
        var sb = Object.getOwnPropertySymbols(b).filter(function (s) { return Object.prototype.propertyIsEnumerable.call(b, s); });
        if (sa.length !== sb.length) return false;
        for (i = 0; i < sa.length; i++) if (!deepEqual(a[sa[i]], b[sa[i]], seen)) return false;
        return true;
      } finally {
        seen.pop();
      }
    }
    function tag(t) { return function (v) { return Object.prototype.toString.call(v) === '[object ' + t + ']'; }; }
    return {
      format: format,
      inspect: inspect,
      promisify: promisify,
      inherits: inherits,
      isDeepStrictEqual: function (a, b) { return deepEqual(a, b, []); },
      deprecate: function (fn, msg) {
        var warned = false;
        return function () {
          if (!warned) { warned = true; wt.log(LOG_WARN, 'DeprecationWarning: ' + msg); }
          return fn.apply(this, arguments);
        };
      },
      isArray: Array.isArray,
      types: {
        isPromise: function (v) { return v instanceof Promise; },
        isDate: tag('Date'), isRegExp: tag('RegExp'), isMap: tag('Map'), isSet: tag('Set'),
        isAsyncFunction: function (v) { return typeof v === 'function' && isAsync(v); },
        isNativeError: function (v) { return v instanceof Error; },
        isTypedArray: function (v) { return ArrayBuffer.isView(v) && !(v instanceof DataView); },
      },
    };
  } module*/
/*module querystring
  // qsUnescape is Node's querystring.unescape: decodeURIComponent, and
  // where that fails, each valid %XX as a byte (invalid ones as written).
  function qsUnescape(s) {
    try { return decodeURIComponent(s); } catch (e) { s = String(s); } // then below
    var bytes = [], out = '';
    function flush() {
      if (!bytes.length) return;
      var u8 = new Uint8Array(bytes);
      out += utf8(u8);
      bytes = [];
    }
    for (var i = 0; i < s.length; i++) {
      if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.substr(i + 1, 2))) { bytes.push(parseInt(s.substr(i + 1, 2), 16)); i += 2; continue; }
      flush(); out += s[i];
    }
    flush();
    return out;
  }

  // utf8 decodes bytes leniently: an invalid sequence is U+FFFD.
  function utf8(u8) {
    var s = '', i = 0;
    function pct(a, b) { var r = ''; for (var j = a; j < b; j++) r += '%' + (u8[j] < 16 ? '0' : '') + u8[j].toString(16); return r; }
    while (i < u8.length) {
      for (var n = 4; n > 0; n--) {
        if (i + n > u8.length) continue;
        try { s += decodeURIComponent(pct(i, i + n)); break; } catch (e) { continue; } // shorter
      }
      if (n === 0) { s += '\ufffd'; n = 1; }
      i += n;
    }
    return s;
  }

  function qsPrimitive(v) {
    switch (typeof v) {
      case 'string': return v;
      case 'number': return isFinite(v) ? '' + v : '';
      case 'bigint': return '' + v;
      case 'boolean': return v ? 'true' : 'false';
      default: return '';
    }
  }

  function modQuerystring() {
    function parse(str, sep, eq, opts) {
      var obj = Object.create(null);
      if (typeof str !== 'string' || str.length === 0) return obj;
      sep = sep || '&'; eq = eq || '=';
      var max = opts && typeof opts.maxKeys === 'number' ? opts.maxKeys : 1000;
      var dec = opts && typeof opts.decodeURIComponent === 'function' ? opts.decodeURIComponent : qs.unescape;
      var parts = str.split(sep);
      if (max > 0 && parts.length > max) parts = parts.slice(0, max);
      for (var i = 0; i < parts.length; i++) {
        var p = parts[i];
        if (!p) continue;
        var j = p.indexOf(eq), k = j < 0 ? p : p.slice(0, j), v = j < 0 ? '' : p.slice(j + eq.length);
        k = dec(k.replace(/\+/g, ' ')); v = dec(v.replace(/\+/g, ' '));
        if (!(k in obj)) obj[k] = v;
        else if (Array.isArray(obj[k])) obj[k].push(v);
        else obj[k] = [obj[k], v];
      }
      return obj;
    }
    function stringify(obj, sep, eq, opts) {
      sep = sep || '&'; eq = eq || '=';
      var enc = opts && typeof opts.encodeURIComponent === 'function' ? opts.encodeURIComponent : qs.escape;
      if (obj === null || typeof obj !== 'object') return '';
      var keys = Object.keys(obj), out = '';
      for (var i = 0; i < keys.length; i++) {
        var v = obj[keys[i]], ks = enc(qsPrimitive(keys[i])) + eq;
        if (Array.isArray(v)) {
          if (!v.length) continue;
          if (out) out += sep;
          for (var j = 0; j < v.length; j++) out += (j ? sep : '') + ks + enc(qsPrimitive(v[j]));
        } else {
          if (out) out += sep;
          out += ks + enc(qsPrimitive(v));
        }
      }
      return out;
    }
    var qs = {
      parse: parse, decode: parse, stringify: stringify, encode: stringify,
      escape: function (s) { return encodeURIComponent(typeof s === 'string' ? s : typeof s === 'object' ? String(s) : s + ''); },
      unescape: qsUnescape,
    };
    return qs;
  } module*/
/*module url
  // modURL is Node's url: the WHATWG URL and URLSearchParams (a subset of
  // the parser: no IDNA or IPv4 number forms), url.parse/format/resolve.
  function modURL() {
    var qs = require('querystring'), qsUnescape = qs.unescape;
    var special = { 'ftp:': '21', 'file:': '', 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };
    function enc(s, re) {
      return s.replace(re, function (c) { try { return encodeURIComponent(c); } catch (e) { return '%EF%BF%BD'; } });
    }
    var PATH = /[\x00-\x20"#<>?\x60{}\x7f]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;
    var QUERY = /[\x00-\x20"#<>\x7f]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;
    var SQUERY = /[\x00-\x20"#<>'\x7f]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;
    var FRAG = /[\x00-\x20"<>\x60\x7f]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;
    var USER = /[\x00-\x20"#<>?\x60{}\x7f/:;=@[\\\]^|]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;
    var OPAQUE = /[\x00-\x1f\x7f]|[\ud800-\udbff][\udc00-\udfff]|[^\x00-\x7f]/g;

    function invalid(input) {
      var e = new TypeError('Invalid URL');
      e.code = 'ERR_INVALID_URL'; e.input = input;
      return e;
    }

    function normPath(segs, isSpecial) {
      var out = [];
      for (var i = 0; i < segs.length; i++) {
        var s = segs[i], low = s.toLowerCase(), last = i === segs.length - 1;
        if (low === '..' || low === '.%2e' || low === '%2e.' || low === '%2e%2e') {
          if (out.length) out.pop();
          if (last) out.push('');
        } else if (low === '.' || low === '%2e') {
          if (last) out.push('');
        } else {
          out.push(enc(s, PATH));
        }
      }
      return '/' + out.join('/');
    }

    function parseHost(h, isSpecial, input) {
      if (h[0] === '[') {
        if (!/^\[[0-9a-fA-F:.]+\]$/.test(h)) throw invalid(input);
        return h.toLowerCase();
      }
      if (!isSpecial) {
        if (/[\x00\t\n\r #/:<>?@[\\\]^|]/.test(h)) throw invalid(input);
        return enc(h, OPAQUE);
      }
      h = qsUnescape(h).toLowerCase();
      if (/[\x00-\x20#%/:<>?@[\\\]^|\x7f]/.test(h)) throw invalid(input);
      return h;
    }

    // parse returns the URL record of input against base (a record), or throws.
    function parse(input, base) {
      var s = String(input).replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, '').replace(/[\t\n\r]/g, '');
      var u = { protocol: '', username: '', password: '', hostname: null, port: '', pathname: '', search: '', hash: '', opaque: false };
      var m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(s), rest, isSpecial;
      var i = s.indexOf('#');
      if (i >= 0) { u.hash = s.slice(i + 1); s = s.slice(0, i); }
      if (m) {
        u.protocol = m[1].toLowerCase() + ':';
        isSpecial = hasOwn.call(special, u.protocol);
        rest = s.slice(m[0].length);
        if (isSpecial && base && base.protocol === u.protocol && !/^[/\\]/.test(rest)) {
          m = null; s = rest;
        }
      } else if (!base) {
        throw invalid(input);
      }
      if (!m) { // relative to base
        if (base.opaque && s !== '') throw invalid(input);
        u.protocol = base.protocol;
        isSpecial = hasOwn.call(special, u.protocol);
        rest = s;
        var slash = isSpecial ? /^[/\\]{2}/ : /^\/\//;
        if (!slash.test(rest)) {
          u.username = base.username; u.password = base.password; u.hostname = base.hostname; u.port = base.port;
          u.opaque = base.opaque;
          i = rest.indexOf('?');
          var path = i >= 0 ? rest.slice(0, i) : rest;
          if (i >= 0) u.search = rest.slice(i + 1);
          if (path === '') {
            u.pathname = base.pathname;
            u.search = i >= 0 ? enc(u.search, isSpecial ? SQUERY : QUERY) : base.search;
            return finish(u);
          }
          var segs = path.split(isSpecial ? /[/\\]/ : '/');
          if (!/^[/\\]/.test(path) || (!isSpecial && path[0] !== '/')) {
            segs = base.pathname.split('/').slice(1, -1).concat(segs);
          } else {
            segs.shift();
          }
          u.pathname = normPath(segs, isSpecial);
          if (u.search) u.search = enc(u.search, isSpecial ? SQUERY : QUERY);
          return finish(u);
        }
      }
      i = rest.indexOf('?');
      if (i >= 0) { u.search = enc(rest.slice(i + 1), isSpecial ? SQUERY : QUERY); rest = rest.slice(0, i); }
      if (isSpecial || /^\/\//.test(rest)) {
        if (u.protocol !== 'file:') rest = isSpecial ? rest.replace(/^[/\\]+/, '') : rest.slice(2);
        else if (/^[/\\]{2}/.test(rest)) rest = rest.slice(2);
        else rest = '/' + rest.replace(/^[/\\]+/, '');
        var end = rest.search(isSpecial ? /[/\\]/ : /\//);
        var auth = end < 0 ? rest : rest.slice(0, end);
        rest = end < 0 ? '' : rest.slice(end);
        var at = auth.lastIndexOf('@');
        if (at >= 0) {
          var cred = auth.slice(0, at), c = cred.indexOf(':');
          u.username = enc(c < 0 ? cred : cred.slice(0, c), USER);
          u.password = c < 0 ? '' : enc(cred.slice(c + 1), USER);
          auth = auth.slice(at + 1);
        }
        var pm = /:([^:\]]*)$/.exec(auth);
        if (pm) {
          if (!/^\d*$/.test(pm[1]) || +pm[1] > 65535) throw invalid(input);
          u.port = pm[1] === '' ? '' : String(+pm[1]);
          if (special[u.protocol] === u.port) u.port = '';
          auth = auth.slice(0, pm.index);
        }
        u.hostname = parseHost(auth, isSpecial, input);
        if (isSpecial && u.protocol !== 'file:' && u.hostname === '') throw invalid(input);
        if (u.protocol === 'file:' && u.hostname === 'localhost') u.hostname = '';
        u.pathname = rest === '' && !isSpecial ? '' : normPath(rest.split(isSpecial ? /[/\\]/ : '/').slice(1), isSpecial);
        if (rest === '' && isSpecial) u.pathname = '/';
      } else if (rest[0] === '/') {
        u.pathname = normPath(rest.split('/').slice(1), false);
      } else {
        u.opaque = true;
        u.pathname = enc(rest, OPAQUE);
      }
      return finish(u);
    }

    function finish(u) {
      u.search = u.search ? '?' + u.search.replace(/^\?/, '') : '';
      if (u.search === '?') u.search = '';
      u.hash = u.hash ? '#' + enc(u.hash, FRAG) : '';
      return u;
    }

    function serialize(u, noHash) {
      var s = u.protocol;
      if (u.hostname !== null) {
        s += '//';
        if (u.username || u.password) s += u.username + (u.password ? ':' + u.password : '') + '@';
        s += u.hostname + (u.port ? ':' + u.port : '');
      } else if (!u.opaque && u.pathname.slice(0, 2) === '//') {
        s += '/.';
      }
      return s + u.pathname + u.search + (noHash ? '' : u.hash);
    }

    var priv = new WeakMap();
    function rec(self) {
      var r = priv.get(self);
      if (!r) throw new TypeError('Receiver must be an instance of class URL');
      return r;
    }

    function URL(input, base) {
      if (!(this instanceof URL)) throw new TypeError("Class constructor URL cannot be invoked without 'new'");
      if (arguments.length < 1) throw argError('url', 'of type string', undefined);
      var b = base === undefined ? null : parse(String(base), null);
      var r = parse(String(input), b);
      priv.set(this, r);
      r.params = new URLSearchParams(r.search);
      r.params._url = this;
    }
    URL.canParse = function (input, base) {
      try { parse(String(input), base === undefined ? null : parse(String(base), null)); return true; } catch (e) { return false; }
    };
    function reparse(self, href) {
      var r = parse(href, null), old = rec(self);
      r.params = old.params;
      priv.set(self, r);
      r.params._list = parsePairs(r.search);
    }
    function prop(name, get, set) {
      Object.defineProperty(URL.prototype, name, { enumerable: true, configurable: true, get: get, set: set });
    }
    prop('href', function () { return serialize(rec(this)); }, function (v) { reparse(this, String(v)); });
    prop('origin', function () {
      var r = rec(this);
      return hasOwn.call(special, r.protocol) && r.protocol !== 'file:' ? r.protocol + '//' + r.hostname + (r.port ? ':' + r.port : '') : 'null';
    });
    prop('protocol', function () { return rec(this).protocol; }, function (v) {
      var r = rec(this), p = String(v).replace(/:.*$/, '').toLowerCase() + ':';
      if (!/^[a-z][a-z0-9+.-]*:$/.test(p) || hasOwn.call(special, p) !== hasOwn.call(special, r.protocol)) return;
      r.protocol = p;
      if (special[p] === r.port) r.port = '';
    });
    prop('username', function () { return rec(this).username; }, function (v) { var r = rec(this); if (r.hostname) r.username = enc(String(v), USER); });
    prop('password', function () { return rec(this).password; }, function (v) { var r = rec(this); if (r.hostname) r.password = enc(String(v), USER); });
    prop('host', function () { var r = rec(this); return r.hostname === null ? '' : r.hostname + (r.port ? ':' + r.port : ''); }, function (v) {
      var r = rec(this);
      if (r.opaque) return;
      try { var t = parse(r.protocol + '//' + String(v).replace(/[/?#\\].*$/, '') + '/', null); r.hostname = t.hostname; r.port = t.port; } catch (e) { return; } // ignored, as the standard says
    });
    prop('hostname', function () { var r = rec(this); return r.hostname === null ? '' : r.hostname; }, function (v) {
      var r = rec(this);
      if (r.opaque) return;
      try { r.hostname = parse(r.protocol + '//' + String(v).replace(/[:/?#\\].*$/, '') + '/', null).hostname; } catch (e) { return; } // ignored
    });
    prop('port', function () { return rec(this).port; }, function (v) {
      var r = rec(this), m = /^\d{0,}/.exec(String(v))[0];
      if (r.hostname === null || r.hostname === '' || r.protocol === 'file:') return;
      if (String(v) === '') r.port = '';
      else if (m !== '' && +m <= 65535) r.port = special[r.protocol] === String(+m) ? '' : String(+m);
    });
    prop('pathname', function () { return rec(this).pathname; }, function (v) {
      var r = rec(this);
      if (r.opaque) return;
      var sp = hasOwn.call(special, r.protocol);
      r.pathname = normPath(String(v).replace(/^[/\\]?/, '/').split(sp ? /[/\\]/ : '/').slice(1), sp);
    });
    prop('search', function () { return rec(this).search; }, function (v) {
      var r = rec(this), s = String(v).replace(/^\?/, '');
      r.search = s ? '?' + enc(s, hasOwn.call(special, r.protocol) ? SQUERY : QUERY) : '';
      r.params._list = parsePairs(s);
    });
    prop('searchParams', function () { return rec(this).params; });
    prop('hash', function () { return rec(this).hash; }, function (v) {
      var s = String(v).replace(/^#/, '');
      rec(this).hash = s ? '#' + enc(s, FRAG) : '';
    });
    URL.prototype.toString = URL.prototype.toJSON = function () { return this.href; };

    // application/x-www-form-urlencoded, as URLSearchParams speaks it.
    function formEncode(s) {
      return String(s).replace(/[^*\-._0-9A-Za-z ]|[\ud800-\udbff][\udc00-\udfff]/g, function (c) {
        if (c.length > 1 || c.charCodeAt(0) > 0x7f) { try { return encodeURIComponent(c); } catch (e) { return '%EF%BF%BD'; } }
        return '%' + (c.charCodeAt(0) < 16 ? '0' : '') + c.charCodeAt(0).toString(16).toUpperCase();
      }).replace(/ /g, '+');
    }
    function parsePairs(s) {
      var list = [];
      s.replace(/^\?/, '').split('&').forEach(function (p) {
        if (!p) return;
        var i = p.indexOf('=');
        var k = i < 0 ? p : p.slice(0, i), v = i < 0 ? '' : p.slice(i + 1);
        list.push([qsUnescape(k.replace(/\+/g, ' ')), qsUnescape(v.replace(/\+/g, ' '))]);
      });
      return list;
    }

    function URLSearchParams(init) {
      if (!(this instanceof URLSearchParams)) throw new TypeError("Class constructor URLSearchParams cannot be invoked without 'new'");
      this._url = null;
      this._list = [];
      if (init === undefined || init === null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        if (typeof init[Symbol.iterator] === 'function') {
          for (var pair of init) {
            var a = Array.from(pair);
            if (a.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            this._list.push([String(a[0]), String(a[1])]);
          }
        } else {
          var keys = Object.keys(init);
          for (var i = 0; i < keys.length; i++) this._list.push([keys[i], String(init[keys[i]])]);
        }
      } else {
        this._list = parsePairs(String(init));
      }
    }
    var SP = URLSearchParams.prototype;
    function update(self) {
      if (!self._url) return;
      var r = rec(self._url), s = self.toString();
      r.search = s ? '?' + s : '';
    }
    SP.append = function (k, v) { this._list.push([String(k), String(v)]); update(this); };
    SP['delete'] = function (k, v) {
      k = String(k);
      this._list = this._list.filter(function (p) { return p[0] !== k || (v !== undefined && p[1] !== String(v)); });
      update(this);
    };
    SP.get = function (k) {
      k = String(k);
      for (var i = 0; i < this._list.length; i++) if (this._list[i][0] === k) return this._list[i][1];
      return null;
    };
    SP.getAll = function (k) {
      k = String(k);
      return this._list.filter(function (p) { return p[0] === k; }).map(function (p) { return p[1]; });
    };
    SP.has = function (k, v) {
      k = String(k);
      return this._list.some(function (p) { return p[0] === k && (v === undefined || p[1] === String(v)); });
    };
    SP.set = function (k, v) {
      k = String(k); v = String(v);
      var found = false;
      this._list = this._list.filter(function (p) {
        if (p[0] !== k) return true;
        if (found) return false;
        found = true; p[1] = v; return true;
      });
      if (!found) this._list.push([k, v]);
      update(this);
    };
    SP.sort = function () {
      var l = this._list.map(function (p, i) { return [p, i]; });
      l.sort(function (a, b) { return a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]; });
      this._list = l.map(function (x) { return x[0]; });
      update(this);
    };
    SP.forEach = function (fn, thisArg) {
      for (var i = 0; i < this._list.length; i++) fn.call(thisArg, this._list[i][1], this._list[i][0], this);
    };
    SP.toString = function () {
      return this._list.map(function (p) { return formEncode(p[0]) + '=' + formEncode(p[1]); }).join('&');
    };
    SP.entries = SP[Symbol.iterator] = function () { return this._list.map(function (p) { return [p[0], p[1]]; })[Symbol.iterator](); };
    SP.keys = function () { return this._list.map(function (p) { return p[0]; })[Symbol.iterator](); };
    SP.values = function () { return this._list.map(function (p) { return p[1]; })[Symbol.iterator](); };
    Object.defineProperty(SP, 'size', { configurable: true, get: function () { return this._list.length; } });

    // The legacy API: url.parse and url.format.
    var slashed = { 'http:': 1, 'https:': 1, 'ftp:': 1, 'gopher:': 1, 'file:': 1, 'ws:': 1, 'wss:': 1 };
    var hostless = { 'javascript:': 1 };
    function Url() {
      this.protocol = null; this.slashes = null; this.auth = null; this.host = null; this.port = null;
      this.hostname = null; this.hash = null; this.search = null; this.query = null; this.pathname = null;
      this.path = null; this.href = null;
    }
    function legacyEscape(s) { return s.replace(/[\t\n\r "'<>\\^\x60{|}]/g, function (c) { return c === '\\' ? '/' : encodeURIComponent(c).replace("'", '%27'); }); }
    function urlParse(str, parseQuery, slashesDenoteHost) {
      if (str instanceof Url) return str;
      if (typeof str !== 'string') throw argError('url', 'of type string', str);
      var u = new Url(), rest = str.trim(), i;
      i = rest.indexOf('#');
      if (i >= 0) { u.hash = legacyEscape(rest.slice(i)); rest = rest.slice(0, i); }
      i = rest.indexOf('?');
      if (i >= 0) { u.search = legacyEscape(rest.slice(i)); u.query = u.search.slice(1); rest = rest.slice(0, i); }
      else if (parseQuery) u.query = '';
      if (parseQuery) u.query = qs.parse(u.query);
      var m = /^[a-z0-9.+-]+:/i.exec(rest);
      if (m) { u.protocol = m[0].toLowerCase(); rest = rest.slice(m[0].length); }
      if ((slashesDenoteHost || m || /^\/\/[^@/]+@[^@/]+/.test(rest)) && rest.slice(0, 2) === '//' && !(u.protocol && hostless[u.protocol])) {
        rest = rest.slice(2); u.slashes = true;
      }
      if (!hostless[u.protocol] && (u.slashes || (u.protocol && !slashed[u.protocol]))) {
        var end = rest.search(/[/?#\\]/), hostPart = end < 0 ? rest : rest.slice(0, end);
        var at = hostPart.lastIndexOf('@');
        if (at >= 0) { u.auth = qsUnescape(hostPart.slice(0, at)); rest = rest.slice(at + 1); }
        end = rest.search(/[/?#\\ \t\n\r"'<>^\x60{|}]/);
        var host = end < 0 ? rest : rest.slice(0, end);
        rest = end < 0 ? '' : rest.slice(end);
        var pm = /:([0-9]*)$/.exec(host);
        if (pm) { if (pm[1]) u.port = pm[1]; host = host.slice(0, pm.index); }
        u.hostname = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
        u.host = (host[0] === '[' ? '[' + u.hostname + ']' : u.hostname) + (u.port ? ':' + u.port : '');
      }
      rest = legacyEscape(rest);
      if (rest) u.pathname = rest;
      if (slashed[u.protocol] && u.hostname && !u.pathname) u.pathname = '/';
      if (u.pathname || u.search) u.path = (u.pathname || '') + (u.search || '');
      u.href = urlFormat(u);
      return u;
    }
    function urlFormat(obj) {
      if (typeof obj === 'string') obj = urlParse(obj);
      else if (obj instanceof URL) return obj.href;
      else if (obj === null || typeof obj !== 'object') throw argError('urlObject', 'one of type object or string', obj);
      var auth = obj.auth ? encodeURIComponent(obj.auth).replace(/%3A/i, ':') + '@' : '';
      var protocol = obj.protocol || '', pathname = obj.pathname || '', hash = obj.hash || '', host = '', query = '';
      if (obj.host) host = auth + obj.host;
      else if (obj.hostname) host = auth + (obj.hostname.indexOf(':') >= 0 && obj.hostname[0] !== '[' ? '[' + obj.hostname + ']' : obj.hostname) + (obj.port ? ':' + obj.port : '');
      if (obj.query !== null && typeof obj.query === 'object') query = qs.stringify(obj.query);
      var search = obj.search || (query && '?' + query) || '';
      if (protocol && protocol.slice(-1) !== ':') protocol += ':';
      if (obj.slashes || slashed[protocol]) {
        if (obj.slashes || host) {
          if (pathname && pathname[0] !== '/') pathname = '/' + pathname;
          host = '//' + host;
        } else if (protocol === 'file:') {
          host = '//';
        }
      }
      search = search.replace(/#/g, '%23');
      if (hash && hash[0] !== '#') hash = '#' + hash;
      if (search && search[0] !== '?') search = '?' + search;
      pathname = pathname.replace(/[?#]/g, encodeURIComponent);
      return protocol + host + pathname + search + hash;
    }
    Url.prototype.format = function () { return urlFormat(this); };
    function resolve(from, to) {
      var r = new URL(to, new URL(from, 'resolve://'));
      if (r.protocol === 'resolve:') { var p = r.pathname + r.search + r.hash; return /^\//.test(from) ? p : p.slice(1); }
      return r.toString();
    }
    return { URL: URL, URLSearchParams: URLSearchParams, Url: Url, parse: urlParse, format: urlFormat, resolve: resolve };
  } module*/

  // URL and URLSearchParams are globals, as in Node: the url module, loaded
  // at first use.
  ['URL', 'URLSearchParams'].forEach(function (name) {
    if (typeof global[name] === 'function') return;
    Object.defineProperty(global, name, {
      configurable: true, enumerable: false,
      get: function () { var v = require('url')[name]; own(global, name, v); return v; },
      set: function (v) { own(global, name, v); },
    });
  });

  // ---- the webtask -------------------------------------------------------

  var handler = null;

  function load(fn, bare) {
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
        var v = read(); own(this, name, v); return v;
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

  // toJSON makes JSON.stringify(context) and console.log(context) show
  // every field, read or not.
  Object.defineProperty(Context.prototype, 'toJSON', {
    value: function () {
      var o = {};
      for (var k in this) if (k !== 'toJSON') o[k] = this[k];
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
    return stack.replace(/webtask\.js:1:(\d+)/g, function (m, c) {
      return 'webtask.js:1:' + Math.max(1, c - wrapLen);
    });
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
  // string) and 'end', after the handler returned. Phase 2 brings streams.
  Request.prototype.on = Request.prototype.addListener = Request.prototype.once = function (ev, fn) {
    if (!this._listeners) {
      this._listeners = {};
      var self = this;
      setImmediate(function () {
        var body = wt.get(FIELD_BODY);
        if (body) emit(self, 'data', body);
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

  return { load: load, run: run, step: step, finish: finish, report: report, uncaught: uncaught };
})
