// Package abi is the contract between the wasmtask host and its guests: the
// import module name, every host function name, the guest exports the host
// calls, and the numeric constants both sides agree on.
//
// It imports nothing but the standard library so that the host and the Go
// guest SDK can both depend on it. The prose specification, written so that a
// Rust, C or AssemblyScript programmer can implement a guest from it, is
// SPEC.md in this folder.
package abi

// Version is the ABI version this package describes. A module built for
// another version imports from a module named "wasmtask_v<N>" with N != Version
// and is refused at upload.
const Version = 1

// ModuleName is the Wasm import module that holds every host function of
// this ABI version.
const ModuleName = "wasmtask_v1"

// ModulePrefix is the prefix shared by the import modules of every ABI
// version; the host uses it to tell "built for another version" from
// "imports something unknown".
const ModulePrefix = "wasmtask_v"

// Guest exports the host looks for.
const (
	// ExportHandle is the request handler: () -> i32. The host calls it once
	// per request; a return value other than 0 is reported as a guest error
	// (500) unless the guest already finished its response.
	ExportHandle = "wt_handle"
	// ExportInitialize is the WASI reactor initialiser, run once per instance
	// before the first request when the module exports it.
	ExportInitialize = "_initialize"
	// ExportMemory is the linear memory every guest must export.
	ExportMemory = "memory"
)

// Host function names in ModuleName. Signatures use only i32; see SPEC.md.
const (
	// FuncGet reads a scalar request field: (field, buf, buf_len) -> len.
	FuncGet = "get"
	// FuncGetValue reads one entry of a map: (map, key, key_len, buf, buf_len) -> len.
	FuncGetValue = "get_value"
	// FuncGetMap reads a whole map as NUL-separated pairs: (map, buf, buf_len) -> len.
	FuncGetMap = "get_map"
	// FuncSetStatus sets the raw-model status code: (status) -> ().
	FuncSetStatus = "set_status"
	// FuncSetHeader replaces a response header: (name, name_len, value, value_len) -> ().
	FuncSetHeader = "set_header"
	// FuncAddHeader appends a response header value: (name, name_len, value, value_len) -> ().
	FuncAddHeader = "add_header"
	// FuncWriteBody appends to the raw-model response body: (buf, buf_len) -> ().
	FuncWriteBody = "write_body"
	// FuncResult finishes a simple-model request with a JSON result: (buf, buf_len) -> ().
	FuncResult = "result"
	// FuncError finishes a simple-model request with an error: (status, msg, msg_len) -> ().
	FuncError = "error"
	// FuncLog writes one log line for the webtask's container: (level, buf, buf_len) -> ().
	FuncLog = "log"
	// FuncSource reads the webtask's source code, for a module that is an
	// interpreter (the JavaScript engine): (buf, buf_len) -> len, NotFound
	// when the webtask has no source. Only while the module initialises
	// (its start function and _initialize); a call during a request traps.
	FuncSource = "source"
	// FuncLibrary reads one entry of the calling module's own library, the
	// custom section LibrarySection (the JavaScript engine's built-in
	// modules): (name, name_len, buf, buf_len) -> len, NotFound when the
	// module has no entry of that name. Callable at any time.
	FuncLibrary = "library"
	// FuncStorageGet reads the named webtask's storage: (buf, buf_len) ->
	// len, the document {"data": <JSON value or null>, "etag": "…"};
	// NotFound when the run has no storage (code run by a token), or
	// StorageFailed.
	FuncStorageGet = "storage_get"
	// FuncStorageSet writes the named webtask's storage: (data, data_len,
	// etag, etag_len, flags, buf, buf_len) -> len of the new etag (written
	// to buf when it fits), or NotFound, StorageConflict, StorageTooLarge,
	// StorageFailed. data is JSON text; flags bit 0 (StorageForce)
	// overwrites whatever etag is current.
	FuncStorageSet = "storage_set"
	// FuncHTTPRequest makes an outbound HTTP call: (method, method_len,
	// url, url_len, headers, headers_len, body, body_len) -> the
	// response's status, or HTTPDenied, HTTPFailed, HTTPTooLarge,
	// HTTPTooMany, HTTPInvalid. headers are NUL-separated pairs, as
	// FuncGetMap returns them. The host keeps the response (or the
	// failure's message) for FuncHTTPResponse until the next call.
	FuncHTTPRequest = "http_request"
	// FuncHTTPResponse reads the last outbound call's response: (part,
	// buf, buf_len) -> len, or NotFound (no call yet; for HTTPPartError,
	// the last call succeeded).
	FuncHTTPResponse = "http_response"
)

