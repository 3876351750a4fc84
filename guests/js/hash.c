/*
 * hash.c — MD5 (RFC 1321), SHA-1, SHA-224, SHA-256, SHA-384, SHA-512
 * (FIPS 180-4) and HMAC (RFC 2104) for the engine's crypto.createHash and
 * crypto.createHmac, written from those specifications.
 *
 * The six digests share one Merkle–Damgård driver (ctx_init/update/final):
 * an algorithm supplies its sizes, initial state and block function, and
 * the driver buffers input, pads (0x80, zeros, message length in bits) and
 * serialises the state. MD5 uses little-endian words and length, the SHAs
 * big-endian; SHA-384/512 use 64-bit words, 128-byte blocks and a 128-bit
 * length. SHA-224 and SHA-384 are SHA-256 and SHA-512 with another initial
 * state, truncated.
 */
#include <string.h>

#include "hash.h"

typedef struct ctx ctx;

typedef struct {
    const char *name, *alias;   /* alias: Node's "sha-N" spelling, or NULL */
    uint8_t size, block;        /* digest and block size in bytes */
    uint8_t wide;               /* 64-bit words (SHA-384/512) */
    uint8_t le;                 /* little-endian (MD5) */
    const void *iv;             /* initial state, size ivlen bytes */
    uint8_t ivlen;
    void (*compress)(ctx *, const uint8_t *);
} alg;

struct ctx {
    const alg *a;
    union { uint32_t w[8]; uint64_t d[8]; } h;
    uint8_t buf[128];
    size_t fill;                /* bytes in buf */
    uint64_t len;               /* bytes hashed so far */
};

static uint32_t rol(uint32_t x, int n) { return x << n | x >> (32 - n); }
static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }
static uint64_t ror64(uint64_t x, int n) { return x >> n | x << (64 - n); }

static uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get64be(const uint8_t *p)
{
    return (uint64_t)get32be(p) << 32 | get32be(p + 4);
}

/* ---- MD5 (RFC 1321 section 3.4) ---- */

