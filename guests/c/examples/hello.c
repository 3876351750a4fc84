/*
 * hello — the smallest C webtask: {"message":"hello, <name>"}.
 *
 *   curl 'http://127.0.0.1:8080/api/run/acme/hello?name=Tomek'
 */
#include "wasmtask.h"

int wasmtask_handle(void) {
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
