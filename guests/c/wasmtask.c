/*
 * wasmtask.c — the C guest SDK for wasmtask (see wasmtask.h, abi/SPEC.md).
 */
#include "wasmtask.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The request arena -------------------------------------------------- */

typedef struct block {
	struct block *next;
} block;

static block *arena;

void *wt_alloc(size_t n) {
	block *b = malloc(sizeof(block) + n + 1);
	if (b == NULL)
		__builtin_trap(); /* out of memory: the host answers 500 */
	b->next = arena;
	arena = b;
	return (char *)(b + 1);
}

static void arena_free(void) {
	while (arena != NULL) {
		block *next = arena->next;
		free(arena);
		arena = next;
	}
}

/* ---- The buffer rule ---------------------------------------------------- */

/* Values up to this size are read with one host call. */
static char scratch[1024];

enum { SRC_FIELD, SRC_VALUE, SRC_MAP, SRC_HTTP };

static int32_t host_read(int src, int32_t id, const char *key, size_t key_len, void *buf, int32_t len) {
	switch (src) {
	case SRC_FIELD:
		return wt_host_get(id, buf, len);
	case SRC_VALUE:
		return wt_host_get_value(id, key, (int32_t)key_len, buf, len);
	case SRC_HTTP:
		return wt_host_http_response(id, buf, len);
	default:
		return wt_host_get_map(id, buf, len);
	}
}

/* read returns the value copied into the arena, NUL-terminated. */
static wt_bytes read_value(int src, int32_t id, const char *key, size_t key_len) {
	wt_bytes out = {NULL, 0};
	int32_t n = host_read(src, id, key, key_len, scratch, (int32_t)sizeof scratch);
	if (n < 0)
		return out;
	char *p = wt_alloc((size_t)n);
	if ((size_t)n <= sizeof scratch) {
		memcpy(p, scratch, (size_t)n);
	} else {
		/* The value did not fit: ask again with a buffer of its size. The
		 * value cannot change within a request (an outbound response
		 * stays until the next call). */
		n = host_read(src, id, key, key_len, p, n);
	}
	p[n] = 0;
	out.data = p;
	out.len = (size_t)n;
	return out;
}

/* ---- Reading the request ------------------------------------------------ */

static const char *fields[WT_FIELD_REQUEST_ID + 1];

wt_bytes wt_field(int32_t field) { return read_value(SRC_FIELD, field, NULL, 0); }

static const char *scalar(int32_t f) {
	if (fields[f] == NULL) {
		wt_bytes b = wt_field(f);
		fields[f] = b.data != NULL ? b.data : "";
	}
	return fields[f];
}

const char *wt_method(void) { return scalar(WT_FIELD_METHOD); }
const char *wt_path(void) { return scalar(WT_FIELD_PATH); }
const char *wt_raw_query(void) { return scalar(WT_FIELD_QUERY); }
const char *wt_container(void) { return scalar(WT_FIELD_CONTAINER); }
const char *wt_name(void) { return scalar(WT_FIELD_NAME); }
const char *wt_request_id(void) { return scalar(WT_FIELD_REQUEST_ID); }
wt_bytes wt_body(void) { return wt_field(WT_FIELD_BODY); }
wt_bytes wt_context_json(void) { return wt_field(WT_FIELD_CONTEXT_JSON); }
wt_bytes wt_user_json(void) { return wt_field(WT_FIELD_USER); }

wt_bytes wt_value(int32_t map, const char *key, size_t key_len) {
	return read_value(SRC_VALUE, map, key, key_len);
}

static const char *value(int32_t map, const char *key) { return wt_value(map, key, strlen(key)).data; }

const char *wt_query(const char *key) { return value(WT_MAP_QUERY, key); }
const char *wt_header(const char *name) { return value(WT_MAP_HEADERS, name); }
const char *wt_secret(const char *key) { return value(WT_MAP_SECRETS, key); }
const char *wt_param(const char *key) { return value(WT_MAP_PARAMS, key); }
const char *wt_meta(const char *key) { return value(WT_MAP_META, key); }
const char *wt_data(const char *key) { return value(WT_MAP_DATA, key); }
const char *wt_user(const char *claim) { return value(WT_MAP_USER, claim); }