/* T[i] = floor(2^32 * abs(sin(i + 1))) */
static const uint32_t md5_t[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
/* rotation amounts, four per round */
static const uint8_t md5_s[16] = { 7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21 };

static void md5_block(ctx *c, const uint8_t *p)
{
    uint32_t x[16], a = c->h.w[0], b = c->h.w[1], cc = c->h.w[2], d = c->h.w[3], f, t;
    int i, k;

    for (i = 0; i < 16; i++)
        x[i] = get32le(p + 4 * i);
    for (i = 0; i < 64; i++) {
        switch (i >> 4) {
        case 0:  f = (b & cc) | (~b & d); k = i;         break;  /* F */
        case 1:  f = (b & d) | (cc & ~d); k = 5 * i + 1; break;  /* G */
        case 2:  f = b ^ cc ^ d;          k = 3 * i + 5; break;  /* H */
        default: f = cc ^ (b | ~d);       k = 7 * i;     break;  /* I */
        }
        t = d;
        d = cc;
        cc = b;
        b += rol(a + f + md5_t[i] + x[k & 15], md5_s[(i >> 4) * 4 + (i & 3)]);
        a = t;
    }
    c->h.w[0] += a;
    c->h.w[1] += b;
    c->h.w[2] += cc;
    c->h.w[3] += d;
}

/* ---- SHA-1 (FIPS 180-4 section 6.1) ---- */

static void sha1_block(ctx *c, const uint8_t *p)
{
    uint32_t w[80], a = c->h.w[0], b = c->h.w[1], cc = c->h.w[2], d = c->h.w[3], e = c->h.w[4], f, k, t;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = get32be(p + 4 * i);
    for (; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (i = 0; i < 80; i++) {
        if (i < 20)      f = (b & cc) ^ (~b & d),           k = 0x5a827999;  /* Ch */
        else if (i < 40) f = b ^ cc ^ d,                    k = 0x6ed9eba1;  /* Parity */
        else if (i < 60) f = (b & cc) ^ (b & d) ^ (cc & d), k = 0x8f1bbcdc;  /* Maj */
        else             f = b ^ cc ^ d,                    k = 0xca62c1d6;
        t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = rol(b, 30);
        b = a;
        a = t;
    }
    c->h.w[0] += a;
    c->h.w[1] += b;
    c->h.w[2] += cc;
    c->h.w[3] += d;
    c->h.w[4] += e;
}

/* ---- SHA-2 (FIPS 180-4 sections 4.2.2, 4.2.3, 6.2, 6.4) ---- */

/* K: the first 64 bits of the fractional parts of the cube roots of the
 * first 80 primes. SHA-256's K are the first 32 bits of the first 64. */
static const uint64_t sha512_k[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull, 0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};

#define CH(x, y, z)  (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))

static void sha256_block(ctx *c, const uint8_t *p)
{
    uint32_t w[64], v[8], t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = get32be(p + 4 * i);
    for (; i < 64; i++)
        w[i] = (ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
               (ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    memcpy(v, c->h.w, sizeof v);
    for (i = 0; i < 64; i++) {
        /* v = a b c d e f g h */
        t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) + CH(v[4], v[5], v[6]) +
             (uint32_t)(sha512_k[i] >> 32) + w[i];
        t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) + MAJ(v[0], v[1], v[2]);
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        c->h.w[i] += v[i];
}

static void sha512_block(ctx *c, const uint8_t *p)
{
    uint64_t w[80], v[8], t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = get64be(p + 8 * i);
    for (; i < 80; i++)
        w[i] = (ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6)) + w[i - 7] +
               (ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7)) + w[i - 16];
    memcpy(v, c->h.d, sizeof v);
    for (i = 0; i < 80; i++) {
        t1 = v[7] + (ror64(v[4], 14) ^ ror64(v[4], 18) ^ ror64(v[4], 41)) + CH(v[4], v[5], v[6]) +
             sha512_k[i] + w[i];
        t2 = (ror64(v[0], 28) ^ ror64(v[0], 34) ^ ror64(v[0], 39)) + MAJ(v[0], v[1], v[2]);
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++)
        c->h.d[i] += v[i];
}

/* ---- initial states and the algorithm table ---- */

static const uint32_t md5_iv[4] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476 };
static const uint32_t sha1_iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
static const uint32_t sha224_iv[8] = {
    0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4,
};
static const uint32_t sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};
static const uint64_t sha384_iv[8] = {
    0xcbbb9d5dc1059ed8ull, 0x629a292a367cd507ull, 0x9159015a3070dd17ull, 0x152fecd8f70e5939ull,
    0x67332667ffc00b31ull, 0x8eb44a8768581511ull, 0xdb0c2e0d64f98fa7ull, 0x47b5481dbefa4fa4ull,
};
static const uint64_t sha512_iv[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
    0x510e527fade682d1ull, 0x9b05688c2b3e6c1full, 0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull,
};

#define IV(x) x, sizeof x
static const alg algs[] = {
    { "md5",    NULL,      16, 64,  0, 1, IV(md5_iv),    md5_block },
    { "sha1",   "sha-1",   20, 64,  0, 0, IV(sha1_iv),   sha1_block },
    { "sha224", NULL,      28, 64,  0, 0, IV(sha224_iv), sha256_block },
    { "sha256", "sha-256", 32, 64,  0, 0, IV(sha256_iv), sha256_block },
    { "sha384", "sha-384", 48, 128, 1, 0, IV(sha384_iv), sha512_block },
    { "sha512", "sha-512", 64, 128, 1, 0, IV(sha512_iv), sha512_block },
};

static int name_is(const char *s, const char *name)
{
    if (!name)
        return 0;
    for (; *s && *name; s++, name++)
        if ((*s >= 'A' && *s <= 'Z' ? *s + 32 : *s) != *name)
            return 0;
    return *s == *name;
}

