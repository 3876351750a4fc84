// lib/timers.js — the built-in module timers: the global timer functions
// (prelude.js runs them within the request, below its deadline), and
// timers/promises' setTimeout and setImmediate as `promises`.

module.exports = {
  setTimeout: setTimeout, clearTimeout: clearTimeout,
  setInterval: setInterval, clearInterval: clearInterval,
  setImmediate: setImmediate, clearImmediate: clearImmediate,
  promises: {
    setTimeout: function (ms, value) { return new Promise(function (resolve) { setTimeout(resolve, ms, value); }); },
    setImmediate: function (value) { return new Promise(function (resolve) { setImmediate(resolve, value); }); },
  },
};