wt_map_iter wt_map(int32_t map) {
	wt_bytes b = read_value(SRC_MAP, map, NULL, 0);
	wt_map_iter it = {b.data, b.data + b.len, b.data != NULL};
	return it;
}

int wt_map_next(wt_map_iter *it, const char **key, const char **val) {
	if (it->p == NULL || it->p >= it->end)
		return 0;
	const char *k = it->p;
	const char *k_end = memchr(k, 0, (size_t)(it->end - k));
	if (k_end == NULL)
		return 0;
	const char *v = k_end + 1;
	const char *v_end = v < it->end ? memchr(v, 0, (size_t)(it->end - v)) : NULL;
	if (v_end == NULL)
		return 0;
	*key = k;
	*val = v;
	it->p = v_end + 1;
	return 1;
}

/* ---- Answering ---------------------------------------------------------- */

void wt_result(const char *json, size_t len) { wt_host_result(json, (int32_t)len); }
void wt_result_str(const char *json) { wt_result(json, strlen(json)); }
void wt_error(int status, const char *msg) { wt_host_error(status, msg, (int32_t)strlen(msg)); }

void wt_set_status(int status) { wt_host_set_status(status); }
void wt_set_header(const char *name, const char *val) {
	wt_host_set_header(name, (int32_t)strlen(name), val, (int32_t)strlen(val));
}
void wt_add_header(const char *name, const char *val) {
	wt_host_add_header(name, (int32_t)strlen(name), val, (int32_t)strlen(val));
}
void wt_write(const void *data, size_t len) { wt_host_write_body(data, (int32_t)len); }
void wt_write_str(const char *s) { wt_write(s, strlen(s)); }

/* ---- Logging ------------------------------------------------------------ */

void wt_log(int level, const char *msg) { wt_host_log(level, msg, (int32_t)strlen(msg)); }

void wt_logf(int level, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(scratch, sizeof scratch, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof scratch) {
		wt_host_log(level, scratch, n);
		return;
	}
	char *p = wt_alloc((size_t)n);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	wt_host_log(level, p, n);
}

/* ---- JSON buffer -------------------------------------------------------- */

void wt_buf_write(wt_buf *b, const void *data, size_t len) {
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + len)
			cap *= 2;
		char *p = wt_alloc(cap);
		if (b->len)
			memcpy(p, b->data, b->len);
		b->data = p; /* the old block is freed with the arena */
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = 0; /* wt_alloc leaves room for it */
}

void wt_buf_str(wt_buf *b, const char *s) { wt_buf_write(b, s, strlen(s)); }

void wt_buf_int(wt_buf *b, long long n) {
	char tmp[24];
	int len = snprintf(tmp, sizeof tmp, "%lld", n);
	wt_buf_write(b, tmp, (size_t)len);
}

void wt_buf_json_str(wt_buf *b, const char *s, size_t len) {
	static const char hex[] = "0123456789abcdef";
	if (s == NULL) {
		wt_buf_str(b, "null");
		return;
	}
	wt_buf_write(b, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		wt_buf_write(b, s + start, i - start);
		start = i + 1;
		switch (c) {
		case '"':
			wt_buf_write(b, "\\\"", 2);
			break;
		case '\\':
			wt_buf_write(b, "\\\\", 2);
			break;
		case '\n':
			wt_buf_write(b, "\\n", 2);
			break;
		case '\r':
			wt_buf_write(b, "\\r", 2);
			break;
		case '\t':
			wt_buf_write(b, "\\t", 2);
			break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			wt_buf_write(b, u, 6);
		}
		}
	}
	wt_buf_write(b, s + start, len - start);
	wt_buf_write(b, "\"", 1);
}

void wt_buf_json_cstr(wt_buf *b, const char *s) { wt_buf_json_str(b, s, s ? strlen(s) : 0); }

/* ---- JSON reading ----------------------------------------------------- */

typedef struct {
	const char *p, *end;
} jscan;

