/*
 * wasmtask.h — the C guest SDK for wasmtask, host ABI v1 (abi/SPEC.md).
 *
 * A webtask in C is a WASI reactor that defines one function,
 *
 *     int wasmtask_handle(void);
 *
 * which the SDK calls once per request from the module's wt_handle export.
 * Answer in one of two programming models:
 *
 *   simple  wt_result("{\"ok\":true}")       -> 200 application/json
 *           wt_error(403, "Not Authorized")  -> 403 {"code":403,"error":"Script returned an error.","message":"Not Authorized"}
 *   raw     wt_set_status(201); wt_set_header("content-type", "text/plain"); wt_write_str("hi");
 *
 * or dispatch on method and path with wt_route (the Express style).
 *
 * Memory: every string or byte slice the SDK returns (wt_method, wt_query,
 * wt_body, wt_buf_*, ...) lives in a per-request arena that the SDK frees
 * after wasmtask_handle returns: never free it yourself, never keep it past
 * the request. Build with
 *
 *     clang-14 --target=wasm32-wasi -mexec-model=reactor -Os -I guests/c \
 *         -o hello.wasm hello.c guests/c/wasmtask.c -Wl,--strip-all
 *
 * (the SDK exports wt_handle itself; -mexec-model=reactor adds _initialize).
 */
#ifndef WASMTASK_H
#define WASMTASK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ABI constants (abi/abi.go) ---------------------------------------- */

enum {
	WT_FIELD_METHOD = 0,
	WT_FIELD_PATH = 1,
	WT_FIELD_QUERY = 2,
	WT_FIELD_BODY = 3,
	WT_FIELD_CONTAINER = 4,
	WT_FIELD_NAME = 5,
	WT_FIELD_REQUEST_ID = 6,
	WT_FIELD_CONTEXT_JSON = 7,
	WT_FIELD_USER = 8, /* the verified caller: JWT claims as JSON; WT_NOT_FOUND when none */
};

enum {
	WT_MAP_QUERY = 0,
	WT_MAP_HEADERS = 1,
	WT_MAP_SECRETS = 2,
	WT_MAP_PARAMS = 3,
	WT_MAP_META = 4,
	WT_MAP_DATA = 5,
	WT_MAP_USER = 6, /* the verified caller's claims; empty when none */
};

enum {
	WT_LOG_DEBUG = 0,
	WT_LOG_INFO = 1,
	WT_LOG_WARN = 2,
	WT_LOG_ERROR = 3,
};

#define WT_NOT_FOUND (-1)

/* ---- The host functions, as imported (wasmtask_v1.*) ------------------- */

#define WT_IMPORT(name) __attribute__((import_module("wasmtask_v1"), import_name(name)))

WT_IMPORT("get") int32_t wt_host_get(int32_t field, void *buf, int32_t buf_len);
WT_IMPORT("get_value") int32_t wt_host_get_value(int32_t map, const void *key, int32_t key_len, void *buf, int32_t buf_len);
WT_IMPORT("get_map") int32_t wt_host_get_map(int32_t map, void *buf, int32_t buf_len);
WT_IMPORT("set_status") void wt_host_set_status(int32_t status);
WT_IMPORT("set_header") void wt_host_set_header(const void *name, int32_t name_len, const void *value, int32_t value_len);
WT_IMPORT("add_header") void wt_host_add_header(const void *name, int32_t name_len, const void *value, int32_t value_len);
WT_IMPORT("write_body") void wt_host_write_body(const void *buf, int32_t buf_len);
WT_IMPORT("result") void wt_host_result(const void *buf, int32_t buf_len);
WT_IMPORT("error") void wt_host_error(int32_t status, const void *msg, int32_t msg_len);
WT_IMPORT("log") void wt_host_log(int32_t level, const void *buf, int32_t buf_len);
WT_IMPORT("storage_get") int32_t wt_host_storage_get(void *buf, int32_t buf_len);
WT_IMPORT("storage_set") int32_t wt_host_storage_set(const void *data, int32_t data_len, const void *etag,
                                                     int32_t etag_len, int32_t flags, void *buf, int32_t buf_len);
WT_IMPORT("http_request") int32_t wt_host_http_request(const void *method, int32_t method_len, const void *url,
                                                       int32_t url_len, const void *headers, int32_t headers_len,
                                                       const void *body, int32_t body_len);
WT_IMPORT("http_response") int32_t wt_host_http_response(int32_t part, void *buf, int32_t buf_len);

/* ---- The handler you write --------------------------------------------- */

/* Serve one request. Return 0. A non-zero return before any response call
 * makes the host answer 500. */
int wasmtask_handle(void);

/* ---- Reading the request ----------------------------------------------- */

/* Bytes owned by the request arena; data is NUL-terminated for convenience
 * (len does not count the NUL). data is NULL when the value does not exist. */
typedef struct {
	const char *data;
	size_t len;
} wt_bytes;

