// work — three pieces of real work behind one webtask, for bench/'s `work`
// section (issue 17), answering exactly what its native Go baseline
// (bench/work.go) answers:
//
//   POST /json   a ~2 KB JSON document (bench/testdata/work.json):
//                {"id": <order.customer.id>}, 400 when it is not there
//   POST /jwt    Authorization: Bearer <HS256 token> (seed 003's claims),
//                key the secret jwt-secret: {"sub": <sub>}, else 401
//                Unauthorized (bad header, alg, signature, no or past exp)
//   POST /hmac   any body (the harness sends 64 KiB), key the secret
//                hmac-key: {"hmac": <hex HMAC-SHA256 of the body>}
//
// The JSON is read with the SDK's scanner (jsonMember, jsonString: order,
// then customer, then id — "order" is the document's last member, so the
// whole body is scanned). SHA-256 (FIPS 180-4), HMAC (RFC 2104) and
// base64url (RFC 4648 §5) are written out below, on linear memory.
import { Context, Response, Router, error, jsonMember, jsonString, quote, result, serve } from "../wasmtask";

// The time for a token's exp: WASI's realtime clock (Date.now would import
// env.Date.now, which the host refuses).
@external("wasi_snapshot_preview1", "clock_time_get")
declare function clockTimeGet(id: u32, precision: u64, out: usize): u16;

const clockOut = new ArrayBuffer(8);

function nowSeconds(): i64 {
  clockTimeGet(0, 1000, changetype<usize>(clockOut));
  return <i64>(load<u64>(changetype<usize>(clockOut)) / 1000000000);
}

function jsonField(ctx: Context, res: Response): void {
  const order = jsonMember(ctx.bodyText(), "order");
  const customer = order !== null ? jsonMember(order, "customer") : null;
  const id = customer !== null ? jsonString(customer, "id") : null;
  if (id === null) {
    error(400, "no order.customer.id in the body");
    return;
  }
  result('{"id":' + quote(id) + "}");
}

function jwt(ctx: Context, res: Response): void {
  const key = ctx.secret("jwt-secret");
  const auth = ctx.header("authorization");
  let sub: string | null = null;
  if (key !== null && key.length > 0 && auth !== null && auth.startsWith("Bearer ")) {
    sub = verify(auth.substring(7), key);
  }
  if (sub === null) {
    error(401, "Unauthorized");
    return;
  }
  result('{"sub":' + quote(sub) + "}");
}

function hmac(ctx: Context, res: Response): void {
  const key = ctx.secret("hmac-key");
  if (key === null || key.length == 0) {
    error(500, "hmac-key is not set");
    return;
  }
  const body = ctx.body();
  const mac = hmacSha256(String.UTF8.encode(key), changetype<usize>(body), body.byteLength);
  result('{"hmac":' + quote(hex(mac)) + "}");
}

// ---- JWT HS256 -------------------------------------------------------------

// The sub claim of a valid token: header alg HS256, the signature
// HMAC-SHA256(key, header.payload), an exp (required) in the future.
function verify(token: string, key: string): string | null {
  const d1 = token.indexOf(".");
  const d2 = d1 < 0 ? -1 : token.indexOf(".", d1 + 1);
  if (d2 < 0 || token.indexOf(".", d2 + 1) >= 0) return null;
  const header = b64urlDecode(token.substring(0, d1));
  if (header === null) return null;
  const alg = jsonString(String.UTF8.decode(header), "alg");
  if (alg === null || alg != "HS256") return null;
  const sig = b64urlDecode(token.substring(d2 + 1));
  if (sig === null || sig.byteLength != 32) return null;
  const signed = String.UTF8.encode(token.substring(0, d2));
  const mac = hmacSha256(String.UTF8.encode(key), changetype<usize>(signed), signed.byteLength);
  let diff: u32 = 0;
  for (let i = 0; i < 32; i++) diff |= load<u8>(changetype<usize>(mac) + i) ^ load<u8>(changetype<usize>(sig) + i);
  if (diff != 0) return null;
  const payloadBytes = b64urlDecode(token.substring(d1 + 1, d2));
  if (payloadBytes === null) return null;
  const payload = String.UTF8.decode(payloadBytes);
  const exp = jsonMember(payload, "exp");
  if (exp === null || !isDigits(exp) || I64.parseInt(exp) <= nowSeconds()) return null;
  return jsonString(payload, "sub");
}

function isDigits(s: string): bool {
  if (s.length == 0 || s.length > 18) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function b64val(c: i32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2d) return 62;
  if (c == 0x5f) return 63;
  return -1;
}

// base64url without padding; null for a bad character, an impossible
// length or non-canonical trailing bits.
function b64urlDecode(s: string): ArrayBuffer | null {
  if (s.length % 4 == 1) return null;
  const out = new ArrayBuffer((s.length * 3) >> 2);
  const p = changetype<usize>(out);
  let acc: u32 = 0, bits = 0, k = 0;
  for (let i = 0; i < s.length; i++) {
    const v = b64val(s.charCodeAt(i));
    if (v < 0) return null;
    acc = (acc << 6) | <u32>v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      store<u8>(p + k++, <u8>(acc >> bits));
      acc &= (1 << bits) - 1;
    }
  }
  if (acc != 0 || k != out.byteLength) return null;
  return out;
}