static void js_ws(jscan *s) {
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int js_hex4(const char *p, unsigned *out) {
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return 0;
	}
	*out = v;
	return 1;
}

/* js_string reads a JSON string at s->p; with out != NULL it appends the
 * unescaped bytes. Returns 0 on malformed input. */
static int js_string(jscan *s, wt_buf *out) {
	if (s->p >= s->end || *s->p != '"')
		return 0;
	s->p++;
	while (s->p < s->end) {
		unsigned char c = (unsigned char)*s->p++;
		if (c == '"')
			return 1;
		if (c < 0x20)
			return 0;
		if (c != '\\') {
			if (out)
				wt_buf_write(out, &c, 1);
			continue;
		}
		if (s->p >= s->end)
			return 0;
		char e = *s->p++, ch;
		switch (e) {
		case '"': case '\\': case '/': ch = e; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (s->end - s->p < 4 || !js_hex4(s->p, &cp))
				return 0;
			s->p += 4;
			if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
				if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' || !js_hex4(s->p + 2, &lo) ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return 0;
				s->p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			unsigned char u[4];
			size_t n;
			if (cp < 0x80) {
				u[0] = (unsigned char)cp, n = 1;
			} else if (cp < 0x800) {
				u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F)), n = 2;
			} else if (cp < 0x10000) {
				u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
				u[2] = (unsigned char)(0x80 | (cp & 0x3F)), n = 3;
			} else {
				u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
				u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F)), n = 4;
			}
			if (out)
				wt_buf_write(out, u, n);
			continue;
		}
		default:
			return 0;
		}
		if (out)
			wt_buf_write(out, &ch, 1);
	}
	return 0;
}

/* js_skip skips one value: a string, an object or array (by nesting), or a
 * literal or number. */
static int js_skip(jscan *s) {
	if (s->p >= s->end)
		return 0;
	if (*s->p == '"')
		return js_string(s, NULL);
	if (*s->p == '{' || *s->p == '[') {
		int depth = 0;
		while (s->p < s->end) {
			char c = *s->p;
			if (c == '"') {
				if (!js_string(s, NULL))
					return 0;
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0) {
				s->p++;
				return 1;
			}
			s->p++;
		}
		return 0;
	}
	const char *start = s->p;
	while (s->p < s->end && (isalnum((unsigned char)*s->p) || *s->p == '-' || *s->p == '+' || *s->p == '.'))
		s->p++;
	return s->p > start;
}

const char *wt_json_string(const char *json, size_t len, const char *key) {
	if (json == NULL)
		return NULL;
	jscan s = {json, json + len};
	js_ws(&s);
	if (s.p >= s.end || *s.p++ != '{')
		return NULL;
	js_ws(&s);
	if (s.p < s.end && *s.p == '}')
		return NULL;
	for (;;) {
		wt_buf k = {0};
		js_ws(&s);
		if (!js_string(&s, &k))
			return NULL;
		js_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			return NULL;
		js_ws(&s);
		if (k.data != NULL && strcmp(k.data, key) == 0 && s.p < s.end && *s.p == '"') {
			wt_buf v = {0};
			if (!js_string(&s, &v))
				return NULL;
			return v.data != NULL ? v.data : "";
		}
		if (k.data == NULL && *key == 0 && s.p < s.end && *s.p == '"') {
			wt_buf v = {0};
			return js_string(&s, &v) ? (v.data != NULL ? v.data : "") : NULL;
		}
		if (!js_skip(&s))
			return NULL;
		js_ws(&s);
		if (s.p >= s.end || *s.p++ != ',')
			return NULL;
	}
}

wt_bytes wt_json_member(const char *json, size_t len, const char *key) {
	wt_bytes out = {NULL, 0};
	if (json == NULL)
		return out;
	jscan s = {json, json + len};
	js_ws(&s);
	if (s.p >= s.end || *s.p++ != '{')
		return out;
	js_ws(&s);
	if (s.p < s.end && *s.p == '}')
		return out;
	for (;;) {
		wt_buf k = {0};
		js_ws(&s);
		if (!js_string(&s, &k))
			return out;
		js_ws(&s);
		if (s.p >= s.end || *s.p++ != ':')
			return out;
		js_ws(&s);
		const char *start = s.p;
		if (!js_skip(&s))
			return out;
		if (strcmp(k.data != NULL ? k.data : "", key) == 0) {
			out.len = (size_t)(s.p - start);
			char *p = wt_alloc(out.len);
			memcpy(p, start, out.len);
			p[out.len] = 0;
			out.data = p;
			return out;
		}
		js_ws(&s);
		if (s.p >= s.end || *s.p++ != ',')
			return out;
	}
}

