// lib/buffer.js — the built-in module buffer: Node's Buffer, a Uint8Array
// with encodings (utf8, hex, base64, base64url, latin1/binary, ascii,
// utf16le/ucs2), also the global Buffer. Compiled at its first require as
// the body of a function of the prelude's moduleDeps (prelude.js).

var encodings = { utf8: 'utf8', 'utf-8': 'utf8', hex: 'hex', base64: 'base64', base64url: 'base64url',
  latin1: 'latin1', binary: 'latin1', ascii: 'ascii', utf16le: 'utf16le', 'utf-16le': 'utf16le',
  ucs2: 'utf16le', 'ucs-2': 'utf16le' };

function normEncoding(enc) {
  if (enc === undefined || enc === null || enc === '') return 'utf8';
  var e = encodings[String(enc).toLowerCase()];
  if (!e) {
    var err = new TypeError('Unknown encoding: ' + enc);
    err.code = 'ERR_UNKNOWN_ENCODING';
    throw err;
  }
  return e;
}

var B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
var B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
var b64Index = new Int16Array(128).fill(-1);
for (var i = 0; i < 64; i++) { b64Index[B64.charCodeAt(i)] = i; b64Index[B64URL.charCodeAt(i)] = i; }
var HEX = '0123456789abcdef';

// bytesOf encodes a string into a plain array-like of bytes.
function encode(str, enc) {
  switch (enc) {
    case 'utf8':
      return new Uint8Array(wt.utf8Encode(str.isWellFormed() ? str : str.toWellFormed()));
    case 'hex': {
      var n = str.length >>> 1, out = new Uint8Array(n), k = 0;
      for (; k < n; k++) {
        var b = parseInt(str.substr(2 * k, 2), 16);
        if (!(b >= 0) || !/^[0-9a-fA-F]{2}$/.test(str.substr(2 * k, 2))) break; // Node stops at the first bad pair
        out[k] = b;
      }
      return k === n ? out : out.subarray(0, k);
    }
    case 'base64': case 'base64url': {
      var bytes = new Uint8Array((str.length * 3) >>> 2), acc = 0, bits = 0, j = 0;
      for (var p = 0; p < str.length; p++) {
        var c = str.charCodeAt(p), v = c < 128 ? b64Index[c] : -1;
        if (c === 61) break; // '='
        if (v < 0) continue; // Node skips what is not base64
        acc = (acc << 6) | v; bits += 6;
        if (bits >= 8) { bits -= 8; bytes[j++] = (acc >> bits) & 255; }
      }
      return bytes.subarray(0, j);
    }
    case 'latin1': case 'ascii': {
      var l = new Uint8Array(str.length);
      for (var q = 0; q < str.length; q++) l[q] = str.charCodeAt(q) & 255;
      return l;
    }
    case 'utf16le': {
      var u = new Uint8Array(str.length * 2);
      for (var r = 0; r < str.length; r++) { var cc = str.charCodeAt(r); u[2 * r] = cc & 255; u[2 * r + 1] = cc >> 8; }
      return u;
    }
  }
}

function decode(u8, enc) {
  var s = '', i, n = u8.length;
  switch (enc) {
    case 'utf8': return wt.utf8Decode(u8);
    case 'hex':
      for (i = 0; i < n; i++) s += HEX[u8[i] >> 4] + HEX[u8[i] & 15];
      return s;
    case 'base64': case 'base64url': {
      var A = enc === 'base64' ? B64 : B64URL;
      for (i = 0; i + 2 < n; i += 3) {
        var t = (u8[i] << 16) | (u8[i + 1] << 8) | u8[i + 2];
        s += A[t >> 18] + A[(t >> 12) & 63] + A[(t >> 6) & 63] + A[t & 63];
      }
      if (n - i === 1) s += A[u8[i] >> 2] + A[(u8[i] & 3) << 4] + (enc === 'base64' ? '==' : '');
      else if (n - i === 2) s += A[u8[i] >> 2] + A[((u8[i] & 3) << 4) | (u8[i + 1] >> 4)] + A[(u8[i + 1] & 15) << 2] + (enc === 'base64' ? '=' : '');
      return s;
    }
    case 'latin1': case 'ascii': {
      var mask = enc === 'ascii' ? 127 : 255;
      for (i = 0; i < n; i += 4096) {
        var part = u8.subarray(i, Math.min(n, i + 4096));
        s += String.fromCharCode.apply(null, mask === 255 ? part : Array.prototype.map.call(part, function (b) { return b & mask; }));
      }
      return s;
    }
    case 'utf16le':
      for (i = 0; i + 1 < n; i += 2) s += String.fromCharCode(u8[i] | (u8[i + 1] << 8));
      return s;
  }
}