/* Scalar fields (never NULL; "" when empty). */
const char *wt_method(void);      /* "GET", "POST", ... */
const char *wt_path(void);        /* below the webtask, starts with "/" */
const char *wt_raw_query(void);   /* without "?", key and webtask_* */
const char *wt_container(void);
const char *wt_name(void);
const char *wt_request_id(void);
wt_bytes wt_body(void);           /* raw body bytes */
wt_bytes wt_context_json(void);   /* the whole context as one JSON object */
wt_bytes wt_field(int32_t field); /* any field; data NULL when unknown */
/* The caller the host verified before the run (the webtask's declared JWT
 * auth, abi/SPEC.md "Declarative auth"): the token's claims as one JSON
 * object; data NULL when the webtask declares no JWT auth. */
wt_bytes wt_user_json(void);

/* One value of a map, NULL when absent (first value of repeated keys;
 * header names match case-insensitively). */
const char *wt_query(const char *key);
const char *wt_header(const char *name);
const char *wt_secret(const char *key);
const char *wt_param(const char *key);
const char *wt_meta(const char *key);
const char *wt_data(const char *key); /* query < params < secrets */
const char *wt_user(const char *claim); /* a verified claim: strings as they are, others as JSON text */
wt_bytes wt_value(int32_t map, const char *key, size_t key_len);

/* Every entry of a map, sorted by key (repeated keys in arrival order):
 *
 *     wt_map_iter it = wt_map(WT_MAP_QUERY);
 *     const char *k, *v;
 *     while (wt_map_next(&it, &k, &v)) { ... }
 */
typedef struct {
	const char *p, *end;
	int found; /* 0 when the map does not exist */
} wt_map_iter;
wt_map_iter wt_map(int32_t map);
int wt_map_next(wt_map_iter *it, const char **key, const char **value);

/* ---- Simple model: one JSON result or one error ------------------------ */

void wt_result(const char *json, size_t len); /* must be valid JSON */
void wt_result_str(const char *json);
void wt_error(int status, const char *message); /* status 0 means 400 */

/* ---- Raw model: status, headers, body ----------------------------------- */

void wt_set_status(int status);
void wt_set_header(const char *name, const char *value);
void wt_add_header(const char *name, const char *value);
void wt_write(const void *data, size_t len);
void wt_write_str(const char *s);

/* ---- Logging (also: printf to stdout = info, stderr = error) ----------- */

void wt_log(int level, const char *msg);
void wt_logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Router ------------------------------------------------------------- */

/* A route matches method (NULL or "*" for any; HEAD falls back to GET) and
 * path: exactly, ignoring one trailing "/", or as a prefix when the pattern
 * ends in "*". The first match runs; no match answers 404 with
 * {"code":404,"message":"no route for METHOD PATH"}. */
typedef struct {
	const char *method;
	const char *pattern;
	int (*handle)(void);
} wt_route;

int wt_serve_routes(const wt_route *routes, size_t n);
#define WT_ROUTES(r) wt_serve_routes((r), sizeof(r) / sizeof((r)[0]))

/* ---- A growable buffer for building JSON (arena-backed) ---------------- */

typedef struct {
	char *data;
	size_t len, cap;
} wt_buf;

void wt_buf_write(wt_buf *b, const void *data, size_t len);
void wt_buf_str(wt_buf *b, const char *s);
void wt_buf_int(wt_buf *b, long long n);
/* Appends s as a JSON string, quoted and escaped; NULL appends null. */
void wt_buf_json_str(wt_buf *b, const char *s, size_t len);
void wt_buf_json_cstr(wt_buf *b, const char *s);

/* Returns the string member key of the JSON object in json[0..len),
 * unescaped into the arena; NULL when the text is not a JSON object, the
 * member is missing or is not a string. Nested values are skipped, not
 * searched. Enough to read a small request body without a JSON library. */
const char *wt_json_string(const char *json, size_t len, const char *key);

/* Returns the member key of the JSON object in json[0..len) as raw JSON
 * text (a string keeps its quotes and escapes), in the arena; data NULL when
 * the text is not a JSON object or the member is missing. The first member
 * of that name wins; nested values are skipped, not searched. */
wt_bytes wt_json_member(const char *json, size_t len, const char *key);

/* ---- Storage: the named webtask's JSON document (abi/SPEC.md) ---------- */

/* Results of wt_storage_get and wt_storage_set: 0, or one of these. */
enum {
	WT_STORAGE_OK = 0,
	WT_STORAGE_NONE = -1,      /* no storage in this run (code a token fixes) */
	WT_STORAGE_CONFLICT = -2,  /* the etag is not the stored one's: nothing written */
	WT_STORAGE_TOO_LARGE = -3, /* the data is over the 500 KB limit */
	WT_STORAGE_FAILED = -4,    /* not JSON, or the store failed (see the log) */
};

/* wt_storage_set's flags: overwrite whatever is stored, etag or not. */
#define WT_STORAGE_FORCE 1
/* The etag while nothing is stored. */
#define WT_NO_ETAG "0"

typedef struct {
	wt_bytes data;    /* the stored value as JSON text; data.data NULL when nothing is stored */
	const char *etag; /* give it back to wt_storage_set */
} wt_storage;