long long wt_atoi(const char *s, long long def) {
	if (s == NULL || *s == 0)
		return def;
	int neg = *s == '-';
	if (neg || *s == '+')
		s++;
	if (*s == 0)
		return def;
	long long n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > 100000000000LL)
			return def;
		n = n * 10 + (*s - '0');
	}
	return neg ? -n : n;
}

/* ---- Storage ------------------------------------------------------------ */

static int storage_result(int32_t n) {
	switch (n) {
	case WT_NOT_FOUND:
		return WT_STORAGE_NONE;
	case WT_STORAGE_CONFLICT:
	case WT_STORAGE_TOO_LARGE:
		return n;
	default:
		return WT_STORAGE_FAILED;
	}
}

int wt_storage_get(wt_storage *out) {
	out->data.data = NULL;
	out->data.len = 0;
	out->etag = NULL;
	/* The buffer rule, but in a loop: unlike the request's values, the
	 * document may grow between two calls (another request wrote it). */
	char *buf = scratch;
	int32_t cap = (int32_t)sizeof scratch, n;
	while ((n = wt_host_storage_get(buf, cap)) > cap) {
		buf = wt_alloc((size_t)n);
		cap = n;
	}
	if (n < 0)
		return storage_result(n);
	wt_bytes data = wt_json_member(buf, (size_t)n, "data");
	const char *etag = wt_json_string(buf, (size_t)n, "etag");
	if (data.data == NULL || etag == NULL)
		return WT_STORAGE_FAILED;
	if (strcmp(data.data, "null") != 0)
		out->data = data;
	out->etag = etag;
	return WT_STORAGE_OK;
}

int wt_storage_set(const char *json, size_t len, const char *etag, int flags, const char **new_etag) {
	char buf[64]; /* an etag is at most 32 bytes (abi/SPEC.md) */
	if (etag == NULL)
		etag = "";
	int32_t n = wt_host_storage_set(json, (int32_t)len, etag, (int32_t)strlen(etag), flags, buf, (int32_t)sizeof buf);
	if (n < 0)
		return storage_result(n);
	if ((size_t)n > sizeof buf) /* cannot happen: the host's etags are short */
		return WT_STORAGE_FAILED;
	if (new_etag != NULL) {
		char *p = wt_alloc((size_t)n);
		memcpy(p, buf, (size_t)n);
		p[n] = 0;
		*new_etag = p;
	}
	return WT_STORAGE_OK;
}

const char *wt_storage_strerror(int rc) {
	switch (rc) {
	case WT_STORAGE_OK:
		return "ok";
	case WT_STORAGE_NONE:
		return "this run has no storage (only a named webtask has one)";
	case WT_STORAGE_CONFLICT:
		return "storage: the data changed since it was read";
	case WT_STORAGE_TOO_LARGE:
		return "storage: the data is over the 500 KB limit";
	default:
		return "storage: the call failed (see the log)";
	}
}

/* ---- Outbound HTTP -------------------------------------------------------- */

static const char *fetch_err; /* the last failed call's reason, in the arena */

