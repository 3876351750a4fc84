/*
 * engine.c — the wasmtask JavaScript engine: QuickJS (Debian's quickjs
 * source package, patched by quickjs-wasi.patch) built for wasm32-wasi
 * into one reactor, guests/build/js/engine.wasm, that speaks host ABI v1
 * (abi/SPEC.md).
 *
 * One engine module serves every JavaScript webtask. A webtask is the
 * engine plus its source: during _initialize the engine reads the source
 * with the init-only host function wasmtask_v1.source, evaluates it, and
 * keeps module.exports. The host's post-initialisation snapshot is then a
 * pre-initialised instance of that webtask, so the fresh policy restores
 * evaluated code instead of evaluating it again.
 *
 * Per request (wt_handle) the engine calls the exported function in the
 * programming model its arity selects — (context, cb), (context, req, res),
 * or the original platform's (cb) — then runs the job queue (Promises,
 * async functions) and the request's timers until the webtask answers.
 * An uncaught exception, a rejected promise nobody handles or a webtask
 * that stops without answering ends the request with 500 and a message
 * (the ABI's simple-model error), and the JS stack goes to the log.
 *
 * The JavaScript half (context, req/res, console, timers, require) is
 * prelude.js; the built-in modules are lib/NAME.js. Both are entries of
 * the engine's library, a custom section guests/Makefile appends to the
 * binary and the host function wasmtask_v1.library reads: unlike a data
 * segment, it is not copied into every instance's memory, and a module
 * nobody requires is never read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "quickjs.h"
#include "hash.h"
#include "wasmtask.h"

/* The ABI extension for interpreted languages (abi/SPEC.md, "The webtask's
 * source"): the webtask's code, readable only during initialisation.
 * Returns its length (-1 without a source) and writes it only if it fits. */
WT_IMPORT("source") int32_t wt_host_source(void *buf, int32_t buf_len);

/* An entry of this module's own library (abi/SPEC.md, "The module's
 * library"): the custom section wasmtask.library, which holds prelude.js
 * and lib/NAME.js. Same buffer rule; -1 when there is no such entry. */
WT_IMPORT("library") int32_t wt_host_library(const char *name, int32_t name_len, void *buf, int32_t buf_len);

/* The named webtask's storage (abi/SPEC.md, "Storage"). */
WT_IMPORT("storage_get") int32_t wt_host_storage_get(void *buf, int32_t buf_len);
WT_IMPORT("storage_set") int32_t wt_host_storage_set(const void *data, int32_t data_len, const void *etag,
						     int32_t etag_len, int32_t flags, void *buf, int32_t buf_len);

#define WT_EXPORT(name) __attribute__((export_name(name)))

/* HEAP_HEADROOM is the free heap a webtask starts every request with (see
 * the end of _initialize). */
#define HEAP_HEADROOM (2 << 20)

/* JS_STACK_SIZE is how deep QuickJS lets JavaScript recurse, measured on
 * the C stack; deeper recursion throws "Maximum call stack size exceeded"
 * (a RangeError the webtask can catch). It must stay below the stack the
 * linker reserves (the Makefile passes both), with room for the C frames
 * of the engine itself, or every evaluation throws. */
#ifndef JS_STACK_SIZE
#error "define JS_STACK_SIZE (bytes, below the linker's -z stack-size)"
#endif

/* The wrapper that makes the webtask's code a CommonJS module. Its head
 * shares the source's first line, so line numbers stay the author's;
 * prelude.js gives back the columns of line 1. */
static const char wrap_head[] = "(function (exports, require, module, __filename, __dirname) {";
static const char wrap_tail[] = "\n})";

static JSRuntime *rt;
static JSContext *ctx;
/* The entry points prelude.js returns. */
static JSValue fn_load, fn_run, fn_step, fn_finish, fn_report, fn_uncaught;

static int in_request; /* wt_handle is running: the request's host functions may be called */
static int responded;  /* the response was sent (result, error or the raw model's end) */

/* ---- scratch buffer for values read from the host ------------------------ */

static char *scratch;
static size_t scratch_cap;

/* reserve makes scratch at least n bytes; 0 when out of memory. */
static int reserve(size_t n)
{
	if (n <= scratch_cap)
		return 1;
	free(scratch);
	scratch = malloc(n);
	scratch_cap = scratch ? n : 0;
	return scratch != NULL;
}

/* read_field reads a field into scratch with the ABI's buffer rule: -1
 * when absent, -2 when out of memory, else its length. */
static int32_t read_field(int32_t field)
{
	int32_t n = wt_host_get(field, scratch, (int32_t)scratch_cap);
	if (n > (int32_t)scratch_cap) {
		if (!reserve((size_t)n))
			return -2;
		n = wt_host_get(field, scratch, n);
	}
	return n;
}

static int32_t read_map(int32_t map)
{
	int32_t n = wt_host_get_map(map, scratch, (int32_t)scratch_cap);
	if (n > (int32_t)scratch_cap) {
		if (!reserve((size_t)n))
			return -2;
		n = wt_host_get_map(map, scratch, n);
	}
	return n;
}

/* ---- natives: the `wt` object prelude.js receives ------------------------- */

/* wt.get(field[, binary]): a request field as a string (an ArrayBuffer
 * when binary), undefined when absent or outside a request. */
