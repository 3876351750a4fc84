package wasmtask

import "strings"

// Router dispatches raw-model requests on method and path, the Express style
// of one webtask serving several routes:
//
//	func init() {
//		r := wasmtask.NewRouter()
//		r.Get("/", home)
//		r.Post("/sms", sendSMS)
//		r.Get("/files/*", file)
//		wasmtask.HandleRaw(r.Serve)
//	}
//
// Paths are the path below the webtask (Context.Path). A pattern matches
//   - exactly, ignoring one trailing "/" on either side ("/sms" matches
//     "/sms/"), or
//   - when it ends in "*", every path that starts with what comes before
//     the "*" ("/files/*" matches "/files/" and "/files/a/b"; "*" matches
//     everything).
//
// Routes are tried in the order they were added and the first match wins. A
// HEAD request with no HEAD route uses the GET route. A request that matches
// no route gets 404 with {"code":404,"message":"no route for METHOD PATH"}.
//
// Add routes before registering the router (in func init); a Router is not
// safe for changes while it serves.
type Router struct {
	routes []route
}

type route struct {
	method  string // upper case; "" for any method
	pattern string // without the trailing "*" when prefix is set
	prefix  bool
	h       RawHandler
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{} }

// Handle adds a route for method (any method when method is "" or "*").
// Method names are matched case-insensitively.
func (r *Router) Handle(method, pattern string, h RawHandler) {
	if h == nil {
		panic("wasmtask: Router.Handle with a nil handler")
	}
	if method == "*" {
		method = ""
	}
	rt := route{method: strings.ToUpper(method), pattern: pattern, h: h}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		rt.pattern, rt.prefix = p, true
	} else {
		rt.pattern = trimSlash(pattern)
		if rt.pattern == "" {
			rt.pattern = "/"
		}
	}
	r.routes = append(r.routes, rt)
}

// Get adds a GET route.
func (r *Router) Get(pattern string, h RawHandler) { r.Handle("GET", pattern, h) }

// Post adds a POST route.
func (r *Router) Post(pattern string, h RawHandler) { r.Handle("POST", pattern, h) }

// Put adds a PUT route.
func (r *Router) Put(pattern string, h RawHandler) { r.Handle("PUT", pattern, h) }

// Patch adds a PATCH route.
func (r *Router) Patch(pattern string, h RawHandler) { r.Handle("PATCH", pattern, h) }

// Delete adds a DELETE route.
func (r *Router) Delete(pattern string, h RawHandler) { r.Handle("DELETE", pattern, h) }

// Any adds a route for every method.
func (r *Router) Any(pattern string, h RawHandler) { r.Handle("", pattern, h) }

// Serve runs the handler of the first route that matches the request, or
// answers 404. It is a RawHandler: register it with HandleRaw(r.Serve).
func (r *Router) Serve(ctx *Context, w *ResponseWriter) {
	method, path := ctx.Method(), ctx.Path()
	if h := r.match(method, path); h != nil {
		h(ctx, w)
		return
	}
	if method == "HEAD" {
		if h := r.match("GET", path); h != nil {
			h(ctx, w)
			return
		}
	}
	w.SetStatus(404)
	_ = w.WriteJSON(notFound{Code: 404, Message: "no route for " + method + " " + path})
}

type notFound struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// match returns the handler of the first route for method and path.
func (r *Router) match(method, path string) RawHandler {
	exact := trimSlash(path)
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.method != "" && rt.method != method {
			continue
		}
		if rt.prefix && strings.HasPrefix(path, rt.pattern) || !rt.prefix && exact == rt.pattern {
			return rt.h
		}
	}
	return nil
}

// trimSlash drops one trailing "/" from every path but "/".
func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}
