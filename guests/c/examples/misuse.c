/*
 * misuse — a hostile C guest that breaks the ABI on purpose, one way per
 * route, calling the raw host imports directly. Each route must end with a
 * trap (the host answers 500 and discards the instance) or the defined
 * result; the conformance kit checks the same table against wat/misuse.wat.
 */
#include "wasmtask.h"

#define OOB ((void *)0xFFFFFFF0u) /* 16 bytes below 4 GiB: never inside memory */

static char buf[64];

static int ok(void) { wt_host_result("{\"ok\":true}", 11); return 0; }
static int oob_get(void) { wt_host_get(WT_FIELD_METHOD, OOB, 1000); return 0; }
static int oob_key(void) { wt_host_get_value(WT_MAP_QUERY, OOB, 100, buf, sizeof buf); return 0; }
static int oob_result(void) { wt_host_result(OOB, 100); return 0; }
static int oob_log(void) { wt_host_log(WT_LOG_INFO, OOB, 100); return 0; }
static int negative_length(void) { wt_host_write_body(buf, -1); return 0; }
static int result_twice(void) { wt_host_result("1", 1); wt_host_result("2", 1); return 0; }
static int write_after_finish(void) { wt_host_result("1", 1); wt_host_write_body("x", 1); return 0; }
static int error_after_result(void) { wt_host_result("1", 1); wt_host_error(400, "x", 1); return 0; }
static int header_after_error(void) { wt_host_error(400, "x", 1); wt_host_set_header("x-a", 3, "b", 1); return 0; }
static int bad_header_name(void) { wt_host_set_header("bad name", 8, "x", 1); return 0; }
static int bad_header_value(void) { wt_host_set_header("x-h", 3, "a\r\nb", 4); return 0; }
static int reserved_header(void) { wt_host_set_header("x-wt-response-source", 20, "guest", 5); return 0; }
static int bad_status(void) { wt_host_set_status(99); return 0; }
static int bad_error_status(void) { wt_host_error(302, "x", 1); return 0; }
static int invalid_json(void) { wt_host_result("{not json", 9); return 0; }
static int raw_then_simple(void) { wt_host_set_status(200); wt_host_result("{}", 2); return 0; }
/* Recursion past the 64 KiB stack: the stack sits below the data
 * (--stack-first), so the overflow is an access below address 0 and traps. */
static int deeper(int n) {
	volatile char frame[1024];
	frame[0] = (char)n;
	if (n == -1)
		return 0;
	return deeper(n + 1) + frame[0];
}
static int stack_overflow(void) { return deeper(0); }
static int fail(void) { return 1; }
static int fail_after_result(void) { wt_host_result("{\"ok\":true}", 11); return 1; }

int wasmtask_handle(void) {
	static const wt_route routes[] = {
	    {"GET", "/ok", ok},
	    {"GET", "/oob-get", oob_get},
	    {"GET", "/oob-key", oob_key},
	    {"GET", "/oob-result", oob_result},
	    {"GET", "/oob-log", oob_log},
	    {"GET", "/negative-length", negative_length},
	    {"GET", "/result-twice", result_twice},
	    {"GET", "/write-after-finish", write_after_finish},
	    {"GET", "/error-after-result", error_after_result},
	    {"GET", "/header-after-error", header_after_error},
	    {"GET", "/bad-header-name", bad_header_name},
	    {"GET", "/bad-header-value", bad_header_value},
	    {"GET", "/reserved-header", reserved_header},
	    {"GET", "/bad-status", bad_status},
	    {"GET", "/bad-error-status", bad_error_status},
	    {"GET", "/invalid-json", invalid_json},
	    {"GET", "/raw-then-simple", raw_then_simple},
	    {"GET", "/stack-overflow", stack_overflow},
	    {"GET", "/fail", fail},
	    {"GET", "/fail-after-result", fail_after_result},
	};
	return WT_ROUTES(routes);
}