static JSValue nat_get(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t field;
	if (argc < 1 || JS_ToInt32(c, &field, argv[0]))
		return JS_EXCEPTION;
	if (!in_request)
		return JS_UNDEFINED;
	int32_t n = read_field(field);
	if (n == -2)
		return JS_ThrowOutOfMemory(c);
	if (n < 0)
		return JS_UNDEFINED;
	if (argc > 1 && JS_ToBool(c, argv[1]))
		return JS_NewArrayBufferCopy(c, (const uint8_t *)scratch, (size_t)n);
	return JS_NewStringLen(c, scratch, (size_t)n);
}

enum { MAP_SINGLE = 0, MAP_ARRAYS = 1, MAP_HEADERS_JOINED = 2 };

/* map_value is the value of one key whose count values start at v (each
 * NUL-terminated, keys between them), in the given mode. */
static JSValue map_value(JSContext *c, const char *key, const char *v, int count, int mode)
{
	if (count == 1 || mode == MAP_SINGLE)
		return JS_NewString(c, v);
	if (mode == MAP_HEADERS_JOINED && strcmp(key, "set-cookie") != 0) {
		/* Node.js joins repeated request headers with ", " (cookie: "; "). */
		const char *sep = strcmp(key, "cookie") == 0 ? "; " : ", ";
		size_t total = 0;
		const char *p = v;
		for (int i = 0; i < count; i++) {
			size_t vl = strlen(p);
			total += vl + 2;
			p += vl + 1 + strlen(key) + 1;
		}
		char *joined = malloc(total + 1);
		if (!joined)
			return JS_ThrowOutOfMemory(c);
		size_t n = 0;
		p = v;
		for (int i = 0; i < count; i++) {
			size_t vl = strlen(p);
			if (i > 0) {
				memcpy(joined + n, sep, 2);
				n += 2;
			}
			memcpy(joined + n, p, vl);
			n += vl;
			p += vl + 1 + strlen(key) + 1;
		}
		JSValue s = JS_NewStringLen(c, joined, n);
		free(joined);
		return s;
	}
	JSValue arr = JS_NewArray(c);
	const char *p = v;
	for (int i = 0; i < count; i++) {
		size_t vl = strlen(p);
		JS_SetPropertyUint32(c, arr, (uint32_t)i, JS_NewStringLen(c, p, vl));
		p += vl + 1 + strlen(key) + 1;
	}
	return arr;
}

/* pairs_object decodes n bytes of key NUL value NUL ... (sorted by key,
 * so repeated keys are adjacent) into an object; mode says what repeated
 * keys become (map_value). */
static JSValue pairs_object(JSContext *c, const char *buf, int32_t n, int mode)
{
	JSValue obj = JS_NewObject(c);
	if (JS_IsException(obj))
		return obj;
	const char *p = buf, *end = buf + (n > 0 ? n : 0);
	while (p < end) {
		const char *key = p;
		size_t kl = strlen(key);
		const char *v = key + kl + 1;
		int count = 0;
		const char *q = key;
		while (q < end && strcmp(q, key) == 0) { /* the run of this key */
			q += kl + 1;
			q += strlen(q) + 1;
			count++;
		}
		JSValue val = map_value(c, key, v, count, mode);
		JSAtom atom = JS_NewAtomLen(c, key, kl);
		/* Defined, not set: a key such as __proto__ is an own property. */
		int ok = !JS_IsException(val) && atom != JS_ATOM_NULL &&
			JS_DefinePropertyValue(c, obj, atom, val, JS_PROP_C_W_E) >= 0;
		JS_FreeAtom(c, atom);
		if (!ok) {
			JS_FreeValue(c, obj);
			return JS_EXCEPTION;
		}
		p = q;
	}
	return obj;
}

/* wt.map(map, mode): a request map as an object. The host sends it sorted
 * by key, so repeated keys are adjacent; mode says what they become:
 * MAP_SINGLE the first value, MAP_ARRAYS an array (the query, as Node's
 * querystring), MAP_HEADERS_JOINED one string as Node's req.headers. */
static JSValue nat_map(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t map, mode;
	if (argc < 2 || JS_ToInt32(c, &map, argv[0]) || JS_ToInt32(c, &mode, argv[1]))
		return JS_EXCEPTION;
	if (!in_request)
		return JS_NewObject(c);
	int32_t n = read_map(map);
	if (n == -2)
		return JS_ThrowOutOfMemory(c);
	return pairs_object(c, scratch, n, mode);
}

/* wt.result(json): the simple model's 200 answer. */
static JSValue nat_result(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	size_t len;
	const char *s = argc > 0 ? JS_ToCStringLen(c, &len, argv[0]) : NULL;
	if (!s)
		return JS_EXCEPTION;
	if (in_request && !responded) {
		responded = 1;
		wt_host_result(s, (int32_t)len);
	}
	JS_FreeCString(c, s);
	return JS_UNDEFINED;
}

/* wt.error(status, message): the simple model's error answer (0: 400). */
static JSValue nat_error(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t status;
	size_t len;
	if (argc < 2 || JS_ToInt32(c, &status, argv[0]))
		return JS_EXCEPTION;
	const char *s = JS_ToCStringLen(c, &len, argv[1]);
	if (!s)
		return JS_EXCEPTION;
	if (in_request && !responded) {
		responded = 1;
		wt_host_error(status, s, (int32_t)len);
	}
	JS_FreeCString(c, s);
	return JS_UNDEFINED;
}

static int64_t array_length(JSContext *c, JSValueConst arr)
{
	int64_t n = 0;
	JSValue v = JS_GetPropertyStr(c, arr, "length");
	if (JS_ToInt64(c, &n, v))
		n = -1;
	JS_FreeValue(c, v);
	return n;
}