static const alg *find(const char *name)
{
    size_t i;

    for (i = 0; name && i < sizeof algs / sizeof algs[0]; i++)
        if (name_is(name, algs[i].name) || name_is(name, algs[i].alias))
            return &algs[i];
    return NULL;
}

/* ---- the driver: init, update, final ---- */

static void ctx_init(ctx *c, const alg *a)
{
    c->a = a;
    memcpy(&c->h, a->iv, a->ivlen);
    c->fill = 0;
    c->len = 0;
}

static void ctx_update(ctx *c, const uint8_t *p, size_t n)
{
    size_t bs = c->a->block, k;

    if (!n)
        return;
    c->len += n;
    if (c->fill) {
        k = bs - c->fill < n ? bs - c->fill : n;
        memcpy(c->buf + c->fill, p, k);
        c->fill += k;
        p += k;
        n -= k;
        if (c->fill < bs)
            return;
        c->a->compress(c, c->buf);
        c->fill = 0;
    }
    for (; n >= bs; p += bs, n -= bs)
        c->a->compress(c, p);
    if (n)
        memcpy(c->buf, p, n);
    c->fill = n;
}

static void ctx_final(ctx *c, uint8_t *out)
{
    const alg *a = c->a;
    size_t bs = a->block, i;
    uint64_t bits = c->len << 3;
    uint8_t *b = c->buf;

    /* 0x80, zeros, then the length in bits in the last 8 (16) bytes */
    b[c->fill++] = 0x80;
    if (c->fill > bs - (a->wide ? 16 : 8)) {
        memset(b + c->fill, 0, bs - c->fill);
        a->compress(c, b);
        c->fill = 0;
    }
    memset(b + c->fill, 0, bs - c->fill);
    for (i = 0; i < 8; i++)
        b[a->le ? bs - 8 + i : bs - 1 - i] = (uint8_t)(bits >> 8 * i);
    if (a->wide)
        b[bs - 9] = (uint8_t)(c->len >> 61);  /* bits 64..66 of the 128-bit length */
    a->compress(c, b);

    for (i = 0; i < a->size; i++)
        out[i] = a->wide ? (uint8_t)(c->h.d[i / 8] >> (56 - 8 * (i % 8)))
               : a->le   ? (uint8_t)(c->h.w[i / 4] >> (8 * (i % 4)))
                         : (uint8_t)(c->h.w[i / 4] >> (24 - 8 * (i % 4)));
}

/* ---- API ---- */

size_t wt_hash_size(const char *name)
{
    const alg *a = find(name);

    return a ? a->size : 0;
}

size_t wt_hash(const char *name, const uint8_t *data, size_t n, uint8_t *out)
{
    const alg *a = find(name);
    ctx c;

    if (!a)
        return 0;
    ctx_init(&c, a);
    ctx_update(&c, data, n);
    ctx_final(&c, out);
    return a->size;
}

/* RFC 2104: H((K ^ opad) || H((K ^ ipad) || data)), K zero-padded to the
 * block size (or first replaced by H(K) if longer). */
size_t wt_hmac(const char *name, const uint8_t *key, size_t klen, const uint8_t *data, size_t n,
               uint8_t *out)
{
    const alg *a = find(name);
    uint8_t k[128], inner[WT_HASH_MAX];
    size_t i;
    ctx c;

    if (!a)
        return 0;
    memset(k, 0, sizeof k);
    if (klen > a->block) {
        ctx_init(&c, a);
        ctx_update(&c, key, klen);
        ctx_final(&c, k);
    } else if (klen) {
        memcpy(k, key, klen);
    }
    for (i = 0; i < a->block; i++)
        k[i] ^= 0x36;                    /* ipad */
    ctx_init(&c, a);
    ctx_update(&c, k, a->block);
    ctx_update(&c, data, n);
    ctx_final(&c, inner);
    for (i = 0; i < a->block; i++)
        k[i] ^= 0x36 ^ 0x5c;             /* ipad -> opad */
    ctx_init(&c, a);
    ctx_update(&c, k, a->block);
    ctx_update(&c, inner, a->size);
    ctx_final(&c, out);
    return a->size;
}
