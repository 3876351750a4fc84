package engine

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/wasmtask/wasmtask/abi"
)

// KV is one entry of a request map. Maps are slices sorted by key (stable for
// repeated keys) so the host can answer get_value and get_map without
// allocating.
type KV struct {
	Key   string
	Value string
}

// Request is everything a guest can read about the request it serves. The
// caller fills it; the engine only reads it.
//
// Method, Path, Container, Name and RequestID must be set. The rest may be
// filled lazily:
// when Loader is set, the engine calls it once, the first time the guest
// reads anything else, so a guest that reads nothing costs no copying.
type Request struct {
	Method    string
	Path      string // below the webtask, starting with "/"
	RawQuery  string // without reserved keys and without "?"
	Body      []byte
	Container string
	Name      string
	RequestID string

	Query   []KV // sorted by key
	Headers []KV // names lower-cased, sorted by name
	Secrets []KV // sorted by key, one value per key
	Params  []KV // sorted by key, one value per key
	Meta    []KV // sorted by key, one value per key
	Data    []KV // merged view, sorted by key, one value per key

	// Storage is the named webtask's storage; nil when the run has none
	// (code a token fixes).
	Storage Storage
	// Outbound makes the guest's outbound HTTP calls; nil when the
	// server makes none (every call is then HTTPDenied).
	Outbound Outbound
	// User is the caller the host verified before the run (the claims of
	// a JWT, as a JSON object); nil when none was checked. The guest reads
	// it as the context JSON's "user" and as map MapUser.
	User   []byte
	userKV []KV // User's top-level claims, built on first use

	// Loader, when set, fills the other fields on first use.
	Loader RequestLoader

	loaded      Part   // parts already loaded
	contextJSON []byte // built on first use
}

// Part names what a RequestLoader fills.
type Part uint8

// Parts of a request.
const (
	// PartHeaders is Headers.
	PartHeaders Part = 1 << iota
	// PartMain is everything else: Body, RawQuery, Query, Secrets, Params,
	// Meta and Data.
	PartMain
)

// RequestLoader fills parts of a Request on demand, each at most once.
type RequestLoader interface {
	LoadRequest(r *Request, part Part)
}

// load runs the Loader for the parts not loaded yet.
func (r *Request) load(parts Part) {
	for _, part := range [...]Part{PartHeaders, PartMain} {
		if parts&part != 0 && r.loaded&part == 0 {
			r.loaded |= part
			if r.Loader != nil {
				r.Loader.LoadRequest(r, part)
			}
		}
	}
}

// Reset clears r for reuse, keeping the capacity of its map slices.
func (r *Request) Reset() {
	*r = Request{Query: r.Query[:0], Headers: r.Headers[:0]}
}