/* write_chunk sends one body chunk: a string (as UTF-8), an ArrayBuffer
 * or a typed array. */
static int write_chunk(JSContext *c, JSValueConst chunk)
{
	size_t len;
	if (JS_IsString(chunk)) {
		const char *s = JS_ToCStringLen(c, &len, chunk);
		if (!s)
			return -1;
		wt_host_write_body(s, (int32_t)len);
		JS_FreeCString(c, s);
		return 0;
	}
	uint8_t *buf = JS_GetArrayBuffer(c, &len, chunk);
	if (buf) {
		wt_host_write_body(buf, (int32_t)len);
		return 0;
	}
	JS_FreeValue(c, JS_GetException(c)); /* not an ArrayBuffer: a typed array? */
	size_t off, blen, bpe;
	JSValue ab = JS_GetTypedArrayBuffer(c, chunk, &off, &blen, &bpe);
	if (JS_IsException(ab))
		return -1;
	buf = JS_GetArrayBuffer(c, &len, ab);
	JS_FreeValue(c, ab);
	if (!buf)
		return -1;
	wt_host_write_body(buf + off, (int32_t)blen);
	return 0;
}

/* wt.respond(status, [name, value, ...], [chunk, ...]): the raw model's
 * whole answer, sent at res.end(). */
static JSValue nat_respond(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t status;
	if (argc < 3 || JS_ToInt32(c, &status, argv[0]))
		return JS_EXCEPTION;
	if (!in_request || responded)
		return JS_UNDEFINED;
	responded = 1;
	wt_host_set_status(status);
	int64_t nh = array_length(c, argv[1]);
	for (int64_t i = 0; i + 1 < nh; i += 2) {
		JSValue nv = JS_GetPropertyUint32(c, argv[1], (uint32_t)i), vv = JS_GetPropertyUint32(c, argv[1], (uint32_t)i + 1);
		size_t nl, vl;
		const char *name = JS_ToCStringLen(c, &nl, nv), *value = JS_ToCStringLen(c, &vl, vv);
		if (name && value)
			wt_host_add_header(name, (int32_t)nl, value, (int32_t)vl);
		JS_FreeCString(c, name);
		JS_FreeCString(c, value);
		JS_FreeValue(c, nv);
		JS_FreeValue(c, vv);
		if (!name || !value)
			return JS_EXCEPTION;
	}
	int64_t nc = array_length(c, argv[2]);
	for (int64_t i = 0; i < nc; i++) {
		JSValue chunk = JS_GetPropertyUint32(c, argv[2], (uint32_t)i);
		int err = write_chunk(c, chunk);
		JS_FreeValue(c, chunk);
		if (err)
			return JS_EXCEPTION;
	}
	return JS_UNDEFINED;
}

/* wt.log(level, message): a log line of the webtask's container. Outside a
 * request (while the code is evaluated at initialisation) the ABI's log
 * cannot be called: the line goes to stdout, or stderr from warn up,
 * which the host logs too. */
static JSValue nat_log(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t level;
	size_t len;
	if (argc < 2 || JS_ToInt32(c, &level, argv[0]))
		return JS_EXCEPTION;
	const char *s = JS_ToCStringLen(c, &len, argv[1]);
	if (!s)
		return JS_EXCEPTION;
	if (in_request) {
		wt_host_log(level, s, (int32_t)len);
	} else {
		FILE *f = level >= WT_LOG_WARN ? stderr : stdout;
		fwrite(s, 1, len, f);
		fputc('\n', f);
		fflush(f);
	}
	JS_FreeCString(c, s);
	return JS_UNDEFINED;
}

/* eval_entry evaluates "head" + the library entry name + "tail" as a
 * script named name, without keeping its source text (the library is
 * ours: no webtask reads it back through Function.prototype.toString);
 * line numbers stay for stack traces. JS_UNDEFINED when there is no such
 * entry; an exception when it does not compile or memory runs out. */
static JSValue eval_entry(JSContext *c, const char *name, const char *head, const char *tail)
{
	int32_t n = wt_host_library(name, (int32_t)strlen(name), NULL, 0);
	if (n < 0)
		return JS_UNDEFINED;
	size_t hl = strlen(head), tl = strlen(tail);
	char *code = malloc(hl + (size_t)n + tl + 1);
	if (!code)
		return JS_ThrowOutOfMemory(c);
	memcpy(code, head, hl);
	wt_host_library(name, (int32_t)strlen(name), code + hl, n);
	memcpy(code + hl + n, tail, tl + 1);
	int flags = JS_GetStripInfo(rt);
	JS_SetStripInfo(rt, JS_STRIP_SOURCE);
	JSValue v = JS_Eval(c, code, hl + (size_t)n + tl, name, JS_EVAL_TYPE_GLOBAL);
	JS_SetStripInfo(rt, flags);
	free(code);
	return v;
}

/* wt.compile(name, params): the library entry name (a built-in module,
 * lib/NAME.js) as the body of a function of params; undefined when the
 * library has no such entry. */
static JSValue nat_compile(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	if (argc < 2)
		return JS_ThrowTypeError(c, "wt.compile(name, params)");
	const char *name = JS_ToCString(c, argv[0]);
	const char *params = JS_ToCString(c, argv[1]);
	JSValue v = JS_EXCEPTION;
	char *head = NULL;
	if (name && params && (head = malloc(strlen(params) + 32)) != NULL) {
		/* One line: the entry's line numbers stay its own. */
		sprintf(head, "(function (%s) {'use strict';", params);
		v = eval_entry(c, name, head, "\n})");
	} else if (name && params) {
		v = JS_ThrowOutOfMemory(c);
	}
	free(head);
	JS_FreeCString(c, name);
	JS_FreeCString(c, params);
	return v;
}