const HEXDIGITS = "0123456789abcdef";

function hex(b: ArrayBuffer): string {
  let s = "";
  for (let i = 0; i < b.byteLength; i++) {
    const v = load<u8>(changetype<usize>(b) + i);
    s += HEXDIGITS.charAt(v >> 4) + HEXDIGITS.charAt(v & 15);
  }
  return s;
}

// ---- SHA-256 (FIPS 180-4) and HMAC (RFC 2104) ---------------------------------

const K: StaticArray<u32> = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

const W = new StaticArray<u32>(64);

// A streaming SHA-256 over linear memory: update with any number of
// (pointer, length) ranges, then finish.
class Sha256 {
  h: StaticArray<u32> = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  buf: ArrayBuffer = new ArrayBuffer(64);
  fill: i32 = 0;
  len: u64 = 0;

  update(p: usize, n: i32): void {
    this.len += <u64>n;
    const buf = changetype<usize>(this.buf);
    if (this.fill > 0) {
      const take = min(64 - this.fill, n);
      memory.copy(buf + this.fill, p, take);
      this.fill += take;
      p += take;
      n -= take;
      if (this.fill < 64) return;
      this.block(buf);
      this.fill = 0;
    }
    while (n >= 64) {
      this.block(p);
      p += 64;
      n -= 64;
    }
    memory.copy(buf, p, n);
    this.fill = n;
  }

  // Padding: 0x80, zeros to 56 mod 64, then the length in bits, big-endian.
  finish(): ArrayBuffer {
    const bits = this.len << 3;
    const pad = this.fill < 56 ? 56 - this.fill : 120 - this.fill;
    const tail = new ArrayBuffer(72);
    const t = changetype<usize>(tail);
    store<u8>(t, 0x80);
    store<u64>(t + pad, bswap<u64>(bits));
    this.update(t, pad + 8);
    const out = new ArrayBuffer(32);
    for (let i = 0; i < 8; i++) store<u32>(changetype<usize>(out) + (i << 2), bswap<u32>(unchecked(this.h[i])));
    return out;
  }

  block(p: usize): void {
    for (let i = 0; i < 16; i++) unchecked(W[i] = bswap<u32>(load<u32>(p + (i << 2))));
    for (let i = 16; i < 64; i++) {
      const w15 = unchecked(W[i - 15]), w2 = unchecked(W[i - 2]);
      const s0 = rotr<u32>(w15, 7) ^ rotr<u32>(w15, 18) ^ (w15 >> 3);
      const s1 = rotr<u32>(w2, 17) ^ rotr<u32>(w2, 19) ^ (w2 >> 10);
      unchecked(W[i] = unchecked(W[i - 16]) + s0 + unchecked(W[i - 7]) + s1);
    }
    const h = this.h;
    let a = unchecked(h[0]), b = unchecked(h[1]), c = unchecked(h[2]), d = unchecked(h[3]);
    let e = unchecked(h[4]), f = unchecked(h[5]), g = unchecked(h[6]), hh = unchecked(h[7]);
    for (let i = 0; i < 64; i++) {
      const s1 = rotr<u32>(e, 6) ^ rotr<u32>(e, 11) ^ rotr<u32>(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = hh + s1 + ch + unchecked(K[i]) + unchecked(W[i]);
      const s0 = rotr<u32>(a, 2) ^ rotr<u32>(a, 13) ^ rotr<u32>(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + s0 + maj;
    }
    unchecked(h[0] += a);
    unchecked(h[1] += b);
    unchecked(h[2] += c);
    unchecked(h[3] += d);
    unchecked(h[4] += e);
    unchecked(h[5] += f);
    unchecked(h[6] += g);
    unchecked(h[7] += hh);
  }
}

function hmacSha256(key: ArrayBuffer, msg: usize, n: i32): ArrayBuffer {
  const k = new ArrayBuffer(64); // zeroed
  if (key.byteLength > 64) {
    const kh = new Sha256();
    kh.update(changetype<usize>(key), key.byteLength);
    memory.copy(changetype<usize>(k), changetype<usize>(kh.finish()), 32);
  } else {
    memory.copy(changetype<usize>(k), changetype<usize>(key), key.byteLength);
  }
  const pad = new ArrayBuffer(64);
  const kp = changetype<usize>(k), pp = changetype<usize>(pad);
  for (let i = 0; i < 64; i++) store<u8>(pp + i, load<u8>(kp + i) ^ 0x36);
  const inner = new Sha256();
  inner.update(pp, 64);
  inner.update(msg, n);
  const ih = inner.finish();
  for (let i = 0; i < 64; i++) store<u8>(pp + i, load<u8>(kp + i) ^ 0x5c);
  const outer = new Sha256();
  outer.update(pp, 64);
  outer.update(changetype<usize>(ih), 32);
  return outer.finish();
}

// Last: top-level code runs in order, and the handlers use the tables above.
const router = new Router().post("/json", jsonField).post("/jwt", jwt).post("/hmac", hmac);

export function wt_handle(): i32 {
  return serve(router);
}
