//! work — three pieces of real work behind one webtask, for bench/'s `work`
//! section (issue 17), answering exactly what its native Go baseline
//! (bench/work.go) answers:
//!
//!   POST /json   a ~2 KB JSON document (bench/testdata/work.json):
//!                {"id": <order.customer.id>}, 400 when it is not there
//!   POST /jwt    Authorization: Bearer <HS256 token> (seed 003's claims),
//!                key the secret jwt-secret: {"sub": <sub>}, else 401
//!                Unauthorized (bad header, alg, signature, no or past exp)
//!   POST /hmac   any body (the harness sends 64 KiB), key the secret
//!                hmac-key: {"hmac": <hex HMAC-SHA256 of the body>}
//!
//! Without crates: the JSON is read with the SDK's scanner (order, then
//! customer, then id — "order" is the document's last member, so the whole
//! body is scanned); SHA-256 (FIPS 180-4) is written out below as a
//! streaming hasher, so HMAC over a large body copies nothing; base64url is
//! jwt.rs's.

#[path = "../wasmtask.rs"]
mod wasmtask;

use std::time::{SystemTime, UNIX_EPOCH};
use wasmtask::json::{self, Object};
use wasmtask::{Context, Error, Route};

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::serve_routes(&[
        Route::simple("POST", "/json", json_field),
        Route::simple("POST", "/jwt", jwt),
        Route::simple("POST", "/hmac", hmac),
    ])
}

fn json_field(ctx: &Context) -> Result<String, Error> {
    let body = ctx.body();
    let id = std::str::from_utf8(&body)
        .ok()
        .and_then(|b| json::get_raw(b, "order"))
        .and_then(|o| json::get_raw(o, "customer"))
        .and_then(|c| json::get_str(c, "id"))
        .ok_or_else(|| Error::new(400, "no order.customer.id in the body"))?;
    Ok(Object::new().str("id", &id).finish())
}

fn jwt(ctx: &Context) -> Result<String, Error> {
    let key = ctx.secret("jwt-secret").unwrap_or_default();
    let header = ctx.header("authorization").unwrap_or_default();
    let sub = match header.strip_prefix("Bearer ") {
        Some(token) if !key.is_empty() => verify(key.as_bytes(), token, now()),
        _ => None,
    };
    match sub {
        Some(sub) => Ok(Object::new().str("sub", &sub).finish()),
        None => Err(Error::new(401, "Unauthorized")),
    }
}

fn hmac(ctx: &Context) -> Result<String, Error> {
    let key = match ctx.secret("hmac-key") {
        Some(k) if !k.is_empty() => k,
        _ => return Err(Error::new(500, "hmac-key is not set")),
    };
    let mac = hmac_sha256(key.as_bytes(), &ctx.body());
    let mut hex = String::with_capacity(64);
    for b in mac {
        hex.push(HEX[(b >> 4) as usize] as char);
        hex.push(HEX[(b & 15) as usize] as char);
    }
    Ok(Object::new().str("hmac", &hex).finish())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

// ---- JWT HS256 -----------------------------------------------------------

/// The sub claim of a valid token: header alg HS256, the signature
/// HMAC-SHA256(key, header.payload), an exp (required) in the future.
fn verify(key: &[u8], token: &str, now: i64) -> Option<String> {
    let mut parts = token.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return None,
    };
    let header = String::from_utf8(b64url_decode(h)?).ok()?;
    if json::get_str(&header, "alg").as_deref() != Some("HS256") {
        return None;
    }
    let sig = b64url_decode(s)?;
    let signed = &token[..h.len() + 1 + p.len()];
    if !same(&hmac_sha256(key, signed.as_bytes()), &sig) {
        return None;
    }
    let payload = String::from_utf8(b64url_decode(p)?).ok()?;
    match json::get_int(&payload, "exp") {
        Some(exp) if exp > now => json::get_str(&payload, "sub"),
        _ => None,
    }
}

/// Compares without an early exit, so timing does not tell how much matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// base64url without padding (RFC 4648 §5, as JWT uses it); None for a bad
/// character, an impossible length or non-canonical trailing bits.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if acc != 0 {
        return None;
    }
    Some(out)
}

// ---- SHA-256 (FIPS 180-4) and HMAC (RFC 2104) -----------------------------

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// A streaming SHA-256: update with any number of slices, then finish.
struct Sha256 {
    h: [u32; 8],
    buf: [u8; 64],
    fill: usize,
    len: u64,
}

impl Sha256 {
    fn new() -> Sha256 {
        Sha256 {
            h: [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19],
            buf: [0; 64],
            fill: 0,
            len: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.fill > 0 {
            let n = (64 - self.fill).min(data.len());
            self.buf[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill < 64 {
                return;
            }
            let block = self.buf;
            self.block(&block);
            self.fill = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for b in &mut blocks {
            self.block(b);
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.fill = rest.len();
    }

    /// Padding: 0x80, zeros to 56 mod 64, then the length in bits, big-endian.
    fn finish(mut self) -> [u8; 32] {
        let bits = self.len * 8;
        let pad = if self.fill < 56 { 56 - self.fill } else { 120 - self.fill };
        let mut tail = [0u8; 72];
        tail[0] = 0x80;
        tail[pad..pad + 8].copy_from_slice(&bits.to_be_bytes());
        self.update(&tail[..pad + 8]);
        let mut out = [0u8; 32];
        for (i, word) in self.h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    fn block(&mut self, block: &[u8]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = self.h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in self.h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        let mut h = Sha256::new();
        h.update(key);
        k[..32].copy_from_slice(&h.finish());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; 64];
    for (p, b) in pad.iter_mut().zip(k) {
        *p = b ^ 0x36;
    }
    let mut inner = Sha256::new();
    inner.update(&pad);
    inner.update(msg);
    let inner = inner.finish();
    for (p, b) in pad.iter_mut().zip(k) {
        *p = b ^ 0x5c;
    }
    let mut outer = Sha256::new();
    outer.update(&pad);
    outer.update(&inner);
    outer.finish()
}
