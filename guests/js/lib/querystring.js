// lib/querystring.js — the built-in module querystring (guests/js/README.md). Compiled at
// its first require as the body of a function of (module, exports, require)
// and the prelude's helpers (prelude.js, moduleDeps).
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
}

module.exports = modQuerystring();
