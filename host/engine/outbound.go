package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasmtask/wasmtask/abi"
)

// Outbound makes a guest's outbound HTTP calls (abi/SPEC.md, "Outbound
// HTTP"). The host implements it per request: the container's policy, the
// count of calls, the log records.
type Outbound interface {
	// Do makes one call, giving up at deadline (the request's). Its
	// errors wrap one of the ErrOutbound… values below, which tell the
	// guest apart; the message is the guest's to read, so it must never
	// hold a secret (a header or body of the call).
	Do(deadline time.Time, req *OutboundRequest) (*OutboundResponse, error)
}

// OutboundRequest is a call as the guest gave it; the slices view guest
// memory and are valid only during Do.
type OutboundRequest struct {
	Method, URL string
	Headers     []KV // in the guest's order, names as given
	Body        []byte
}

// OutboundResponse is the answer to a call: Headers' names lower-cased,
// sorted by name; Body owned by the engine until the request ends.
type OutboundResponse struct {
	Status  int
	Headers []KV
	Body    []byte
}

// Errors an Outbound returns that the guest tells apart (abi.HTTP…).
var (
	ErrOutboundDenied   = errors.New("outbound HTTP denied")
	ErrOutboundFailed   = errors.New("outbound HTTP failed")
	ErrOutboundTooLarge = errors.New("outbound HTTP response too large")
	ErrOutboundTooMany  = errors.New("too many outbound HTTP calls")
	ErrOutboundInvalid  = errors.New("invalid outbound HTTP request")
)

// outboundState is the last call's outcome, kept in the call for
// http_response until the next http_request or the request's end.
type outboundState struct {
	done bool
	resp *OutboundResponse
	err  string
}

// maxOutboundHeaders caps how many header pairs a guest may send.
const maxOutboundHeaders = 100

// hostHTTPRequest makes an outbound call.
func hostHTTPRequest(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	method := read(mod, stack[0], stack[1])
	url := read(mod, stack[2], stack[3])
	hdrs := read(mod, stack[4], stack[5])
	body := read(mod, stack[6], stack[7])
	c.out = outboundState{done: true}
	req := OutboundRequest{Method: string(method), URL: string(url), Body: body}
	ok := true
	n := 0
	decodePairs(hdrs, func(k, v []byte) {
		if n++; n > maxOutboundHeaders {
			ok = false
			return
		}
		req.Headers = append(req.Headers, KV{Key: string(k), Value: string(v)})
	})
	var resp *OutboundResponse
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("%w: more than %d headers", ErrOutboundInvalid, maxOutboundHeaders)
	case c.req.Outbound == nil:
		err = fmt.Errorf("%w: this server makes no outbound HTTP calls for webtasks", ErrOutboundDenied)
	default:
		var deadline time.Time
		if rc, isRC := ctx.(*reqCtx); isRC && rc.deadline != 0 {
			deadline = monoTime(rc.deadline)
		}
		c.away(ctx, func() { resp, err = c.req.Outbound.Do(deadline, &req) }) // waiting is not computing
		checkDeadline(ctx)                                                    // a call that ran out of time ends the request as a timeout
	}
	if err != nil {
		c.out.err = outboundMessage(err)
		stack[0] = result(outboundCode(err))
		return
	}
	c.out.resp = resp
	stack[0] = uint64(uint32(int32(resp.Status)))
}

// hostHTTPResponse reads a part of the last outbound call.
func hostHTTPResponse(ctx context.Context, mod api.Module, stack []uint64) {
	c := callOf(ctx)
	part, buf, bufLen := uint32(stack[0]), stack[1], stack[2]
	o := &c.out
	switch {
	case !o.done:
		stack[0] = absent(mod, buf, bufLen)
	case part == abi.HTTPPartError:
		if o.resp != nil {
			stack[0] = absent(mod, buf, bufLen)
			return
		}
		stack[0] = outString(ctx, mod, buf, bufLen, o.err)
	case o.resp == nil, part != abi.HTTPPartHeaders && part != abi.HTTPPartBody:
		stack[0] = absent(mod, buf, bufLen)
	case part == abi.HTTPPartBody:
		b := o.resp.Body
		stack[0] = out(ctx, mod, buf, bufLen, len(b), func(dst []byte) { copy(dst, b) })
	default:
		stack[0] = outPairs(ctx, mod, buf, bufLen, o.resp.Headers)
	}
}

// outboundCode is the guest's result for a failed call.
func outboundCode(err error) int32 {
	switch {
	case errors.Is(err, ErrOutboundDenied):
		return abi.HTTPDenied
	case errors.Is(err, ErrOutboundTooLarge):
		return abi.HTTPTooLarge
	case errors.Is(err, ErrOutboundTooMany):
		return abi.HTTPTooMany
	case errors.Is(err, ErrOutboundInvalid):
		return abi.HTTPInvalid
	}
	return abi.HTTPFailed
}

// outboundMessage is what the guest reads of a failure: the error's text
// without its kind's (the result code says that).
func outboundMessage(err error) string {
	msg := err.Error()
	for _, kind := range []error{ErrOutboundDenied, ErrOutboundFailed, ErrOutboundTooLarge, ErrOutboundTooMany, ErrOutboundInvalid} {
		if errors.Is(err, kind) {
			return strings.Replace(msg, kind.Error()+": ", "", 1)
		}
	}
	return msg
}

// decodePairs calls fn for each key NUL value NUL pair of b; a trailing
// incomplete pair is ignored.
func decodePairs(b []byte, fn func(k, v []byte)) {
	for len(b) > 0 {
		k, rest, ok := bytes.Cut(b, nul)
		if !ok {
			return
		}
		v, rest, ok := bytes.Cut(rest, nul)
		if !ok {
			return
		}
		fn(k, v)
		b = rest
	}
}

var nul = []byte{0}