int wt_fetch(const wt_fetch_req *req, wt_fetch_resp *out) {
	out->status = 0;
	out->headers.data = out->body.data = "";
	out->headers.len = out->body.len = 0;
	fetch_err = NULL;
	wt_buf h = {0};
	for (size_t i = 0; i < req->nheaders; i++) {
		wt_buf_write(&h, req->headers[i].name, strlen(req->headers[i].name) + 1);
		wt_buf_write(&h, req->headers[i].value, strlen(req->headers[i].value) + 1);
	}
	const char *method = req->method != NULL ? req->method : "";
	const char *url = req->url != NULL ? req->url : "";
	int32_t st = wt_host_http_request(method, (int32_t)strlen(method), url, (int32_t)strlen(url), h.data,
	                                  (int32_t)h.len, req->body, req->body != NULL ? (int32_t)req->body_len : 0);
	if (st < 0) {
		wt_bytes e = read_value(SRC_HTTP, WT_HTTP_PART_ERROR, NULL, 0);
		fetch_err = e.data != NULL ? e.data : "outbound HTTP failed";
		return st;
	}
	out->status = st;
	wt_bytes b = read_value(SRC_HTTP, WT_HTTP_PART_HEADERS, NULL, 0);
	if (b.data != NULL)
		out->headers = b;
	b = read_value(SRC_HTTP, WT_HTTP_PART_BODY, NULL, 0);
	if (b.data != NULL)
		out->body = b;
	return st;
}

const char *wt_fetch_error(void) { return fetch_err != NULL ? fetch_err : ""; }

wt_map_iter wt_fetch_headers(const wt_fetch_resp *resp) {
	wt_map_iter it = {resp->headers.data, resp->headers.data + resp->headers.len, 1};
	return it;
}

const char *wt_fetch_header(const wt_fetch_resp *resp, const char *name) {
	wt_map_iter it = wt_fetch_headers(resp);
	const char *k, *v;
	while (wt_map_next(&it, &k, &v))
		if (strcasecmp(k, name) == 0)
			return v;
	return NULL;
}

void wt_buf_urlencode(wt_buf *b, const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
			wt_buf_write(b, s, 1);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			wt_buf_write(b, e, 3);
		}
	}
}

/* ---- Router ------------------------------------------------------------- */

static size_t trimmed_len(const char *p) {
	size_t n = strlen(p);
	return n > 1 && p[n - 1] == '/' ? n - 1 : n;
}

static int route_matches(const wt_route *r, const char *method, const char *path) {
	if (r->method != NULL && strcmp(r->method, "*") != 0 && strcasecmp(r->method, method) != 0)
		return 0;
	size_t plen = strlen(r->pattern);
	if (plen > 0 && r->pattern[plen - 1] == '*')
		return strncmp(path, r->pattern, plen - 1) == 0;
	size_t a = trimmed_len(r->pattern), b = trimmed_len(path);
	return a == b && strncmp(r->pattern, path, a) == 0;
}

int wt_serve_routes(const wt_route *routes, size_t n) {
	const char *method = wt_method(), *path = wt_path();
	for (size_t i = 0; i < n; i++)
		if (route_matches(&routes[i], method, path))
			return routes[i].handle();
	if (strcmp(method, "HEAD") == 0)
		for (size_t i = 0; i < n; i++)
			if (route_matches(&routes[i], "GET", path))
				return routes[i].handle();
	wt_buf msg = {0}, b = {0};
	wt_buf_str(&msg, "no route for ");
	wt_buf_str(&msg, method);
	wt_buf_str(&msg, " ");
	wt_buf_str(&msg, path);
	wt_buf_str(&b, "{\"code\":404,\"message\":");
	wt_buf_json_str(&b, msg.data, msg.len);
	wt_buf_str(&b, "}");
	wt_set_status(404);
	wt_set_header("content-type", "application/json");
	wt_write(b.data, b.len);
	return 0;
}

/* ---- The export ---------------------------------------------------------- */

__attribute__((export_name("wt_handle"))) int32_t wt_handle(void) {
	memset(fields, 0, sizeof fields);
	int rc = wasmtask_handle();
	fflush(stdout);
	fflush(stderr);
	arena_free();
	memset(fields, 0, sizeof fields);
	fetch_err = NULL;
	return rc;
}

/* ---- Warm-up ------------------------------------------------------------ */

/* prewarm runs in _initialize (a constructor): the allocator sets itself
 * up on its first malloc, and doing that here puts it in the snapshot a
 * fresh instance is restored to, instead of redoing it in every fresh
 * request. */
__attribute__((constructor)) static void prewarm(void) {
	free(malloc(1));
}