// Results of FuncHTTPRequest besides a status. After each, the part
// HTTPPartError says why.
const (
	// HTTPDenied: the container's outbound policy refuses the url (a host
	// not on its allow-list, a private or loopback address); no
	// connection was made.
	HTTPDenied = -5
	// HTTPFailed: the call was made and failed (DNS, connect, TLS, the
	// peer closed, the request's time ran out before the answer).
	HTTPFailed = -6
	// HTTPTooLarge: the response is over the policy's size limit.
	HTTPTooLarge = -7
	// HTTPTooMany: the request has made as many calls as the policy
	// allows one request.
	HTTPTooMany = -8
	// HTTPInvalid: the method, url or a header is malformed.
	HTTPInvalid = -9
)

// Parts of the last outbound response, read with FuncHTTPResponse.
const (
	HTTPPartHeaders uint32 = 0 // NUL-separated pairs, names lower-cased, sorted
	HTTPPartBody    uint32 = 1 // the body bytes
	HTTPPartError   uint32 = 2 // why the last call failed (text)
)

// Results of the storage calls besides lengths and NotFound.
const (
	// StorageConflict: the etag given is not the stored document's;
	// nothing was written (storage_get reads the current one).
	StorageConflict = -2
	// StorageTooLarge: the data is over the 500 KB limit; nothing written.
	StorageTooLarge = -3
	// StorageFailed: the data is not JSON, or the store failed; nothing
	// written. The reason is in the webtask's log.
	StorageFailed = -4
)

// StorageForce is the storage_set flag that overwrites regardless of the
// etag.
const StorageForce = 1

// LibrarySection is the name of the custom section FuncLibrary reads: a
// module's read-only data that stays out of its linear memory. Its
// content is a sequence of entries, each a name, a NUL byte, the entry's
// bytes and a NUL byte (so neither may contain NUL).
const LibrarySection = "wasmtask.library"

// Field identifies a scalar request field read with FuncGet.
type Field = uint32

// Scalar fields.
const (
	FieldMethod      Field = 0 // HTTP method, e.g. "GET"
	FieldPath        Field = 1 // path below the webtask, starting with "/" ("/" when none)
	FieldQuery       Field = 2 // raw query string without reserved keys, no leading "?"
	FieldBody        Field = 3 // raw request body bytes
	FieldContainer   Field = 4 // container name
	FieldName        Field = 5 // webtask name
	FieldRequestID   Field = 6 // request id, unique per request
	FieldContextJSON Field = 7 // the whole context as one JSON object (see SPEC.md)
	FieldUser        Field = 8 // the verified caller: JWT claims as a JSON object (SPEC.md "Declarative auth"); NotFound when none
)

// Map identifies a string map read with FuncGetValue or FuncGetMap.
type Map = uint32

// Maps.
const (
	MapQuery   Map = 0 // query parameters, without "key" and "webtask_*"
	MapHeaders Map = 1 // request headers, names lower-cased
	MapSecrets Map = 2 // secrets: token ectx, then the webtask's stored secrets
	MapParams  Map = 3 // public token parameters (pctx)
	MapMeta    Map = 4 // webtask metadata
	MapData    Map = 5 // merged view: query, then params override, then secrets override
	MapUser    Map = 6 // the caller the host verified (JWT claims; see SPEC.md "Declarative auth"); empty when none
)

// NotFound is what FuncGet, FuncGetValue and FuncGetMap return when the field,
// map or key does not exist. Any other return value is the length the value
// needs; the host copied it into the buffer only when it fitted.
const NotFound = -1

// Log levels for FuncLog.
const (
	LogDebug uint32 = 0
	LogInfo  uint32 = 1
	LogWarn  uint32 = 2
	LogError uint32 = 3
)

// DefaultErrorStatus is the status a simple-model error gets when the guest
// passes 0.
const DefaultErrorStatus = 400

// ScriptError is the "error" member of the JSON body of a simple-model error,
// as the original platform wrote it.
const ScriptError = "Script returned an error."