/* ---- bytes: what Buffer, TextEncoder and crypto build on ----------------- */

/* bytes_of returns the bytes of an ArrayBuffer or a typed array view (NULL
 * with an exception otherwise; a zero length may come with any pointer). */
static const uint8_t *bytes_of(JSContext *c, JSValueConst v, size_t *len)
{
	size_t off, n, per;
	uint8_t *p = JS_GetArrayBuffer(c, len, v);
	if (p)
		return p;
	JS_FreeValue(c, JS_GetException(c));
	JSValue ab = JS_GetTypedArrayBuffer(c, v, &off, &n, &per);
	if (JS_IsException(ab))
		return NULL;
	size_t total;
	p = JS_GetArrayBuffer(c, &total, ab);
	JS_FreeValue(c, ab);
	if (!p && n > 0)
		return NULL; /* detached: the exception is pending */
	*len = n;
	return p ? p + off : (const uint8_t *)"";
}

/* wt.utf8Encode(string): its UTF-8 bytes as an ArrayBuffer (a lone
 * surrogate as QuickJS encodes it: lib/buffer.js makes strings well-formed
 * first, as TextEncoder does). */
static JSValue nat_utf8_encode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	size_t n;
	const char *s = JS_ToCStringLen(c, &n, argc > 0 ? argv[0] : JS_UNDEFINED);
	if (!s)
		return JS_EXCEPTION;
	JSValue v = JS_NewArrayBufferCopy(c, (const uint8_t *)s, n);
	JS_FreeCString(c, s);
	return v;
}

/* wt.utf8Decode(bytes): the string of UTF-8 bytes, invalid sequences as
 * U+FFFD. */
static JSValue nat_utf8_decode(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	size_t n;
	const uint8_t *p = bytes_of(c, argc > 0 ? argv[0] : JS_UNDEFINED, &n);
	if (!p)
		return JS_EXCEPTION;
	return JS_NewStringLen(c, (const char *)p, n);
}

/* wt.hash(alg, bytes[, key]): the digest (HMAC with key) as an
 * ArrayBuffer; undefined for an unknown algorithm (hash.c). */
static JSValue nat_hash(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	if (argc < 2)
		return JS_ThrowTypeError(c, "wt.hash(alg, bytes[, key])");
	const char *alg = JS_ToCString(c, argv[0]);
	if (!alg)
		return JS_EXCEPTION;
	uint8_t out[64];
	size_t n, klen, size = 0;
	const uint8_t *data = bytes_of(c, argv[1], &n), *key = NULL;
	if (data && argc > 2 && !JS_IsUndefined(argv[2]))
		key = bytes_of(c, argv[2], &klen);
	if (!data || (argc > 2 && !JS_IsUndefined(argv[2]) && !key)) {
		JS_FreeCString(c, alg);
		return JS_EXCEPTION;
	}
	if (wt_hash_size(alg) <= sizeof out)
		size = key ? wt_hmac(alg, key, klen, data, n, out) : wt_hash(alg, data, n, out);
	JS_FreeCString(c, alg);
	return size ? JS_NewArrayBufferCopy(c, out, size) : JS_UNDEFINED;
}

/* wt.randomBytes(n): n bytes from WASI random_get as an ArrayBuffer. */
static JSValue nat_random_bytes(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	int32_t n;
	if (argc < 1 || JS_ToInt32(c, &n, argv[0]))
		return JS_EXCEPTION;
	if (n < 0 || n > (1 << 30))
		return JS_ThrowRangeError(c, "randomBytes: size out of range");
	uint8_t *buf = malloc(n ? (size_t)n : 1);
	if (!buf)
		return JS_ThrowOutOfMemory(c);
	for (int32_t i = 0; i < n; i += 256) /* getentropy's limit */
		if (getentropy(buf + i, (size_t)(n - i < 256 ? n - i : 256)) != 0) {
			free(buf);
			return JS_ThrowInternalError(c, "randomBytes: no entropy");
		}
	JSValue v = JS_NewArrayBufferCopy(c, buf, (size_t)n);
	free(buf);
	return v;
}

/* wt.storageGet(): the storage document's JSON text; undefined without
 * storage; a negative number (the ABI's result) when it failed. */
static JSValue nat_storage_get(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	(void)argc;
	(void)argv;
	if (!in_request)
		return JS_UNDEFINED;
	int32_t n = wt_host_storage_get(scratch, (int32_t)scratch_cap);
	if (n > (int32_t)scratch_cap) {
		if (!reserve((size_t)n))
			return JS_ThrowOutOfMemory(c);
		n = wt_host_storage_get(scratch, n);
	}
	if (n == -1)
		return JS_UNDEFINED;
	if (n < 0)
		return JS_NewInt32(c, n);
	return JS_NewStringLen(c, scratch, (size_t)n);
}

/* wt.storageSet(json, etag, force): the new etag, or the ABI's negative
 * result (-1 no storage, -2 conflict, -3 too large, -4 failed). */
