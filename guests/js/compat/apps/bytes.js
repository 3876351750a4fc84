// bytes.js — Buffer, crypto, TextEncoder/TextDecoder, querystring and url
// as a (context, cb) webtask: each request evaluates one group of
// expressions and answers their values (the same code on Node, on
// wasmtask's built-in modules).
const crypto = require('crypto');
const { Buffer: B } = require('buffer');

const text = 'héllo, wörld € 𝄞';
const bin = Buffer.from([0, 1, 2, 127, 128, 200, 255]);
const show = (v) => (Buffer.isBuffer(v) ? { buffer: v.toString('hex') } : v);

const groups = {
  buffer: () => [
    B === Buffer,
    Buffer.from(text).toString('hex'),
    Buffer.from(text, 'utf8').length,
    Buffer.byteLength(text),
    Buffer.from(text).toString('base64'),
    Buffer.from(text).toString('base64url'),
    Buffer.from('aGVsbG8gd29ybGQ=', 'base64').toString(),
    Buffer.from('aGVsbG8gd29ybGQ', 'base64url').toString(),
    Buffer.from('a GVs\nbG8=', 'base64').toString(),
    Buffer.from('00ff10zz', 'hex').toString('hex'),
    Buffer.from('abc', 'latin1').toString('hex'),
    Buffer.from('\u00e9\u0100', 'latin1').toString('hex'),
    Buffer.from('hi', 'utf16le').toString('hex'),
    bin.toString('latin1'),
    bin.toString('ascii'),
    bin.toString('base64'),
    Buffer.from([0xe2, 0x82]).toString(),
    Buffer.from([0xff, 0x41, 0xc3, 0xa9]).toString(),
    Buffer.concat([Buffer.from('ab'), Buffer.from('cd'), new Uint8Array([101])]).toString(),
    Buffer.concat([Buffer.from('abcdef')], 3).toString(),
    Buffer.alloc(4).toString('hex'),
    Buffer.alloc(5, 'ab').toString(),
    Buffer.alloc(3, 7).toString('hex'),
    Buffer.from('hello').slice(1, 3).toString(),
    Buffer.from('hello').subarray(-3).toString(),
    Buffer.from('abc').equals(Buffer.from('abc')),
    Buffer.compare(Buffer.from('a'), Buffer.from('b')),
    Buffer.from('b').compare(Buffer.from('a')),
    Buffer.from('hello world').indexOf('o'),
    Buffer.from('hello world').indexOf('o', 5),
    Buffer.from('hello world').indexOf(Buffer.from('wor')),
    Buffer.from('hello world').includes('xyz'),
    JSON.stringify(Buffer.from('hi')),
    Buffer.isBuffer(Buffer.from('x')), Buffer.isBuffer(new Uint8Array(1)),
    Buffer.isEncoding('UTF-8'), Buffer.isEncoding('nope'),
    (() => { const b = Buffer.alloc(8); b.writeUInt32BE(0xdeadbeef, 0); b.writeUInt16LE(0x1234, 4); b.writeInt8(-2, 6); return [b.toString('hex'), b.readUInt32BE(0), b.readUInt16LE(4), b.readInt8(6), b.readUInt32LE(0)]; })(),
    (() => { const b = Buffer.alloc(6); const n = b.write('héé', 1); return [n, b.toString('hex')]; })(),
    (() => { const b = Buffer.from('abcdef'); const t = Buffer.alloc(4); const n = b.copy(t, 1, 2); return [n, t.toString('hex')]; })(),
    (() => { try { Buffer.from('x').readUInt32BE(0); } catch (e) { return [e.name, e.code]; } })(),
    (() => { try { Buffer.from('x', 'nope'); } catch (e) { return [e.name, e.code, e.message]; } })(),
    (() => { try { Buffer.from(5); } catch (e) { return [e.name, e.code]; } })(),
    Buffer.from(Buffer.from('copy')).toString(),
    Buffer.from(new Uint16Array([1, 256]).buffer).toString('hex'),
    Buffer.from({ type: 'Buffer', data: [104, 105] }).toString(),
    Buffer.from('héllo').toJSON().data.length,
    new TextEncoder().encode('é€').join(','),
    new TextDecoder().decode(new Uint8Array([0xef, 0xbb, 0xbf, 104, 0xe2, 0x82, 0xac])),
    atob('aGk='), btoa('hi'),
    String(Buffer.from('implicit')),
    'x' + Buffer.from('concat'),
    [...Buffer.from('ab')].join(','),
    Buffer.from('abc').map((b) => b + 1).toString(),
    Buffer.from('abc').reverse().toString(),
  ].map(show),
  crypto: () => {
    const out = [];
    for (const alg of ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'SHA256', 'sha-256']) {
      for (const enc of ['hex', 'base64', 'base64url', 'latin1']) out.push([alg, enc, crypto.createHash(alg).update(text).digest(enc)]);
      out.push([alg, 'buffer', crypto.createHash(alg).update('a').update(Buffer.from('b')).update('63', 'hex').digest().toString('hex')]);
      out.push([alg, 'hmac', crypto.createHmac(alg, 'key').update(text).digest('hex')]);
      out.push([alg, 'hmac long key', crypto.createHmac(alg, 'k'.repeat(200)).update('').digest('base64')]);
      out.push([alg, 'hmac buffer key', crypto.createHmac(alg, Buffer.from([1, 2, 3])).update(bin).digest('hex')]);
    }
    out.push(crypto.createHash('sha256').update('x'.repeat(100000)).digest('hex'));
    out.push(crypto.timingSafeEqual(Buffer.from('abc'), Buffer.from('abc')), crypto.timingSafeEqual(Buffer.from('abc'), Buffer.from('abd')));
    out.push((() => { try { crypto.timingSafeEqual(Buffer.from('a'), Buffer.from('ab')); } catch (e) { return [e.name, e.code]; } })());
    out.push((() => { try { crypto.createHash('nope'); } catch (e) { return [e.name]; } })());
    out.push((() => { const h = crypto.createHash('sha1'); h.digest(); try { h.update('x'); } catch (e) { return [e.code]; } })());
    out.push(crypto.randomBytes(16).length, crypto.randomBytes(0).length, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()));
    out.push(crypto.randomBytes(8).toString('hex') !== crypto.randomBytes(8).toString('hex'));
    const r = crypto.randomInt(10, 20); out.push(r >= 10 && r < 20, Number.isInteger(r));
    out.push(crypto.getRandomValues(new Uint32Array(4)).length, typeof globalThis.crypto.randomUUID());
    out.push(crypto.getHashes().includes('sha256'));
    return out;
  },
};

module.exports = function (context, cb) {
  const g = groups[context.query.group];
  if (!g) return cb(new Error('no group ' + context.query.group));
  cb(null, g());
};
