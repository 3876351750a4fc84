package wasmtask

import "github.com/wasmtask/wasmtask/abi"

// Context is the request a handler serves: the method, path, query, headers
// and body of the HTTP request plus the webtask's secrets, token parameters
// and metadata. Every accessor reads from the host on demand.
//
// Accessors that take a key return "" both when the key is absent and when
// its value is empty; use the map forms (Secrets, QueryAll, …) to tell the
// two apart. A Context is valid only until the handler returns.
type Context struct {
	// cached scalar fields, indexed by abi.Field; have has bit 1<<field set
	// once the field was read.
	have   uint8
	fields [abi.FieldRequestID + 1]string
}

// ctx is the one Context; handle resets it for every request so serving a
// request allocates no Context.
var ctx Context

// field returns a scalar field, reading it from the host the first time.
func (c *Context) field(f abi.Field) string {
	if c.have&(1<<f) == 0 {
		c.fields[f] = readField(f)
		c.have |= 1 << f
	}
	return c.fields[f]
}

// readField reads a scalar field, sharing the common method and path
// strings instead of allocating new ones.
func readField(f abi.Field) string {
	b, _ := read(srcField, f, "")
	switch string(b) { // does not allocate
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "PATCH":
		return "PATCH"
	case "DELETE":
		return "DELETE"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	case "/":
		return "/"
	case "":
		return ""
	}
	return string(b)
}

// Method is the HTTP method in upper case: "GET", "POST", ….
func (c *Context) Method() string { return c.field(abi.FieldMethod) }

// Path is the path below the webtask, starting with "/": for
// /api/run/acme/hello/a/b it is "/a/b", and "/" when there is none.
func (c *Context) Path() string { return c.field(abi.FieldPath) }

// RawQuery is the query string without the leading "?" and without the
// reserved key and webtask_* parameters, still URL-encoded.
func (c *Context) RawQuery() string { return c.field(abi.FieldQuery) }

// Container is the name of the container (tenant) the webtask lives in.
func (c *Context) Container() string { return c.field(abi.FieldContainer) }

// Name is the webtask's name; "" for code run directly by a token.
func (c *Context) Name() string { return c.field(abi.FieldName) }

// RequestID is an id unique to this request; the host also sends it in the
// x-wt-request-id response header.
func (c *Context) RequestID() string { return c.field(abi.FieldRequestID) }

// Body is the raw request body, as received. Each call reads it again and
// returns a new slice the caller owns; nil when the host reports no body.
func (c *Context) Body() []byte { return readBytes(srcField, abi.FieldBody) }

// JSON is the whole context as one JSON object, as described in
// abi/SPEC.md ("The context JSON"): maps hold the first value of each key and
// "body" is present only when the body is valid UTF-8. Handy for passing the
// context on to code that wants it in one piece; each call returns a new
// slice.
func (c *Context) JSON() []byte { return readBytes(srcField, abi.FieldContextJSON) }

// Query is the first value of a URL-decoded query parameter. The reserved
// key and webtask_* parameters are never visible.
func (c *Context) Query(key string) string { return readString(srcValue, abi.MapQuery, key) }

// QueryAll is every query parameter with all its values in arrival order.
func (c *Context) QueryAll() map[string][]string { return readMap(abi.MapQuery) }

// Header is the first value of a request header; name is matched
// case-insensitively.
func (c *Context) Header(name string) string { return readString(srcValue, abi.MapHeaders, name) }

// Headers is every request header with all its values; names are lower case.
func (c *Context) Headers() map[string][]string { return readMap(abi.MapHeaders) }

// Secret is one decrypted secret: from the token's encrypted ectx claim,
// else from the webtask's stored secrets.
func (c *Context) Secret(key string) string { return readString(srcValue, abi.MapSecrets, key) }

// Secrets is every secret the request can see.
func (c *Context) Secrets() map[string]string { return readFirstMap(abi.MapSecrets) }

// Param is one public parameter from the token's pctx claim.
func (c *Context) Param(key string) string { return readString(srcValue, abi.MapParams, key) }

// Params is every public token parameter.
func (c *Context) Params() map[string]string { return readFirstMap(abi.MapParams) }

// Meta is one entry of the webtask's metadata.
func (c *Context) Meta(key string) string { return readString(srcValue, abi.MapMeta, key) }

// MetaAll is the webtask's metadata.
func (c *Context) MetaAll() map[string]string { return readFirstMap(abi.MapMeta) }

// Data is one value of the merged view the original platform called
// context.data: query parameters, overridden by token params, overridden by
// secrets. A value fixed by the token therefore wins over a query parameter
// of the same name.
func (c *Context) Data(key string) string { return readString(srcValue, abi.MapData, key) }

// DataAll is the whole merged view (see Data).
func (c *Context) DataAll() map[string]string { return readFirstMap(abi.MapData) }

// User is the caller the host verified before the run — the claims of
// the JWT the webtask's auth checked (abi/SPEC.md, "Declarative auth"):
// strings as they are, other values as JSON text. Empty when the webtask
// declares no JWT auth.
func (c *Context) User() map[string]string { return readFirstMap(abi.MapUser) }
