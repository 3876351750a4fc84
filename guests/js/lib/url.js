// lib/url.js — the built-in module url (guests/js/README.md). Compiled at
// its first require as the body of a function of (module, exports, require)
// and the prelude's helpers (prelude.js, moduleDeps).
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
}

module.exports = modURL();
