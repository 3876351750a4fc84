/*
 * conformance — the C guest of the conformance kit (guests/conformance):
 * the same routes, with the same answers, as every other language's
 * conformance guest. guests/README.md describes the routes.
 */
#include <stdio.h>
#include <string.h>

#include "wasmtask.h"

static int hello(void) {
	const char *name = wt_query("name");
	wt_buf msg = {0}, out = {0};
	wt_buf_str(&msg, "hello, ");
	wt_buf_str(&msg, name ? name : "world");
	wt_buf_str(&out, "{\"message\":");
	wt_buf_json_str(&out, msg.data, msg.len);
	wt_buf_str(&out, "}");
	wt_result(out.data, out.len);
	return 0;
}

/* map_pairs appends a map as [["key","value"],...] in host order. */
static void map_pairs(wt_buf *b, int32_t map) {
	wt_map_iter it = wt_map(map);
	const char *k, *v;
	int first = 1;
	wt_buf_str(b, "[");
	while (wt_map_next(&it, &k, &v)) {
		wt_buf_str(b, first ? "[" : ",[");
		first = 0;
		wt_buf_json_cstr(b, k);
		wt_buf_str(b, ",");
		wt_buf_json_cstr(b, v);
		wt_buf_str(b, "]");
	}
	wt_buf_str(b, "]");
}

static void member(wt_buf *b, const char *name) {
	wt_buf_str(b, b->len > 1 ? ",\"" : "\"");
	wt_buf_str(b, name);
	wt_buf_str(b, "\":");
}

static int context(void) {
	static const struct {
		const char *name;
		int32_t map;
	} maps[] = {
	    {"query", WT_MAP_QUERY}, {"headers", WT_MAP_HEADERS}, {"secrets", WT_MAP_SECRETS},
	    {"params", WT_MAP_PARAMS}, {"meta", WT_MAP_META}, {"data", WT_MAP_DATA},
	};
	static const struct {
		const char *name;
		int32_t map;
		const char *key;
	} lookups[] = {
	    {"query", WT_MAP_QUERY, "x"}, {"header", WT_MAP_HEADERS, "X-Custom"},
	    {"secret", WT_MAP_SECRETS, "auth-secret"}, {"param", WT_MAP_PARAMS, "p"},
	    {"meta", WT_MAP_META, "owner"}, {"data", WT_MAP_DATA, "name"},
	    {"missing", WT_MAP_QUERY, "no-such-key"},
	};
	wt_buf b = {0};
	wt_buf_str(&b, "{");
	member(&b, "method");
	wt_buf_json_cstr(&b, wt_method());
	member(&b, "path");
	wt_buf_json_cstr(&b, wt_path());
	member(&b, "raw_query");
	wt_buf_json_cstr(&b, wt_raw_query());
	wt_bytes body = wt_body();
	member(&b, "body");
	wt_buf_json_str(&b, body.data ? body.data : "", body.len);
	member(&b, "container");
	wt_buf_json_cstr(&b, wt_container());
	member(&b, "name");
	wt_buf_json_cstr(&b, wt_name());
	member(&b, "request_id");
	wt_buf_json_cstr(&b, wt_request_id());
	for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
		member(&b, maps[i].name);
		map_pairs(&b, maps[i].map);
	}
	member(&b, "lookup");
	wt_buf_str(&b, "{");
	for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
		if (i > 0)
			wt_buf_str(&b, ",");
		wt_buf_json_cstr(&b, lookups[i].name);
		wt_buf_str(&b, ":");
		wt_bytes v = wt_value(lookups[i].map, lookups[i].key, strlen(lookups[i].key));
		wt_buf_json_str(&b, v.data, v.len);
	}
	wt_buf_str(&b, "}");
	member(&b, "unknown");
	wt_buf_str(&b, "{\"field\":");
	wt_buf_int(&b, wt_host_get(99, NULL, 0));
	wt_buf_str(&b, ",\"map\":");
	wt_buf_int(&b, wt_host_get_map(99, NULL, 0));
	wt_buf_str(&b, ",\"value\":");
	wt_buf_int(&b, wt_host_get_value(99, "x", 1, NULL, 0));
	wt_buf_str(&b, "}}");
	wt_result(b.data, b.len);
	return 0;
}

static int error(void) {
	const char *msg = wt_query("message");
	wt_error((int)wt_atoi(wt_query("status"), 0), msg ? msg : "Not Authorized");
	return 0;
}

static int raw(void) {
	wt_set_status((int)wt_atoi(wt_query("status"), 200));
	wt_set_header("content-type", "text/plain; charset=utf-8");
	wt_set_header("x-replaced", "old");
	wt_set_header("x-replaced", "new");
	wt_add_header("x-multi", "a");
	wt_add_header("x-multi", "b");
	const char *h = wt_query("header");
	if (h != NULL) {
		const char *colon = strchr(h, ':');
		if (colon != NULL) {
			char *name = wt_alloc((size_t)(colon - h));
			memcpy(name, h, (size_t)(colon - h));
			name[colon - h] = 0;
			wt_add_header(name, colon + 1);
		}
	}
	wt_write_str("raw ");
	wt_write_str("body");
	return 0;
}

static int binary(void) {
	unsigned char b[256];
	for (int i = 0; i < 256; i++)
		b[i] = (unsigned char)i;
	wt_set_header("content-type", "application/octet-stream");
	wt_write(b, sizeof b);
	return 0;
}

static int echo_body(void) {
	const char *ct = wt_header("content-type");
	wt_set_header("content-type", ct ? ct : "application/octet-stream");
	wt_bytes body = wt_body();
	wt_write(body.data, body.len);
	return 0;
}

static int log_lines(void) {
	wt_log(WT_LOG_DEBUG, "debug line");
	wt_log(WT_LOG_INFO, "info line");
	wt_log(WT_LOG_WARN, "warn line");
	wt_log(WT_LOG_ERROR, "error line");
	wt_log(7, "level 7 line");
	printf("stdout line\n");
	fflush(stdout);
	fprintf(stderr, "stderr line\n");
	wt_result_str("{\"logged\":true}");
	return 0;
}

static int trap(void) { __builtin_trap(); }

static int empty(void) { return 0; }

int wasmtask_handle(void) {
	static const wt_route routes[] = {
	    {"GET", "/hello", hello},     {"*", "/context", context},
	    {"GET", "/error", error},     {"GET", "/raw", raw},
	    {"GET", "/binary", binary},   {"POST", "/echo-body", echo_body},
	    {"GET", "/log", log_lines},   {"GET", "/trap", trap},
	    {"GET", "/empty", empty},
	};
	return WT_ROUTES(routes);
}