static JSValue nat_storage_set(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	if (argc < 3)
		return JS_ThrowTypeError(c, "wt.storageSet(json, etag, force)");
	if (!in_request)
		return JS_NewInt32(c, -1);
	size_t dl, el;
	const char *data = JS_ToCStringLen(c, &dl, argv[0]);
	const char *etag = data ? JS_ToCStringLen(c, &el, argv[1]) : NULL;
	if (!data || !etag) {
		JS_FreeCString(c, data);
		return JS_EXCEPTION;
	}
	char buf[128];
	int32_t n = wt_host_storage_set(data, (int32_t)dl, etag, (int32_t)el, JS_ToBool(c, argv[2]) ? 1 : 0, buf, sizeof buf);
	JS_FreeCString(c, data);
	JS_FreeCString(c, etag);
	if (n < 0)
		return JS_NewInt32(c, n);
	if (n > (int32_t)sizeof buf)
		return JS_NewInt32(c, -4);
	return JS_NewStringLen(c, buf, (size_t)n);
}

/* ---- outbound HTTP (abi/SPEC.md, "Outbound HTTP") ------------------------ */

/* hbuf is a growable buffer for the request's headers. */
typedef struct {
	char *p;
	size_t len, cap;
	int oom;
} hbuf;

static void hbuf_add(hbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->p[b->len + n] = 0; /* the NUL after each name and value */
	b->len += n + 1;
}

/* add_header appends name NUL value NUL; 0 on an exception. */
static int add_header(JSContext *c, hbuf *b, const char *name, size_t nl, JSValueConst v)
{
	size_t vl;
	const char *value = JS_ToCStringLen(c, &vl, v);
	if (!value)
		return 0;
	hbuf_add(b, name, nl);
	hbuf_add(b, value, vl);
	JS_FreeCString(c, value);
	return 1;
}

/* encode_headers turns an object of headers (a value that is an array
 * sends the name once per element) into the ABI's name NUL value NUL ...;
 * 0 on an exception. */
static int encode_headers(JSContext *c, JSValueConst obj, hbuf *b)
{
	if (!JS_IsObject(obj))
		return 1;
	JSPropertyEnum *props;
	uint32_t np;
	if (JS_GetOwnPropertyNames(c, &props, &np, obj, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY))
		return 0;
	int ok = 1;
	for (uint32_t i = 0; ok && i < np; i++) {
		size_t nl;
		JSValue key = JS_AtomToString(c, props[i].atom);
		const char *name = JS_ToCStringLen(c, &nl, key);
		JS_FreeValue(c, key);
		JSValue v = JS_GetProperty(c, obj, props[i].atom);
		ok = name != NULL && !JS_IsException(v);
		if (ok && JS_IsArray(c, v) > 0) {
			int64_t n = array_length(c, v);
			for (int64_t j = 0; ok && j < n; j++) {
				JSValue e = JS_GetPropertyUint32(c, v, (uint32_t)j);
				ok = !JS_IsException(e) && add_header(c, b, name, nl, e);
				JS_FreeValue(c, e);
			}
		} else if (ok && !JS_IsUndefined(v)) {
			ok = add_header(c, b, name, nl, v);
		}
		JS_FreeValue(c, v);
		JS_FreeCString(c, name);
	}
	for (uint32_t i = 0; i < np; i++)
		JS_FreeAtom(c, props[i].atom);
	js_free(c, props);
	return ok;
}

/* read_part reads a part of the last response into scratch (the buffer
 * rule): its length, -1 when absent, -2 when out of memory. */
static int32_t read_part(int32_t part)
{
	int32_t n = wt_host_http_response(part, scratch, (int32_t)scratch_cap);
	if (n > (int32_t)scratch_cap) {
		if (!reserve((size_t)n))
			return -2;
		n = wt_host_http_response(part, scratch, n);
	}
	return n;
}

/* http_error is {error: code, message}: a call that got no response. */
static JSValue http_error(JSContext *c, int32_t code, const char *msg, size_t len)
{
	JSValue r = JS_NewObject(c);
	if (JS_IsException(r))
		return r;
	JS_SetPropertyStr(c, r, "error", JS_NewInt32(c, code));
	JS_SetPropertyStr(c, r, "message", JS_NewStringLen(c, msg, len));
	return r;
}

/* wt.httpRequest(method, url, headers, body): one outbound call, made at
 * once (the webtask waits for the answer, inside the request's time).
 * headers is an object, body a string (sent as UTF-8), an ArrayBuffer, a
 * typed array, or undefined/null for none. Returns {status, headers (as
 * Node's IncomingMessage joins them), body (an ArrayBuffer)}, or {error:
 * the ABI's negative result, message: the host's reason}. */
