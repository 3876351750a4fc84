// lib/crypto.js — the built-in module crypto: hashes and HMACs (md5, sha1,
// sha224, sha256, sha384, sha512, computed in C by hash.c), randomBytes,
// randomInt, randomUUID and getRandomValues from WASI random_get, and
// timingSafeEqual. Ciphers and public-key signatures are not provided:
// calling them throws ERR_WT_NOT_SUPPORTED with the list of what is.

var Buffer = require('buffer').Buffer;
var toBytes = internal.toBytes;

function unknownDigest(alg) {
  var e = new Error('Digest method not supported: ' + alg + ' (this server has md5, sha1, sha224, sha256, sha384, sha512)');
  e.code = 'ERR_CRYPTO_INVALID_DIGEST';
  return e;
}

// Hash collects the data and hashes it once, at digest.
function Hash(alg, key) {
  if (!(this instanceof Hash)) return new Hash(alg, key);
  if (typeof alg !== 'string') throw argError('algorithm', 'of type string', alg);
  if (wt.hash(alg, new Uint8Array(0)) === undefined) throw unknownDigest(alg);
  this._alg = alg; this._key = key; this._chunks = []; this._done = false;
}
Hash.prototype.update = function (data, enc) {
  if (this._done) { var e = new Error('Digest already called'); e.code = 'ERR_CRYPTO_HASH_FINALIZED'; throw e; }
  this._chunks.push(Buffer.from(toBytes(data, enc)));
  return this;
};
Hash.prototype.digest = function (enc) {
  if (this._done) { var e = new Error('Digest already called'); e.code = 'ERR_CRYPTO_HASH_FINALIZED'; throw e; }
  this._done = true;
  var data = this._chunks.length === 1 ? this._chunks[0] : Buffer.concat(this._chunks);
  this._chunks = null;
  var out = Buffer.from(wt.hash(this._alg, data, this._key));
  return enc === undefined || enc === 'buffer' ? out : out.toString(enc);
};
Hash.prototype.copy = function () {
  var h = new Hash(this._alg, this._key);
  h._chunks = this._chunks.slice();
  return h;
};

function createHash(alg) { return new Hash(alg); }

function createHmac(alg, key, opts) {
  if (key === null || key === undefined) throw argError('key', 'of type string or an instance of ArrayBuffer, Buffer, TypedArray, DataView, KeyObject, or CryptoKey', key);
  if (key && key._secret) key = key._secret; // createSecretKey
  return new Hash(alg, toBytes(key, opts && opts.encoding));
}

function randomBytes(n, cb) {
  if (typeof n !== 'number') throw argError('size', 'of type number', n);
  var b = Buffer.from(wt.randomBytes(n));
  if (typeof cb === 'function') { setImmediate(cb, null, b); return; }
  return b;
}

function getRandomValues(a) {
  if (!ArrayBuffer.isView(a) || a instanceof Float32Array || a instanceof Float64Array || a instanceof DataView) {
    var e = new TypeError('The data argument must be an integer-type TypedArray'); e.code = 'ERR_INVALID_ARG_TYPE'; throw e;
  }
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength).set(new Uint8Array(wt.randomBytes(a.byteLength)));
  return a;
}

function randomInt(min, max, cb) {
  if (max === undefined || typeof max === 'function') { cb = max; max = min; min = 0; }
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min) {
    var e = new RangeError('The value of "max" is out of range. It must be greater than the value of "min" (' + min + '). Received ' + max);
    e.code = 'ERR_OUT_OF_RANGE'; throw e;
  }
  var range = max - min, limit = Math.floor(0x1000000000000 / range) * range, v;
  do { var b = new Uint8Array(wt.randomBytes(6)); v = b[0] * 0x10000000000 + b[1] * 0x100000000 + ((b[2] << 24) >>> 0) + (b[3] << 16) + (b[4] << 8) + b[5]; } while (v >= limit);
  var r = min + (v % range);
  if (typeof cb === 'function') { setImmediate(cb, null, r); return; }
  return r;
}

function randomUUID() {
  var b = new Uint8Array(wt.randomBytes(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  var h = Buffer.from(b).toString('hex');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}

function timingSafeEqual(a, b) {
  if (!ArrayBuffer.isView(a)) throw argError('buf1', 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', a);
  if (!ArrayBuffer.isView(b)) throw argError('buf2', 'an instance of ArrayBuffer, Buffer, TypedArray, or DataView', b);
  var x = toBytes(a), y = toBytes(b);
  if (x.length !== y.length) {
    var e = new RangeError('Input buffers must have the same byte length'); e.code = 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH'; throw e;
  }
  var d = 0;
  for (var i = 0; i < x.length; i++) d |= x[i] ^ y[i];
  return d === 0;
}

function createSecretKey(key, enc) {
  var k = Buffer.from(toBytes(key, enc));
  return { type: 'secret', symmetricKeySize: k.length, _secret: k, export: function () { return Buffer.from(k); } };
}

function notSupported(name) {
  return function () {
    var e = new Error('crypto.' + name + ' is not supported by this server: it has createHash, createHmac, randomBytes, randomInt, randomUUID, getRandomValues, timingSafeEqual and createSecretKey');
    e.code = 'ERR_WT_NOT_SUPPORTED';
    throw e;
  };
}

module.exports = {
  createHash: createHash, Hash: Hash, createHmac: createHmac, Hmac: Hash,
  randomBytes: randomBytes, pseudoRandomBytes: randomBytes, randomFillSync: getRandomValues, getRandomValues: getRandomValues,
  randomInt: randomInt, randomUUID: randomUUID, timingSafeEqual: timingSafeEqual, createSecretKey: createSecretKey,
  getHashes: function () { return ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']; },
  webcrypto: { getRandomValues: getRandomValues, randomUUID: randomUUID },
};
['createCipheriv', 'createDecipheriv', 'createSign', 'createVerify', 'sign', 'verify', 'pbkdf2', 'pbkdf2Sync',
  'scrypt', 'scryptSync', 'generateKeyPair', 'generateKeyPairSync', 'createPrivateKey', 'createPublicKey',
  'publicEncrypt', 'privateDecrypt', 'createDiffieHellman', 'createECDH', 'hkdf', 'hkdfSync'].forEach(function (n) {
  module.exports[n] = notSupported(n);
});
