/*
 * visits — counts the requests of its webtask in the webtask's storage
 * (wt_storage_get/wt_storage_set), so the count survives instances,
 * policies and restarts: {"visits":N}. A write that loses to a concurrent
 * one reads again and retries.
 *
 *   curl http://127.0.0.1:8080/api/run/acme/visits
 */
#include "wasmtask.h"

int wasmtask_handle(void) {
	for (;;) {
		wt_storage s;
		int rc = wt_storage_get(&s);
		if (rc != WT_STORAGE_OK) {
			wt_error(500, wt_storage_strerror(rc));
			return 0;
		}
		long long visits = 0;
		if (s.data.data != NULL) {
			wt_bytes n = wt_json_member(s.data.data, s.data.len, "visits");
			visits = n.data != NULL ? wt_atoi(n.data, -1) : 0; /* {} counts 0 */
			if (visits < 0) {
				wt_error(500, "stored data is not {\"visits\":N}");
				return 0;
			}
		}
		wt_buf doc = {0};
		wt_buf_str(&doc, "{\"visits\":");
		wt_buf_int(&doc, visits + 1);
		wt_buf_str(&doc, "}");
		rc = wt_storage_set(doc.data, doc.len, s.etag, 0, NULL);
		if (rc == WT_STORAGE_CONFLICT)
			continue;
		if (rc != WT_STORAGE_OK) {
			wt_error(500, wt_storage_strerror(rc));
			return 0;
		}
		wt_result(doc.data, doc.len);
		return 0;
	}
}
