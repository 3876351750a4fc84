// lib/util.js — the built-in module util (guests/js/README.md). Compiled at
// its first require as the body of a function of (module, exports, require)
// and the prelude's helpers (prelude.js, moduleDeps).
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
}

module.exports = modUtil();
