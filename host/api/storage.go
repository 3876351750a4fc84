package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
)

// The storage of a named webtask, as sandboxjs 5.0.0's getStorage and
// updateStorage use it (lib/sandbox.js):
//
//	GET /api/webtask/{c}/{n}/data  -> 200 {"data": "<JSON text>" | null, "etag": "…"}
//	PUT /api/webtask/{c}/{n}/data  {"data": "<JSON text>", "etag": "…"} -> 200 {"etag": "…"}
//
// data travels as a string holding the JSON text of the value, as
// sandboxjs sends it (JSON.stringify) and reads it (JSON.parse); a PUT may
// also give the value itself (an object, array, number, true/false, null).
// Without etag, or with "force": true, a PUT replaces whatever is stored; a
// stale etag is a 409 "conflict" whose body adds the stored "data" and
// "etag" to the error document. The logic is the registry's (deploy.Storage).

// storageSuffix ends the path of a webtask's storage.
const storageSuffix = "/data"

// storagePath reports whether rest (the path after /api/webtask/) is
// {container}/{name}/data and returns its names.
func storagePath(rest string) (container, name string, ok bool) {
	cn, ok := strings.CutSuffix(rest, storageSuffix)
	if !ok {
		return "", "", false
	}
	container, name, ok = strings.Cut(cn, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", false
	}
	return container, name, true
}

// storageDoc is the answer of a GET and the document a conflict carries.
type storageDoc struct {
	// Data is the JSON text of the stored value; null when none is.
	Data *string `json:"data"`
	ETag string  `json:"etag"`
}

func newStorageDoc(d deploy.Document) storageDoc {
	out := storageDoc{ETag: d.ETag}
	if d.Data != nil {
		s := string(d.Data)
		out.Data = &s
	}
	return out
}

// storagePut is the body of a PUT.
type storagePut struct {
	Data  json.RawMessage `json:"data"`
	ETag  string          `json:"etag"`
	Force json.RawMessage `json:"force"`
}

// maxStorageBody is the largest PUT body: the data limit escaped in a JSON
// string (at worst 6 bytes a byte, \u00XX), with room for the rest.
const maxStorageBody = 6*deploy.MaxStorageBytes + 64<<10

// handleStorage serves /api/webtask/{container}/{name}/data, with the
// authorization of the other /api/webtask routes.
func (s *Server) handleStorage(ctx *fasthttp.RequestCtx, container, name string) error {
	if err := checkName("container", container); err != nil {
		return err
	}
	if err := checkName("webtask", name); err != nil {
		return err
	}
	if _, err := s.authorize(ctx, container); err != nil {
		return err
	}
	switch string(ctx.Method()) {
	case "GET":
		if err := noBody(ctx); err != nil {
			return err
		}
		doc, err := s.reg.Storage(container, name).Get()
		if err != nil {
			return err
		}
		return writeJSON(ctx, 200, newStorageDoc(doc))
	case "PUT":
		reserved, err := s.readBody(ctx, maxStorageBody)
		if err != nil {
			return err
		}
		defer s.inflight.release(reserved)
		data, etag, force, err := parseStoragePut(ctx.PostBody())
		if err != nil {
			return err
		}
		next, err := s.reg.Storage(container, name).Put(data, etag, force)
		if err != nil {
			return err
		}
		return writeJSON(ctx, 200, map[string]string{"etag": next})
	}
	return methodNotAllowed(ctx, "GET, PUT")
}

// parseStoragePut reads a PUT body: data as JSON text in a string (or the
// value itself), the etag, and force (true/false or 1/0).
func parseStoragePut(body []byte) (data []byte, etag string, force bool, err error) {
	var in storagePut
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, "", false, fail(deploy.ErrBadRequest, `the body must be JSON {"data": "<JSON text>", "etag": "…"}: `+err.Error())
	}
	switch f := string(in.Force); f {
	case "", "false", "0", "null":
	case "true", "1":
		force = true
	default:
		return nil, "", false, fail(deploy.ErrBadRequest, `"force" must be true or false`)
	}
	switch {
	case len(in.Data) == 0:
		return nil, "", false, fail(deploy.ErrBadRequest, `the body has no "data"`)
	case in.Data[0] == '"':
		var text string
		if err := json.Unmarshal(in.Data, &text); err != nil {
			return nil, "", false, fail(deploy.ErrBadRequest, `"data" is not a valid JSON string`)
		}
		data = []byte(text)
		if !json.Valid(data) {
			return nil, "", false, fail(deploy.ErrBadRequest, `"data" must hold JSON text (sandboxjs sends JSON.stringify(value))`)
		}
	default:
		data = bytes.Clone(in.Data)
	}
	return data, in.ETag, force, nil
}

// conflictError is the answer to a stale etag: the error document and
// the stored document beside it.
type conflictError struct {
	apiError
	storageDoc
}

// webtaskStorage is a named webtask's storage as its guest's storage calls
// reach it (engine.Storage): the registry's, with its conflict and size
// errors told apart for the ABI.
type webtaskStorage struct{ s deploy.Storage }

// Get implements engine.Storage.
func (w *webtaskStorage) Get() ([]byte, string, error) {
	d, err := w.s.Get()
	return d.Data, d.ETag, err
}

// Put implements engine.Storage.
func (w *webtaskStorage) Put(data []byte, etag string, force bool) (string, error) {
	next, err := w.s.Put(data, etag, force)
	switch {
	case errors.Is(err, deploy.ErrConflict):
		return "", fmt.Errorf("%w: %v", engine.ErrStorageConflict, err)
	case errors.Is(err, deploy.ErrTooLarge):
		return "", fmt.Errorf("%w: %v", engine.ErrStorageTooLarge, err)
	}
	return next, err
}
