/*
 * work — three pieces of real work behind one webtask, for bench/'s `work`
 * section (issue 17), answering exactly what its native Go baseline
 * (bench/work.go) answers:
 *
 *   POST /json   a ~2 KB JSON document (bench/testdata/work.json):
 *                {"id": <order.customer.id>}, 400 when it is not there
 *   POST /jwt    Authorization: Bearer <HS256 token> (seed 003's claims),
 *                key the secret jwt-secret: {"sub": <sub>}, else 401
 *                Unauthorized (bad header, alg, signature, no or past exp)
 *   POST /hmac   any body (the harness sends 64 KiB), key the secret
 *                hmac-key: {"hmac": <hex HMAC-SHA256 of the body>}
 *
 * The JSON is read with the SDK's scanner (wt_json_member, wt_json_string:
 * order, then customer, then id — "order" is the document's last member,
 * so the whole body is scanned). SHA-256 and HMAC are the JavaScript
 * engine's own (guests/js/hash.c, FIPS 180-4 and RFC 2104), included here
 * so the C guests share one implementation.
 */
#include <string.h>
#include <time.h>

#include "wasmtask.h"

#include "../../js/hash.c"

static void answer(const char *key, const char *value, size_t len) {
	wt_buf out = {0};
	wt_buf_str(&out, "{\"");
	wt_buf_str(&out, key);
	wt_buf_str(&out, "\":");
	wt_buf_json_str(&out, value, len);
	wt_buf_str(&out, "}");
	wt_result(out.data, out.len);
}

static int json_field(void) {
	wt_bytes body = wt_body();
	wt_bytes order = wt_json_member(body.data, body.len, "order");
	wt_bytes customer = wt_json_member(order.data, order.len, "customer");
	const char *id = wt_json_string(customer.data, customer.len, "id");
	if (id == NULL) {
		wt_error(400, "no order.customer.id in the body");
		return 0;
	}
	answer("id", id, strlen(id));
	return 0;
}

/* ---- base64url without padding (RFC 4648 section 5), as JWT uses it ---- */

static int b64val(unsigned char c) {
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes s[0:n) into the arena; *out_len the length. NULL when s is not
 * canonical base64url (a bad character, an impossible length, non-zero
 * trailing bits). The result is NUL-terminated. */
static uint8_t *b64url_decode(const char *s, size_t n, size_t *out_len) {
	if (n % 4 == 1)
		return NULL;
	uint8_t *out = wt_alloc(n * 3 / 4 + 1);
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return NULL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return NULL;
	out[k] = 0;
	*out_len = k;
	return out;
}

/* Compares without an early exit. */
static int same(const uint8_t *a, const uint8_t *b, size_t n) {
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

/* A decimal integer member of a JSON object; 0 when missing or not one. */
static int json_int(const char *json, size_t len, const char *key, long long *v) {
	wt_bytes m = wt_json_member(json, len, key);
	if (m.data == NULL || m.len == 0 || m.len > 18)
		return 0;
	long long x = 0;
	for (size_t i = 0; i < m.len; i++) {
		if (m.data[i] < '0' || m.data[i] > '9')
			return 0;
		x = x * 10 + (m.data[i] - '0');
	}
	*v = x;
	return 1;
}

/* The sub claim of a valid token, or NULL: header alg HS256, the signature
 * HMAC-SHA256(key, header.payload), an exp in the future. */
static const char *verify(const char *token, const char *key) {
	const char *dot1 = strchr(token, '.');
	const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	if (dot2 == NULL || strchr(dot2 + 1, '.') != NULL)
		return NULL;
	size_t hlen, plen, slen;
	uint8_t *header = b64url_decode(token, (size_t)(dot1 - token), &hlen);
	if (header == NULL)
		return NULL;
	const char *alg = wt_json_string((const char *)header, hlen, "alg");
	if (alg == NULL || strcmp(alg, "HS256") != 0)
		return NULL;
	uint8_t *sig = b64url_decode(dot2 + 1, strlen(dot2 + 1), &slen);
	uint8_t mac[32];
	if (sig == NULL || slen != sizeof mac)
		return NULL;
	wt_hmac("sha256", (const uint8_t *)key, strlen(key), (const uint8_t *)token, (size_t)(dot2 - token), mac);
	if (!same(mac, sig, sizeof mac))
		return NULL;
	uint8_t *payload = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &plen);
	long long exp;
	if (payload == NULL || !json_int((const char *)payload, plen, "exp", &exp) || exp <= (long long)time(NULL))
		return NULL;
	return wt_json_string((const char *)payload, plen, "sub");
}

static int jwt(void) {
	const char *key = wt_secret("jwt-secret");
	const char *auth = wt_header("authorization");
	const char *sub = NULL;
	if (key != NULL && *key != 0 && auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
		sub = verify(auth + 7, key);
	if (sub == NULL) {
		wt_error(401, "Unauthorized");
		return 0;
	}
	answer("sub", sub, strlen(sub));
	return 0;
}

static int hmac(void) {
	const char *key = wt_secret("hmac-key");
	if (key == NULL || *key == 0) {
		wt_error(500, "hmac-key is not set");
		return 0;
	}
	wt_bytes body = wt_body();
	if (body.data == NULL)
		body.data = "";
	uint8_t mac[32];
	char hex[64];
	wt_hmac("sha256", (const uint8_t *)key, strlen(key), (const uint8_t *)body.data, body.len, mac);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[mac[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
	}
	answer("hmac", hex, sizeof hex);
	return 0;
}

int wasmtask_handle(void) {
	static const wt_route routes[] = {
		{"POST", "/json", json_field},
		{"POST", "/jwt", jwt},
		{"POST", "/hmac", hmac},
	};
	return WT_ROUTES(routes);
}