// SortKV sorts a map slice by key, keeping the arrival order of repeated keys.
func SortKV(kvs []KV) {
	slices.SortStableFunc(kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
}

// MergeData builds the data view: query, then params override, then secrets
// override. Each input must be sorted; the result holds one value per key.
func MergeData(query, params, secrets []KV) []KV {
	m := make(map[string]string, len(query)+len(params)+len(secrets))
	for i := len(query) - 1; i >= 0; i-- { // first value of a repeated key wins
		m[query[i].Key] = query[i].Value
	}
	for _, kv := range params {
		m[kv.Key] = kv.Value
	}
	for _, kv := range secrets {
		m[kv.Key] = kv.Value
	}
	out := make([]KV, 0, len(m))
	for k, v := range m {
		out = append(out, KV{k, v})
	}
	SortKV(out)
	return out
}

func (r *Request) mapOf(id uint32) ([]KV, bool) {
	if id == abi.MapHeaders {
		r.load(PartHeaders)
	} else {
		r.load(PartMain)
	}
	switch id {
	case abi.MapQuery:
		return r.Query, true
	case abi.MapHeaders:
		return r.Headers, true
	case abi.MapSecrets:
		return r.Secrets, true
	case abi.MapParams:
		return r.Params, true
	case abi.MapMeta:
		return r.Meta, true
	case abi.MapData:
		return r.Data, true
	case abi.MapUser:
		if r.userKV == nil && r.User != nil {
			r.userKV = claimsKV(r.User)
		}
		return r.userKV, true
	}
	return nil, false
}

// Lookup returns the first value of key in kvs (sorted or not).
func Lookup(kvs []KV, key string) (string, bool) {
	for i := range kvs {
		if kvs[i].Key == key {
			return kvs[i].Value, true
		}
	}
	return "", false
}

// lookup returns the first value for key; header names compare without case.
func lookup(kvs []KV, key []byte, foldCase bool) (string, bool) {
	if foldCase {
		for i := range kvs {
			if strings.EqualFold(kvs[i].Key, string(key)) {
				return kvs[i].Value, true
			}
		}
		return "", false
	}
	i := sort.Search(len(kvs), func(i int) bool { return kvs[i].Key >= string(key) })
	if i < len(kvs) && kvs[i].Key == string(key) {
		return kvs[i].Value, true
	}
	return "", false
}

// encodedMapLen is the size of the NUL-pair encoding of kvs.
func encodedMapLen(kvs []KV) int {
	n := 0
	for i := range kvs {
		n += len(kvs[i].Key) + len(kvs[i].Value) + 2
	}
	return n
}

// ContextJSON is the context_json field: the whole context as one object.
func (r *Request) ContextJSON() []byte {
	if r.contextJSON != nil {
		return r.contextJSON
	}
	r.load(PartHeaders | PartMain)
	first := func(kvs []KV) map[string]string {
		m := make(map[string]string, len(kvs))
		for i := len(kvs) - 1; i >= 0; i-- {
			m[kvs[i].Key] = kvs[i].Value
		}
		return m
	}
	v := struct {
		Method    string            `json:"method"`
		Path      string            `json:"path"`
		Query     map[string]string `json:"query"`
		Headers   map[string]string `json:"headers"`
		Secrets   map[string]string `json:"secrets"`
		Params    map[string]string `json:"params"`
		Meta      map[string]string `json:"meta"`
		Data      map[string]string `json:"data"`
		Container string            `json:"container"`
		Name      string            `json:"name"`
		RequestID string            `json:"request_id"`
		Body      *string           `json:"body,omitempty"`
		User      json.RawMessage   `json:"user,omitempty"`
	}{
		Method: r.Method, Path: r.Path, Query: first(r.Query), Headers: first(r.Headers),
		Secrets: first(r.Secrets), Params: first(r.Params), Meta: first(r.Meta), Data: first(r.Data),
		Container: r.Container, Name: r.Name, RequestID: r.RequestID, User: r.User,
	}
	if len(r.Body) > 0 && utf8.Valid(r.Body) {
		s := string(r.Body)
		v.Body = &s
	}
	r.contextJSON, _ = json.Marshal(v) // cannot fail: strings and maps of strings
	return r.contextJSON
}

// claimsKV is a JSON object's top-level members, sorted: strings as they
// are, other values as their JSON text; nothing for anything else.
func claimsKV(obj []byte) []KV {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return []KV{}
	}
	out := make([]KV, 0, len(m))
	for k, v := range m {
		var s string
		if json.Unmarshal(v, &s) != nil {
			s = string(v)
		}
		if strings.IndexByte(k, 0) < 0 && strings.IndexByte(s, 0) < 0 {
			out = append(out, KV{Key: k, Value: s})
		}
	}
	SortKV(out)
	return out
}

// Model says which programming model a response used.
type Model uint8

// Programming models.
const (
	ModelNone   Model = iota // the guest made no response call
	ModelSimple              // result or error
	ModelRaw                 // set_status, headers, write_body
)

// Response is what the guest answered. The engine fills it; the caller
// writes it to the client.
type Response struct {
	Status  int
	Headers []KV // in the order the guest set them; names lower-cased
	Body    []byte
	Model   Model
	// Finished is true once a simple-model call ended the response.
	Finished bool

	head int // the size of the guest's (raw-model) headers as sent, kept by the host functions
}

// size is what the response counts against the response limit: the guest's
// headers as sent ("name: value\r\n" each) and the body.
func (r *Response) size() int { return r.head + len(r.Body) }

// Reset clears r for reuse, keeping its buffers.
func (r *Response) Reset() {
	r.Status = 0
	clear(r.Headers) // drop references to the guest's header strings
	r.Headers = r.Headers[:0]
	r.Body = r.Body[:0]
	r.Model = ModelNone
	r.Finished = false
	r.head = 0
}
