package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/store"
)

// patchJSON is the body of PATCH /api/webtask/{container}/{name}: what
// changes; everything else the webtask carries is kept. A PUT replaces the
// whole webtask (code, secrets, meta), so without this an editor that
// saves code would have to resend the secrets' values it never reads, and
// one that adds a secret would have to resend the code.
type patchJSON struct {
	// Code, when present, replaces the code: a base64 module or
	// JavaScript source, as in the JSON upload.
	Code *string `json:"code"`
	// Secrets and Meta set each key given to its value; a null value
	// removes the key.
	Secrets map[string]*string `json:"secrets"`
	Meta    map[string]*string `json:"meta"`
}

// patchWebtask serves PATCH /api/webtask/{container}/{name}: it deploys the
// webtask again with the changes of the body (patchJSON) and what it
// already has — code, secrets, meta, and its token's params, pb and mb —
// issued from the caller's token as a PUT is. It reads and deploys in two
// steps: a PUT or PATCH in between is overwritten (the last one wins).
func (s *Server) patchWebtask(ctx *fasthttp.RequestCtx, t *deploy.Token, container, name string) error {
	var p patchJSON
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fail(deploy.ErrBadRequest, `the body must be JSON {"code": …, "secrets": {name: value or null}, "meta": {key: value or null}}: `+err.Error())
	}
	w, err := s.reg.Get(container, name)
	if err != nil {
		return err
	}
	if w.Damaged != "" {
		return fail(deploy.ErrBadRequest, "webtask "+name+" is damaged ("+w.Damaged+"): it can only be deleted or uploaded again with PUT")
	}
	up := deploy.Upload{Container: container, Name: name}
	if p.Code != nil {
		err = s.uploadCode(&up, *p.Code)
	} else {
		err = s.keepCode(&up, w)
	}
	if err != nil {
		return err
	}
	secrets, err := s.reg.Secrets(w)
	if err != nil {
		return err
	}
	up.Secrets = patchMap(secrets, p.Secrets)
	up.Meta = patchMap(w.Meta, p.Meta)
	if c, err := s.signer.Parse(w.Token); err == nil {
		up.Params, up.ParseBody, up.MergeBody = c.PublicContext, c.ParseBody, c.MergeBody
	}
	w, _, err = s.reg.Deploy(t, up)
	if err != nil {
		return err
	}
	return writeJSON(ctx, 200, s.info(ctx, w))
}

// keepCode sets up's code to w's stored code.
func (s *Server) keepCode(up *deploy.Upload, w store.Webtask) error {
	code, err := s.reg.Code(w)
	if err != nil {
		return err
	}
	if w.Kind == store.KindJS {
		up.JS = []byte(code)
		return nil
	}
	up.Wasm, err = base64.StdEncoding.DecodeString(code) // Code encodes a module so
	return err
}

// patchMap returns a copy of m with the changes applied: a nil value
// deletes its key. Nil when nothing is left.
func patchMap(m map[string]string, changes map[string]*string) map[string]string {
	out := maps.Clone(m)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
