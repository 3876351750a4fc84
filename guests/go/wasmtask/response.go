package wasmtask

import (
	"encoding/json"
	"unsafe"
)

// ResponseWriter writes a raw-model response. Every method is one host call
// that takes effect at once; the response is sent when the handler returns.
// It implements io.Writer and io.StringWriter, so fmt.Fprintf, io.Copy and
// json.NewEncoder can write the body.
//
// The host enforces the rules of abi/SPEC.md and fails the request with 500
// (a trap) when they are broken: status outside 100–599, a header name that
// is not an HTTP token, a value with CR, LF or NUL, or a header the host owns
// (content-length, transfer-encoding, connection, x-wt-*). Headers and status
// may still be changed after the body was written: nothing is sent before
// the handler returns.
type ResponseWriter struct {
	_ struct{} // no fields yet; one per module, reused
}

// response is the one ResponseWriter.
var response ResponseWriter

// SetStatus sets the status code; the default is 200.
func (w *ResponseWriter) SetStatus(code int) { hostSetStatus(uint32(code)) }

// SetHeader sets a response header, replacing any values it had.
func (w *ResponseWriter) SetHeader(name, value string) { hostSetHeader(name, value) }

// AddHeader adds one more value to a response header.
func (w *ResponseWriter) AddHeader(name, value string) { hostAddHeader(name, value) }

// Write appends p to the body. It always returns len(p), nil; a body past the
// host's response limit ends the request with 500.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	hostWriteBody(unsafe.SliceData(p), uint32(len(p)))
	return len(p), nil
}

// WriteString appends s to the body without copying it.
func (w *ResponseWriter) WriteString(s string) (int, error) {
	hostWriteBody(unsafe.StringData(s), uint32(len(s)))
	return len(s), nil
}

// WriteJSON sets content-type: application/json and writes v encoded with
// encoding/json, like Express's res.json. Set the status before or after.
func (w *ResponseWriter) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.SetHeader("content-type", "application/json")
	_, err = w.Write(b)
	return err
}