static JSValue nat_http_request(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	if (argc < 4)
		return JS_ThrowTypeError(c, "wt.httpRequest(method, url, headers, body)");
	if (!in_request) {
		static const char msg[] = "outbound HTTP is made during a request, not while the webtask's code is evaluated";
		return http_error(c, -9, msg, sizeof msg - 1);
	}
	size_t ml, ul, bl = 0;
	const char *method = JS_ToCStringLen(c, &ml, argv[0]);
	const char *url = method ? JS_ToCStringLen(c, &ul, argv[1]) : NULL;
	const char *sbody = NULL;
	const uint8_t *body = (const uint8_t *)"";
	hbuf h = {0};
	JSValue r = JS_EXCEPTION;
	if (!url || !encode_headers(c, argv[2], &h))
		goto done;
	if (h.oom) {
		r = JS_ThrowOutOfMemory(c);
		goto done;
	}
	if (JS_IsString(argv[3])) {
		if (!(sbody = JS_ToCStringLen(c, &bl, argv[3])))
			goto done;
		body = (const uint8_t *)sbody;
	} else if (!JS_IsUndefined(argv[3]) && !JS_IsNull(argv[3])) {
		if (!(body = bytes_of(c, argv[3], &bl)))
			goto done;
	}
	int32_t st = wt_host_http_request(method, (int32_t)ml, url, (int32_t)ul, h.p, (int32_t)h.len, body, (int32_t)bl);
	if (st < 0) {
		int32_t n = read_part(WT_HTTP_PART_ERROR);
		r = n == -2 ? JS_ThrowOutOfMemory(c) : http_error(c, st, scratch, n > 0 ? (size_t)n : 0);
		goto done;
	}
	int32_t n = read_part(WT_HTTP_PART_HEADERS);
	if (n == -2) {
		r = JS_ThrowOutOfMemory(c);
		goto done;
	}
	JSValue headers = pairs_object(c, scratch, n, MAP_HEADERS_JOINED);
	if (JS_IsException(headers))
		goto done;
	if ((n = read_part(WT_HTTP_PART_BODY)) == -2) {
		JS_FreeValue(c, headers);
		r = JS_ThrowOutOfMemory(c);
		goto done;
	}
	JSValue b = JS_NewArrayBufferCopy(c, (const uint8_t *)scratch, n > 0 ? (size_t)n : 0);
	r = JS_NewObject(c);
	if (JS_IsException(b) || JS_IsException(r)) {
		JS_FreeValue(c, headers);
		JS_FreeValue(c, b);
		JS_FreeValue(c, r);
		r = JS_EXCEPTION;
		goto done;
	}
	JS_SetPropertyStr(c, r, "status", JS_NewInt32(c, st));
	JS_SetPropertyStr(c, r, "headers", headers);
	JS_SetPropertyStr(c, r, "body", b);
done:
	free(h.p);
	JS_FreeCString(c, sbody);
	JS_FreeCString(c, url);
	JS_FreeCString(c, method);
	return r;
}

static const JSCFunctionListEntry wt_funcs[] = {
	JS_CFUNC_DEF("get", 2, nat_get),
	JS_CFUNC_DEF("map", 2, nat_map),
	JS_CFUNC_DEF("result", 1, nat_result),
	JS_CFUNC_DEF("error", 2, nat_error),
	JS_CFUNC_DEF("respond", 3, nat_respond),
	JS_CFUNC_DEF("log", 2, nat_log),
	JS_CFUNC_DEF("compile", 2, nat_compile),
	JS_CFUNC_DEF("utf8Encode", 1, nat_utf8_encode),
	JS_CFUNC_DEF("utf8Decode", 1, nat_utf8_decode),
	JS_CFUNC_DEF("hash", 3, nat_hash),
	JS_CFUNC_DEF("randomBytes", 1, nat_random_bytes),
	JS_CFUNC_DEF("storageGet", 0, nat_storage_get),
	JS_CFUNC_DEF("storageSet", 3, nat_storage_set),
	JS_CFUNC_DEF("httpRequest", 4, nat_http_request),
};

/* ---- Math.random -------------------------------------------------------- */
/* QuickJS seeds Math.random once, when the context is created: every
 * instance restored from one snapshot would repeat the same numbers. This
 * Math.random (xorshift128+, as QuickJS's and V8's) is seeded from WASI
 * random_get the first time a request uses it. */

static uint64_t rnd0, rnd1;
static int rnd_seeded;

static JSValue nat_random(JSContext *c, JSValueConst this_val, int argc, JSValueConst *argv)
{
	(void)this_val;
	(void)argc;
	(void)argv;
	if (!rnd_seeded) {
		uint64_t seed[2] = {0, 0};
		if (getentropy(seed, sizeof seed) != 0) { /* cannot fail on wasi; the time if it did */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			seed[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		}
		rnd0 = seed[0] | 1; /* never all zero */
		rnd1 = seed[1];
		rnd_seeded = 1;
	}
	uint64_t x = rnd0, y = rnd1;
	rnd0 = y;
	x ^= x << 23;
	rnd1 = x ^ y ^ (x >> 17) ^ (y >> 26);
	return JS_NewFloat64(c, (double)((rnd1 + y) >> 11) * 0x1.0p-53);
}

/* ---- promises rejected and never handled ---------------------------------- */

#define MAX_REJECTIONS 8

static struct {
	JSValue promise, reason;
} rejections[MAX_REJECTIONS];
static int nrejections;

static void track_rejection(JSContext *c, JSValueConst promise, JSValueConst reason, JS_BOOL is_handled, void *opaque)
{
	(void)opaque;
	if (!is_handled) {
		if (nrejections < MAX_REJECTIONS) {
			rejections[nrejections].promise = JS_DupValue(c, promise);
			rejections[nrejections].reason = JS_DupValue(c, reason);
			nrejections++;
		}
		return;
	}
	for (int i = 0; i < nrejections; i++) {
		if (JS_VALUE_GET_PTR(rejections[i].promise) == JS_VALUE_GET_PTR(promise)) {
			JS_FreeValue(c, rejections[i].promise);
			JS_FreeValue(c, rejections[i].reason);
			rejections[i] = rejections[--nrejections];
			return;
		}
	}
}

static void clear_rejections(void)
{
	while (nrejections > 0) {
		nrejections--;
		JS_FreeValue(ctx, rejections[nrejections].promise);
		JS_FreeValue(ctx, rejections[nrejections].reason);
	}
}

/* ---- failures ------------------------------------------------------------- */

/* die ends initialisation: the message (one line) and the exception's
 * report go to stderr, whose first line the host puts in its "module failed
 * to start" error, and the instance exits. */
static void die(const char *msg, JSValue exc)
{
	fprintf(stderr, "%s", msg);
	if (!JS_IsUndefined(exc)) {
		const char *s = NULL;
		JSValue r = JS_IsUndefined(fn_report) ? JS_UNDEFINED : JS_Call(ctx, fn_report, JS_UNDEFINED, 1, &exc);
		if (JS_IsString(r))
			s = JS_ToCString(ctx, r);
		else
			s = JS_ToCString(ctx, exc);
		fprintf(stderr, "%s", s ? s : "(an exception that cannot be shown)");
		JS_FreeCString(ctx, s);
		JS_FreeValue(ctx, r);
		JS_FreeValue(ctx, exc);
	}
	fputc('\n', stderr);
	exit(1);
}

/* uncaught handles an exception that escaped the prelude's own handlers
 * (running out of memory in them, say): 500 unless already answered. */
static void uncaught(void)
{
	JSValue e = JS_GetException(ctx);
	JSValue r = JS_Call(ctx, fn_uncaught, JS_UNDEFINED, 1, (JSValueConst *)&e);
	if (JS_IsException(r)) {
		JS_FreeValue(ctx, JS_GetException(ctx));
		if (in_request && !responded) {
			static const char msg[] = "Uncaught exception in the JavaScript engine (out of memory?)";
			responded = 1;
			wt_host_error(500, msg, (int32_t)sizeof msg - 1);
		}
	}
	JS_FreeValue(ctx, r);
	JS_FreeValue(ctx, e);
}

/* call calls an entry point of the prelude; an exception is handled by
 * uncaught. It returns the function's int32 result, or -1. */
static int32_t call(JSValueConst fn, int argc, JSValueConst *argv)
{
	JSValue r = JS_Call(ctx, fn, JS_UNDEFINED, argc, argv);
	int32_t n = -1;
	if (JS_IsException(r))
		uncaught();
	else if (JS_IsNumber(r))
		JS_ToInt32(ctx, &n, r);
	JS_FreeValue(ctx, r);
	return n;
}

/* drain runs the job queue (promise reactions) until it is empty. */
static void drain(void)
{
	JSContext *c;
	int r;
	while ((r = JS_ExecutePendingJob(rt, &c)) != 0) {
		if (r < 0)
			uncaught();
	}
}

static void sleep_ms(int32_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL); /* the host caps a sleep at the request's deadline */
}

