// lib/events.js — the built-in module events (guests/js/README.md). Compiled at
// its first require as the body of a function of (module, exports, require)
// and the prelude's helpers (prelude.js, moduleDeps).
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
}

module.exports = modEvents();
