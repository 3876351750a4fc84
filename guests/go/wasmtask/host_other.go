//go:build !wasip1

package wasmtask

import "unsafe"

// Outside GOOS=wasip1 there is no wasmtask host. These functions have the
// signatures of the imports in host_wasip1.go so that the package builds
// and vets on any platform; they forward to nativeHost, which only this
// package's tests set, and otherwise panic.

const errNotWasip1 = "wasmtask: the guest SDK runs only under GOOS=wasip1 (build with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared)"

// hostABI is ABI v1 with Go slices in place of (ptr, len) pairs.
type hostABI interface {
	get(field uint32, buf []byte) int32
	getValue(m uint32, key string, buf []byte) int32
	getMap(m uint32, buf []byte) int32
	setStatus(status uint32)
	setHeader(name, value string)
	addHeader(name, value string)
	writeBody(p []byte)
	result(p []byte)
	error(status uint32, msg string)
	log(level uint32, msg string)
	storageGet(buf []byte) int32
	storageSet(data []byte, etag string, flags uint32, buf []byte) int32
	httpRequest(method, url string, headers, body []byte) int32
	httpResponse(part uint32, buf []byte) int32
}

// nativeHost stands in for the Wasm host in tests; nil otherwise.
var nativeHost hostABI

func native() hostABI {
	if nativeHost == nil {
		panic(errNotWasip1)
	}
	return nativeHost
}

func hostGet(field uint32, buf *byte, bufLen uint32) int32 {
	return native().get(field, bytesAt(buf, bufLen))
}

func hostGetValue(m uint32, key string, buf *byte, bufLen uint32) int32 {
	return native().getValue(m, key, bytesAt(buf, bufLen))
}

func hostGetMap(m uint32, buf *byte, bufLen uint32) int32 {
	return native().getMap(m, bytesAt(buf, bufLen))
}

func hostSetStatus(status uint32) { native().setStatus(status) }

func hostSetHeader(name, value string) { native().setHeader(name, value) }

func hostAddHeader(name, value string) { native().addHeader(name, value) }

func hostWriteBody(buf *byte, bufLen uint32) { native().writeBody(bytesAt(buf, bufLen)) }

func hostResult(buf *byte, bufLen uint32) { native().result(bytesAt(buf, bufLen)) }

func hostError(status uint32, msg string) { native().error(status, msg) }

func hostLog(level uint32, msg string) { native().log(level, msg) }

func hostStorageGet(buf *byte, bufLen uint32) int32 { return native().storageGet(bytesAt(buf, bufLen)) }

func hostStorageSet(data *byte, dataLen uint32, etag string, flags uint32, buf *byte, bufLen uint32) int32 {
	return native().storageSet(bytesAt(data, dataLen), etag, flags, bytesAt(buf, bufLen))
}

func hostHTTPRequest(method, url string, headers *byte, headersLen uint32, body *byte, bodyLen uint32) int32 {
	return native().httpRequest(method, url, bytesAt(headers, headersLen), bytesAt(body, bodyLen))
}

func hostHTTPResponse(part uint32, buf *byte, bufLen uint32) int32 {
	return native().httpResponse(part, bytesAt(buf, bufLen))
}

// bytesAt is the slice the (ptr, len) pair of a host call describes.
func bytesAt(p *byte, n uint32) []byte { return unsafe.Slice(p, n) }
