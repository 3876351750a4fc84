//go:build wasip1

package wasmtask

// The host functions of ABI v1 (abi/SPEC.md). A string parameter is passed
// as the two i32 values (ptr, len); *byte and uint32 are one i32 each. The
// module name must be a literal, so it cannot be abi.ModuleName; the
// signatures are checked against abi.go by the host at upload.

//go:wasmimport wasmtask_v1 get
func hostGet(field uint32, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 get_value
func hostGetValue(m uint32, key string, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 get_map
func hostGetMap(m uint32, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 set_status
func hostSetStatus(status uint32)

//go:wasmimport wasmtask_v1 set_header
func hostSetHeader(name, value string)

//go:wasmimport wasmtask_v1 add_header
func hostAddHeader(name, value string)

//go:wasmimport wasmtask_v1 write_body
func hostWriteBody(buf *byte, bufLen uint32)

//go:wasmimport wasmtask_v1 result
func hostResult(buf *byte, bufLen uint32)

//go:wasmimport wasmtask_v1 error
func hostError(status uint32, msg string)

//go:wasmimport wasmtask_v1 log
func hostLog(level uint32, msg string)

//go:wasmimport wasmtask_v1 storage_get
func hostStorageGet(buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 storage_set
func hostStorageSet(data *byte, dataLen uint32, etag string, flags uint32, buf *byte, bufLen uint32) int32

//go:wasmimport wasmtask_v1 http_request
func hostHTTPRequest(method, url string, headers *byte, headersLen uint32, body *byte, bodyLen uint32) int32

//go:wasmimport wasmtask_v1 http_response
func hostHTTPResponse(part uint32, buf *byte, bufLen uint32) int32

// wtHandle is the module's request handler export (abi.ExportHandle).
//
//go:wasmexport wt_handle
func wtHandle() int32 {
	return handle()
}
