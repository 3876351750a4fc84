/*
 * native — a webtask compiled for the build machine instead of
 * --target=wasm32-wasi: the output is an ELF object, not WebAssembly. The
 * host refuses it at upload as an invalid module.
 */
int wt_handle(void) { return 0; }
