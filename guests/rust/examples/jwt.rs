//! jwt — seed 003 ("Protect your Function with JSON Web Token") as one
//! webtask with two routes, without crates: SHA-256, HMAC and base64url are
//! written out below (FIPS 180-4, RFC 2104, RFC 4648).
//!
//!   POST /jwt     {"username":"…","password":"…"} (or ?username=&password=)
//!                 right credentials: 200 "OK" with the token in the
//!                 access_token header; wrong ones: 401
//!                 "Username or password is incorrect"
//!   ANY  /bearer  Authorization: Bearer <token>: 200 and the salary list;
//!                 anything else: 401 "Unauthorized" with
//!                 WWW-Authenticate: Bearer realm="Access to read salaries"
//!
//! The credentials and the signing key are the webtask's secrets: username,
//! password and jwt-secret. Tokens are HS256 JWTs valid for a day with the
//! seed's claims; the Go port (guests/go/examples/jwt, golang-jwt) issues
//! and accepts the same tokens.

#[path = "../wasmtask.rs"]
mod wasmtask;

use std::time::{SystemTime, UNIX_EPOCH};
use wasmtask::json::{self, Object};
use wasmtask::{Context, Response, Route};

const SALARIES: &str = r#"[{"username":"jdoe","salary":"$2000.00"},{"username":"mturner","salary":"$2500.00"}]"#;
const DAY: i64 = 24 * 60 * 60;

#[no_mangle]
pub extern "C" fn wt_handle() -> i32 {
    wasmtask::serve_routes(&[Route::raw("POST", "/jwt", issue), Route::raw("*", "/bearer", bearer)])
}

fn text(res: &mut Response, status: u16, body: &str) {
    res.status(status);
    res.set_header("content-type", "text/plain; charset=utf-8");
    res.write_str(body);
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Username and password from a JSON body, else from the query.
fn credentials(ctx: &Context) -> (String, String) {
    let body = String::from_utf8(ctx.body()).unwrap_or_default();
    if let (Some(u), Some(p)) = (json::get_str(&body, "username"), json::get_str(&body, "password")) {
        return (u, p);
    }
    (ctx.query("username").unwrap_or_default(), ctx.query("password").unwrap_or_default())
}

fn issue(ctx: &Context, res: &mut Response) {
    let key = match ctx.secret("jwt-secret") {
        Some(k) if !k.is_empty() => k,
        _ => return text(res, 500, "jwt-secret is not set"),
    };
    let want_user = ctx.secret("username").unwrap_or_default();
    let want_pass = ctx.secret("password").unwrap_or_default();
    let (user, pass) = credentials(ctx);
    let (user_ok, pass_ok) = (same(user.as_bytes(), want_user.as_bytes()), same(pass.as_bytes(), want_pass.as_bytes()));
    if want_user.is_empty() || want_pass.is_empty() || !user_ok || !pass_ok {
        return text(res, 401, "Username or password is incorrect");
    }
    let iat = now();
    let claims = Object::new()
        .str("sub", &user)
        .str("iss", "twil.io")
        .str("org", "twilio")
        .raw("perms", r#"["read"]"#)
        .int("iat", iat)
        .int("exp", iat + DAY)
        .finish();
    res.set_header("access_token", &sign(key.as_bytes(), &claims));
    text(res, 200, "OK");
}

fn bearer(ctx: &Context, res: &mut Response) {
    let key = ctx.secret("jwt-secret").unwrap_or_default();
    let header = ctx.header("authorization").unwrap_or_default();
    let ok = match header.strip_prefix("Bearer ") {
        Some(token) if !key.is_empty() => verify(key.as_bytes(), token, now()),
        _ => false,
    };
    if !ok {
        res.set_header("www-authenticate", r#"Bearer realm="Access to read salaries""#);
        return text(res, 401, "Unauthorized");
    }
    res.status(200);
    res.set_header("content-type", "application/json");
    res.write_str(SALARIES);
}

// ---- JWT HS256 -----------------------------------------------------------

/// An HS256 JWT of the claims (a JSON object).
fn sign(key: &[u8], claims: &str) -> String {
    let mut token = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    token.push('.');
    token.push_str(&b64url_encode(claims.as_bytes()));
    let mac = hmac_sha256(key, token.as_bytes());
    token.push('.');
    token.push_str(&b64url_encode(&mac));
    token
}

/// A token is valid when its header says HS256, its signature matches and
/// its exp (required) is still in the future.
fn verify(key: &[u8], token: &str, now: i64) -> bool {
    let mut parts = token.split('.');
    let (h, p, s) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => return false,
    };
    let header = match b64url_decode(h).and_then(|b| String::from_utf8(b).ok()) {
        Some(v) => v,
        None => return false,
    };
    if json::get_str(&header, "alg").as_deref() != Some("HS256") {
        return false;
    }
    let sig = match b64url_decode(s) {
        Some(v) => v,
        None => return false,
    };
    let signed = &token[..h.len() + 1 + p.len()];
    if !same(&hmac_sha256(key, signed.as_bytes()), &sig) {
        return false;
    }
    let payload = match b64url_decode(p).and_then(|b| String::from_utf8(b).ok()) {
        Some(v) => v,
        None => return false,
    };
    matches!(json::get_int(&payload, "exp"), Some(exp) if exp > now)
}

/// Compares without an early exit, so timing does not tell how much matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- base64url without padding (RFC 4648 §5, as JWT uses it) --------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity((data.len() + 2) / 3 * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

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
        return None; // non-canonical trailing bits
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

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    // Padding: 0x80, zeros to 56 mod 64, then the length in bits, big-endian.
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
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
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(msg);
    let mut outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha256(&inner));
    sha256(&outer)
}