/* ---- initialisation: evaluate the webtask --------------------------------- */

static JSValue get_fn(JSValueConst obj, const char *name)
{
	JSValue v = JS_GetPropertyStr(ctx, obj, name);
	if (!JS_IsFunction(ctx, v))
		die("wasmtask js: prelude.js lacks ", JS_NewString(ctx, name));
	return v;
}

/* compile turns the webtask's source into the CommonJS wrapper function,
 * or, for the original platform's bare function expression
 * ("function (context, cb) {...}", not valid as a script), into that
 * function; *bare says which. */
static JSValue compile(const char *src, size_t n, int *bare)
{
	size_t hl = sizeof wrap_head - 1, tl = sizeof wrap_tail - 1;
	char *code = malloc(hl + n + tl + 1);
	if (!code)
		die("wasmtask js: out of memory reading the webtask's source", JS_UNDEFINED);
	memcpy(code, wrap_head, hl);
	memcpy(code + hl, src, n);
	memcpy(code + hl + n, wrap_tail, tl + 1);
	JSValue fn = JS_Eval(ctx, code, hl + n + tl, "webtask.js", JS_EVAL_TYPE_GLOBAL);
	*bare = 0;
	if (JS_IsException(fn)) {
		JSValue exc = JS_GetException(ctx);
		/* The bare form: "(" + source + "\n)" is one function expression. */
		code[hl - 1] = '(';
		memcpy(code + hl + n, "\n)", 3);
		JSValue expr = JS_Eval(ctx, code + hl - 1, n + 3, "webtask.js", JS_EVAL_TYPE_GLOBAL);
		if (!JS_IsException(expr) && JS_IsFunction(ctx, expr)) {
			JS_FreeValue(ctx, exc);
			fn = expr;
			*bare = 1;
		} else {
			if (JS_IsException(expr))
				JS_FreeValue(ctx, JS_GetException(ctx));
			JS_FreeValue(ctx, expr);
			JS_Throw(ctx, exc);
		}
	}
	free(code);
	return fn;
}