/* Reads the stored document into *out (arena memory). Returns
 * WT_STORAGE_OK, WT_STORAGE_NONE or WT_STORAGE_FAILED. */
int wt_storage_get(wt_storage *out);

/* Stores json[0..len) (JSON text) if etag is the stored document's (as
 * wt_storage_get gave it; WT_NO_ETAG while nothing is stored), or whatever
 * is stored with flags WT_STORAGE_FORCE (etag may then be NULL). Returns
 * WT_STORAGE_OK or a negative WT_STORAGE_*. On WT_STORAGE_OK the write is
 * durable and *new_etag (when new_etag is not NULL) is the new etag, in the
 * arena. WT_STORAGE_CONFLICT means someone wrote first: read again and
 * retry:
 *
 *     wt_storage s;
 *     int rc;
 *     do {
 *         if ((rc = wt_storage_get(&s)) != WT_STORAGE_OK) break;
 *         ... build the new value from s.data ...
 *         rc = wt_storage_set(json, len, s.etag, 0, NULL);
 *     } while (rc == WT_STORAGE_CONFLICT);
 */
int wt_storage_set(const char *json, size_t len, const char *etag, int flags, const char **new_etag);

/* A message for a storage result, for logs and wt_error. */
const char *wt_storage_strerror(int rc);

/* ---- Outbound HTTP (abi/SPEC.md, "Outbound HTTP") ---------------------- */

/* Results of wt_fetch besides a status (100-599); the ABI's http_request
 * results. wt_fetch_error() says why. */
enum {
	WT_HTTP_DENIED = -5,    /* the container's policy refuses the url; no connection was made */
	WT_HTTP_FAILED = -6,    /* DNS, connect, TLS, the peer closed, no answer in the request's time */
	WT_HTTP_TOO_LARGE = -7, /* the response body is over the policy's max_response_bytes */
	WT_HTTP_TOO_MANY = -8,  /* this request made the policy's max_calls calls */
	WT_HTTP_INVALID = -9,   /* a bad method, url (not absolute http/https) or header */
};

/* Parts of the last response, for wt_host_http_response. */
enum {
	WT_HTTP_PART_HEADERS = 0,
	WT_HTTP_PART_BODY = 1,
	WT_HTTP_PART_ERROR = 2,
};

typedef struct {
	const char *name, *value;
} wt_http_header;

/* An outbound call. method NULL or "" is GET; url is absolute http(s);
 * headers may be NULL when nheaders is 0; body may be NULL when body_len
 * is 0. The host owns host, content-length, transfer-encoding, connection. */
typedef struct {
	const char *method;
	const char *url;
	const wt_http_header *headers;
	size_t nheaders;
	const void *body;
	size_t body_len;
} wt_fetch_req;

/* Its answer, in the request arena: the headers as the host encodes them
 * (name NUL value NUL ..., names lower-cased, sorted; read them with
 * wt_fetch_header or wt_fetch_headers) and the body, whose len is exact
 * (binary bodies are whole) and whose data is NUL-terminated for
 * convenience. Neither data is ever NULL ("" when empty). */
typedef struct {
	int status;
	wt_bytes headers;
	wt_bytes body;
} wt_fetch_resp;

/* Makes one call through the host, which applies the container's policy
 * (set by the admin: PUT /api/outbound/{container}), the request's time
 * limit and a response size limit, and logs "outbound METHOD host STATUS"
 * (never the path, query, headers or body). Returns the status (any
 * status is an answer, 500 included) with *out filled, or a negative
 * WT_HTTP_* with wt_fetch_error() saying why:
 *
 *     wt_http_header h[] = {{"content-type", "application/json"}};
 *     wt_fetch_req req = {"POST", "https://api.example.com/sms", h, 1, json, len};
 *     wt_fetch_resp resp;
 *     int st = wt_fetch(&req, &resp);
 *     if (st < 0) { wt_error(502, wt_fetch_error()); return 0; }
 */
int wt_fetch(const wt_fetch_req *req, wt_fetch_resp *out);

/* The host's reason the last wt_fetch of this request failed ("" when it
 * did not), e.g. "api.example.com:443 is not on the
 * container's outbound allow-list". */
const char *wt_fetch_error(void);

/* The first value of a response header (any case), NULL when absent. */
const char *wt_fetch_header(const wt_fetch_resp *resp, const char *name);
/* Every response header: while (wt_map_next(&it, &name, &value)) ... */
wt_map_iter wt_fetch_headers(const wt_fetch_resp *resp);

/* Appends s percent-encoded for a query string or a form (RFC 3986's
 * unreserved characters stay, everything else is %XX, space too). */
void wt_buf_urlencode(wt_buf *b, const char *s);

/* ---- Helpers ------------------------------------------------------------ */

/* Memory from the request arena, freed after the handler returns. */
void *wt_alloc(size_t n);
/* Parses a decimal integer; def when s is NULL, empty or not a number. */
long long wt_atoi(const char *s, long long def);

#ifdef __cplusplus
}
#endif
#endif /* WASMTASK_H */
