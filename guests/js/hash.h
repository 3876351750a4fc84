/*
 * hash.h — message digests (MD5, SHA-1, SHA-224/256/384/512) and HMAC for
 * the JavaScript engine's crypto.createHash / crypto.createHmac.
 */
#ifndef WT_HASH_H
#define WT_HASH_H
#include <stddef.h>
#include <stdint.h>

/* Largest digest size wt_hash_size can return (SHA-512). */
#define WT_HASH_MAX 64

/* wt_hash_size returns the digest size in bytes of algorithm alg
 * ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"; also accept the
 * Node aliases "sha-1", "sha-256", "sha-384", "sha-512" case-insensitively), 0 if unknown. */
size_t wt_hash_size(const char *alg);
/* wt_hash writes the digest of data[0:n] into out (wt_hash_size(alg) bytes). Returns the size, 0 if alg is unknown. */
size_t wt_hash(const char *alg, const uint8_t *data, size_t n, uint8_t *out);
/* wt_hmac writes HMAC(key, data) into out; returns the size, 0 if alg is unknown. Keys longer than the block size are hashed first, as RFC 2104 says. */
size_t wt_hmac(const char *alg, const uint8_t *key, size_t klen, const uint8_t *data, size_t n, uint8_t *out);

#endif