__attribute__((constructor)) static void init(void)
{
	int32_t n = wt_host_source(NULL, 0);
	if (n < 0)
		die("wasmtask js: no JavaScript source: this module is the JavaScript engine, "
		    "deployed with a webtask's code as its source (abi/SPEC.md)", JS_UNDEFINED);
	char *src = malloc((size_t)n + 1);
	if (!src || !reserve(4096))
		die("wasmtask js: out of memory", JS_UNDEFINED);
	wt_host_source(src, n);
	src[n] = 0;
	/* An ES module's translation ends with the host's line table
	 * (host/deploy/jsmap.go): cut it off, prelude.js maps positions. */
	const char *map = "";
	for (char *t = strstr(src, "\n//# wtmap="); t; t = strstr(t + 1, "\n//# wtmap=")) {
		map = t + sizeof "\n//# wtmap=" - 1;
		n = (int32_t)(t - src);
	}
	src[n] = 0;

	fn_report = JS_UNDEFINED;
	rt = JS_NewRuntime();
	if (!rt)
		die("wasmtask js: out of memory", JS_UNDEFINED);
	JS_SetMaxStackSize(rt, JS_STACK_SIZE);
	JS_SetHostPromiseRejectionTracker(rt, track_rejection, NULL);
	ctx = JS_NewContext(rt);
	if (!ctx)
		die("wasmtask js: out of memory", JS_UNDEFINED);

	JSValue global = JS_GetGlobalObject(ctx);
	JSValue math = JS_GetPropertyStr(ctx, global, "Math");
	JS_SetPropertyStr(ctx, math, "random", JS_NewCFunction(ctx, nat_random, "random", 0));
	JS_FreeValue(ctx, math);
	JS_FreeValue(ctx, global);

	JSValue factory = eval_entry(ctx, "prelude.js", "", "");
	if (JS_IsUndefined(factory))
		die("wasmtask js: the engine's library has no prelude.js: "
		    "build the engine with guests/Makefile, which appends it", JS_UNDEFINED);
	if (JS_IsException(factory))
		die("wasmtask js: prelude.js: ", JS_GetException(ctx));
	JSValue wt = JS_NewObject(ctx);
	JS_SetPropertyFunctionList(ctx, wt, wt_funcs, sizeof wt_funcs / sizeof wt_funcs[0]);
	JSValue args[2] = {wt, JS_NewInt32(ctx, (int32_t)sizeof wrap_head - 1)};
	JSValue api = JS_Call(ctx, factory, JS_UNDEFINED, 2, (JSValueConst *)args);
	JS_FreeValue(ctx, wt);
	JS_FreeValue(ctx, factory);
	if (JS_IsException(api))
		die("wasmtask js: prelude.js: ", JS_GetException(ctx));
	fn_report = get_fn(api, "report");
	fn_load = get_fn(api, "load");
	fn_run = get_fn(api, "run");
	fn_step = get_fn(api, "step");
	fn_finish = get_fn(api, "finish");
	fn_uncaught = get_fn(api, "uncaught");
	JSValue rehearse = get_fn(api, "rehearse");
	JS_FreeValue(ctx, api);
	/* Before the webtask's code: prelude.js says why. */
	JSValue rh = JS_Call(ctx, rehearse, JS_UNDEFINED, 0, NULL);
	JS_FreeValue(ctx, rehearse);
	if (JS_IsException(rh))
		die("wasmtask js: prelude.js: rehearsal: ", JS_GetException(ctx));
	JS_FreeValue(ctx, rh);

	int bare;
	JSValue mapv = JS_NewString(ctx, map);
	JSValue code = compile(src, (size_t)n, &bare);
	free(src);
	if (JS_IsException(code))
		die("", JS_GetException(ctx));
	JSValue largs[3] = {code, JS_NewBool(ctx, bare), mapv};
	JSValue r = JS_Call(ctx, fn_load, JS_UNDEFINED, 3, (JSValueConst *)largs);
	JS_FreeValue(ctx, code);
	JS_FreeValue(ctx, largs[2]);
	if (JS_IsException(r))
		die("", JS_GetException(ctx));
	JS_FreeValue(ctx, r);
	/* Promises the module's code started settle now, inside the snapshot. */
	JSContext *c;
	int jr;
	while ((jr = JS_ExecutePendingJob(rt, &c)) != 0) {
		if (jr < 0)
			die("", JS_GetException(ctx));
	}
	clear_rejections();
	/* Collect now, inside the snapshot: QuickJS runs its cycle collector
	 * when allocations pass a threshold set after the previous run, and
	 * evaluating the code left it close. Without this, every request
	 * restored from the snapshot would start by collecting the whole heap
	 * (over a millisecond) — once per request under the fresh policy.
	 * JS_RunGC alone leaves the threshold where the last automatic run
	 * put it, maybe just above the heap, so it is moved as an automatic
	 * run would: half the heap above it. */
	JS_RunGC(rt);
	JSMemoryUsage mu;
	JS_ComputeMemoryUsage(rt, &mu);
	JS_SetGCThreshold(rt, (size_t)mu.malloc_size + (size_t)mu.malloc_size / 2 + HEAP_HEADROOM / 2);
	/* Headroom: grow the heap now, inside the snapshot, and give the
	 * block back to the allocator (wasm memory cannot shrink, so it stays
	 * a free chunk). A request that needs less than this never grows the
	 * memory; one that grows it cannot be reset to the snapshot (a memory
	 * cannot shrink) and costs the fresh policy a new instance. The pages
	 * are never touched, so they cost no RSS and a reset never copies
	 * them. */
	void *volatile headroom = malloc(HEAP_HEADROOM); /* volatile: the compiler elides a bare free(malloc(n)) */
	free(headroom);
}

/* ---- one request -------------------------------------------------------- */

WT_EXPORT("wt_handle") int32_t wt_handle(void)
{
	in_request = 1;
	responded = 0;
	rnd_seeded = 0;
	JS_UpdateStackTop(rt);
	call(fn_run, 0, NULL);
	for (;;) {
		drain();
		int32_t next = call(fn_step, 0, NULL);
		if (next < 0)
			break;
		if (next > 0)
			sleep_ms(next);
	}
	JSValue args[2] = {JS_NewBool(ctx, nrejections > 0),
			   nrejections > 0 ? JS_DupValue(ctx, rejections[0].reason) : JS_UNDEFINED};
	call(fn_finish, 2, (JSValueConst *)args);
	JS_FreeValue(ctx, args[1]);
	drain();
	clear_rejections();
	if (scratch_cap > (64 << 10)) { /* keep no large request's buffer */
		free(scratch);
		scratch = NULL;
		scratch_cap = 0;
		reserve(4096);
	}
	in_request = 0;
	return 0;
}
