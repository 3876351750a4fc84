/*
 * command — a complete webtask built the wrong way: as a WASI command
 * (clang without -mexec-model=reactor), so the module exports _start and
 * needs main. The host refuses it at upload and says how to build a reactor.
 */
#include "wasmtask.h"

int wasmtask_handle(void) {
	wt_result_str("{\"message\":\"hello, world\"}");
	return 0;
}

int main(void) { return 0; }