class Buffer extends Uint8Array {
  static from(v, encOrOffset, length) {
    if (typeof v === 'string') return fromBytes(encode(v, normEncoding(encOrOffset)));
    if (v instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && v instanceof SharedArrayBuffer)) {
      var off = encOrOffset === undefined ? 0 : +encOrOffset;
      return new Buffer(v, off, length === undefined ? v.byteLength - off : +length);
    }
    if (ArrayBuffer.isView(v)) return fromBytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice());
    if (v && typeof v === 'object') {
      if (v.type === 'Buffer' && Array.isArray(v.data)) return fromBytes(Uint8Array.from(v.data));
      if (typeof v.length === 'number' || Array.isArray(v)) return fromBytes(Uint8Array.from(v));
      if (typeof v.valueOf === 'function' && v.valueOf() !== v) return Buffer.from(v.valueOf(), encOrOffset, length);
    }
    throw argError('first argument', 'of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object', v);
  }
  static alloc(size, fill, enc) {
    var b = new Buffer(checkSize(size));
    if (fill !== undefined && fill !== 0) b.fill(fill, 0, b.length, enc);
    return b;
  }
  static allocUnsafe(size) { return new Buffer(checkSize(size)); }
  static allocUnsafeSlow(size) { return new Buffer(checkSize(size)); }
  static isBuffer(b) { return b instanceof Buffer; }
  static isEncoding(e) { return typeof e === 'string' && e !== '' && hasOwn.call(encodings, e.toLowerCase()); }
  static byteLength(v, enc) {
    if (typeof v !== 'string') return v.byteLength;
    return encode(v, normEncoding(enc)).length;
  }
  static concat(list, total) {
    if (!Array.isArray(list)) throw argError('list', 'an instance of Array', list);
    if (total === undefined) { total = 0; for (var i = 0; i < list.length; i++) total += list[i].length; }
    var out = Buffer.alloc(total), pos = 0;
    for (var j = 0; j < list.length && pos < total; j++) {
      var b = list[j];
      if (!(b instanceof Uint8Array)) throw argError('list[' + j + ']', 'an instance of Buffer or Uint8Array', b);
      var part = b.length > total - pos ? b.subarray(0, total - pos) : b;
      out.set(part, pos); pos += part.length;
    }
    return out;
  }
  static compare(a, b) { return a.compare(b); }

  toString(enc, start, end) {
    start = start === undefined ? 0 : Math.max(0, start | 0);
    end = end === undefined ? this.length : Math.min(this.length, end | 0);
    if (end <= start) return '';
    var u8 = start === 0 && end === this.length ? this : this.subarray(start, end);
    return decode(u8, normEncoding(enc));
  }
  toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
  equals(b) {
    if (!(b instanceof Uint8Array)) throw argError('otherBuffer', 'an instance of Buffer or Uint8Array', b);
    return this.compare(b) === 0;
  }
  compare(b) {
    var n = Math.min(this.length, b.length);
    for (var i = 0; i < n; i++) if (this[i] !== b[i]) return this[i] < b[i] ? -1 : 1;
    return this.length < b.length ? -1 : this.length > b.length ? 1 : 0;
  }
  slice(start, end) { return this.subarray(start, end); }
  subarray(start, end) {
    var u = Uint8Array.prototype.subarray.call(this, start, end);
    return new Buffer(u.buffer, u.byteOffset, u.length);
  }
  write(str, offset, length, enc) {
    if (typeof offset === 'string') { enc = offset; offset = 0; length = undefined; }
    else if (typeof length === 'string') { enc = length; length = undefined; }
    offset = offset === undefined ? 0 : offset >>> 0;
    var bytes = encode(String(str), normEncoding(enc));
    var n = Math.min(bytes.length, this.length - offset, length === undefined ? Infinity : length >>> 0);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }
  copy(target, targetStart, start, end) {
    targetStart = targetStart || 0; start = start || 0; end = end === undefined ? this.length : end;
    var src = Uint8Array.prototype.subarray.call(this, start, Math.min(end, start + target.length - targetStart));
    target.set(src, targetStart);
    return src.length;
  }
  fill(v, start, end, enc) {
    if (typeof start === 'string') { enc = start; start = 0; end = this.length; }
    start = start === undefined ? 0 : start; end = end === undefined ? this.length : end;
    if (typeof v === 'string') {
      var bytes = encode(v, normEncoding(enc));
      if (!bytes.length) return Uint8Array.prototype.fill.call(this, 0, start, end);
      for (var i = start, k = 0; i < end; i++, k = (k + 1) % bytes.length) this[i] = bytes[k];
      return this;
    }
    return Uint8Array.prototype.fill.call(this, typeof v === 'number' ? v & 255 : v ? 1 : 0, start, end);
  }
  indexOf(v, from, enc) {
    if (typeof v === 'number') return Uint8Array.prototype.indexOf.call(this, v & 255, from);
    var needle = typeof v === 'string' ? encode(v, normEncoding(enc)) : v;
    from = from === undefined ? 0 : from < 0 ? Math.max(0, this.length + from) : from;
    outer: for (var i = from; i <= this.length - needle.length; i++) {
      for (var j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }
  includes(v, from, enc) { return this.indexOf(v, from, enc) !== -1; }
  readUInt8(o) { return view(this).getUint8(off(this, o, 1)); }
  readInt8(o) { return view(this).getInt8(off(this, o, 1)); }
  readUInt16BE(o) { return view(this).getUint16(off(this, o, 2)); }
  readUInt16LE(o) { return view(this).getUint16(off(this, o, 2), true); }
  readInt16BE(o) { return view(this).getInt16(off(this, o, 2)); }
  readInt16LE(o) { return view(this).getInt16(off(this, o, 2), true); }
  readUInt32BE(o) { return view(this).getUint32(off(this, o, 4)); }
  readUInt32LE(o) { return view(this).getUint32(off(this, o, 4), true); }
  readInt32BE(o) { return view(this).getInt32(off(this, o, 4)); }
  readInt32LE(o) { return view(this).getInt32(off(this, o, 4), true); }
  readDoubleBE(o) { return view(this).getFloat64(off(this, o, 8)); }
  readDoubleLE(o) { return view(this).getFloat64(off(this, o, 8), true); }
  readBigUInt64BE(o) { return view(this).getBigUint64(off(this, o, 8)); }
  readBigUInt64LE(o) { return view(this).getBigUint64(off(this, o, 8), true); }
  writeUInt8(v, o) { view(this).setUint8(o = off(this, o, 1), v); return o + 1; }
  writeInt8(v, o) { view(this).setInt8(o = off(this, o, 1), v); return o + 1; }
  writeUInt16BE(v, o) { view(this).setUint16(o = off(this, o, 2), v); return o + 2; }
  writeUInt16LE(v, o) { view(this).setUint16(o = off(this, o, 2), v, true); return o + 2; }
  writeUInt32BE(v, o) { view(this).setUint32(o = off(this, o, 4), v); return o + 4; }
  writeUInt32LE(v, o) { view(this).setUint32(o = off(this, o, 4), v, true); return o + 4; }
  writeInt32BE(v, o) { view(this).setInt32(o = off(this, o, 4), v); return o + 4; }
  writeInt32LE(v, o) { view(this).setInt32(o = off(this, o, 4), v, true); return o + 4; }
  writeDoubleBE(v, o) { view(this).setFloat64(o = off(this, o, 8), v); return o + 8; }
  writeDoubleLE(v, o) { view(this).setFloat64(o = off(this, o, 8), v, true); return o + 8; }
}
['readUint8', 'readUint16BE', 'readUint16LE', 'readUint32BE', 'readUint32LE', 'writeUint8', 'writeUint16BE',
  'writeUint16LE', 'writeUint32BE', 'writeUint32LE'].forEach(function (alias) {
  Buffer.prototype[alias] = Buffer.prototype[alias.replace('Uint', 'UInt')];
});
Buffer.poolSize = 8192;
Object.defineProperty(Buffer.prototype, 'parent', { get: function () { return this.buffer; } });
Buffer.prototype[Symbol.for('nodejs.util.inspect.custom')] = function () {
  var hex = this.toString('hex', 0, 50).replace(/(..)(?!$)/g, '$1 ');
  return '<Buffer' + (this.length ? ' ' + hex : '') + (this.length > 50 ? ' ... ' + (this.length - 50) + ' more bytes' : '') + '>';
};

function fromBytes(u8) { return new Buffer(u8.buffer, u8.byteOffset, u8.length); }

function checkSize(size) {
  if (typeof size !== 'number') throw argError('size', 'of type number', size);
  if (!(size >= 0 && size <= 0x7fffffff)) {
    var e = new RangeError('The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ' + size);
    e.code = 'ERR_OUT_OF_RANGE';
    throw e;
  }
  return size | 0;
}

function view(b) { return new DataView(b.buffer, b.byteOffset, b.byteLength); }

// off checks a read or write offset as Node does.
function off(b, o, n) {
  o = o === undefined ? 0 : o;
  if (typeof o !== 'number') throw argError('offset', 'of type number', o);
  var e;
  if (b.length - n < 0) {
    e = new RangeError('Attempt to access memory outside buffer bounds');
    e.code = 'ERR_BUFFER_OUT_OF_BOUNDS';
    throw e;
  }
  if (o !== Math.floor(o) || o < 0 || o > b.length - n) {
    e = new RangeError('The value of "offset" is out of range. It must be ' + (o !== Math.floor(o) ? 'an integer' : '>= 0 and <= ' + (b.length - n)) + '. Received ' + o);
    e.code = 'ERR_OUT_OF_RANGE';
    throw e;
  }
  return o;
}

internal.toBytes = function (v, enc) {
  if (typeof v === 'string') return encode(v, normEncoding(enc));
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw argError('data', 'of type string or an instance of Buffer, TypedArray, or DataView', v);
};
internal.decode = function (u8, enc) { return decode(u8, normEncoding(enc)); };
internal.Buffer = Buffer;

// TextEncoder and TextDecoder (UTF-8 only), the globals of the WHATWG
// Encoding standard; the prelude makes them globals through this module.
internal.TextEncoder = class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(s) { return encode(s === undefined ? '' : String(s), 'utf8'); }
};
internal.TextDecoder = class TextDecoder {
  constructor(label) {
    var l = label === undefined ? 'utf-8' : String(label).trim().toLowerCase();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      var e = new RangeError('The "' + label + '" encoding is not supported');
      e.code = 'ERR_ENCODING_NOT_SUPPORTED';
      throw e;
    }
  }
  get encoding() { return 'utf-8'; }
  decode(v) {
    if (v === undefined) return '';
    var s = wt.utf8Decode(v);
    return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
  }
};

module.exports = {
  Buffer: Buffer,
  kMaxLength: 0x7fffffff,
  constants: { MAX_LENGTH: 0x7fffffff, MAX_STRING_LENGTH: (1 << 29) - 24 },
  atob: function (s) { return Buffer.from(String(s), 'base64').toString('latin1'); },
  btoa: function (s) { return Buffer.from(String(s), 'latin1').toString('base64'); },
};
