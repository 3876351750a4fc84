package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
)

// parseBody parses a run's body for tokens with pb (parse body) or mb (merge
// body): a JSON body (Content-Type application/json or *+json) must be valid
// JSON, and a form (application/x-www-form-urlencoded) is decoded. It
// returns the top-level fields — of a JSON object (strings as they are,
// other values as their JSON text) or of a form — for mb. Other content
// types are not parsed.
func parseBody(ctx *fasthttp.RequestCtx) ([]engine.KV, error) {
	ct, _, _ := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	switch {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("pb: the token asks to parse the body, and it is not valid JSON")
		}
		if _, err := dec.Token(); err != io.EOF { // one value, nothing after it
			return nil, errors.New("pb: the token asks to parse the body, and it is not valid JSON")
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		out := make([]engine.KV, 0, len(obj))
		for k, fv := range obj {
			if s, ok := fv.(string); ok {
				out = append(out, engine.KV{Key: k, Value: s})
				continue
			}
			b, _ := json.Marshal(fv)
			out = append(out, engine.KV{Key: k, Value: string(b)})
		}
		return out, nil
	case ct == "application/x-www-form-urlencoded":
		var out []engine.KV
		seen := map[string]bool{}
		ctx.PostArgs().VisitAll(func(k, v []byte) {
			if !seen[string(k)] { // the first value of a repeated field
				seen[string(k)] = true
				out = append(out, engine.KV{Key: string(k), Value: string(v)})
			}
		})
		return out, nil
	}
	return nil, nil
}

// mergeBodyFields adds body fields to data under the keys data does not
// have yet: query, params and secrets all win over the body.
func mergeBodyFields(data, fields []engine.KV) []engine.KV {
	have := make(map[string]bool, len(data))
	for _, kv := range data {
		have[kv.Key] = true
	}
	for _, kv := range fields {
		if !have[kv.Key] && kv.Key != "" && !strings.ContainsRune(kv.Key, 0) && !strings.ContainsRune(kv.Value, 0) {
			have[kv.Key] = true
			data = append(data, kv)
		}
	}
	engine.SortKV(data)
	return data
}
