// Package editor is the browser editor of webtasks, served by the server
// itself at /edit/{container}[/{name}] — the page wt-cli's `wt edit` opens,
// with the token in the URL fragment — and built around seed 001's
// tutorial: write code, save, run it, watch the logs, manage secrets.
//
// Design: the page is plain HTML, CSS and JavaScript modules in assets/,
// embedded in the binary; there is no bundle, no CDN and nothing fetched
// at run time but the server's own API. The code panel is a textarea over
// a <pre> that a small hand-written tokenizer highlights (assets/highlight.js),
// which is all JavaScript webtasks of this size need and keeps the page a
// few tens of kilobytes. The page talks to the public API only
// (/api/webtask, /api/run, /api/logs with ?key= since EventSource sends no
// headers, /api/cron); this package knows nothing of tokens or webtasks,
// it serves files.
//
// Every response carries a strict Content-Security-Policy (scripts and
// styles from this origin only, no inline code, connections to this origin
// only, no framing). The page's HTML is revalidated on each load; the
// assets it names carry a content hash in their query (?v=…) and are
// cached for a year.
package editor

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

// Prefix is the path under which the editor is served.
const Prefix = "/edit/"

// assetsPrefix is where the page's scripts and styles are.
const assetsPrefix = Prefix + "assets/"

//go:embed assets
var embedded embed.FS

// CSP is the Content-Security-Policy of every editor response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// site is the page and its assets, read once.
var site = load()

type files struct {
	page   asset
	assets map[string]asset // by name under assets/
}

// contentTypes are the types of the files in assets/, by extension.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// load reads the embedded files and puts one version, a hash of them
// all, in place of every "?v=VERSION" in them (the page's references to
// its assets, the modules' imports of each other), so a new binary's
// assets are never taken from a cache.
func load() files {
	raw := map[string][]byte{}
	all := sha256.New()
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		raw[strings.TrimPrefix(p, "assets/")] = b
		all.Write([]byte(p + "\x00"))
		all.Write(b)
		return nil
	})
	if err != nil {
		panic("editor: embedded assets: " + err.Error()) // the build embeds them; cannot happen
	}
	version := []byte("?v=" + hex.EncodeToString(all.Sum(nil)[:6]))
	f := files{assets: map[string]asset{}}
	for name, b := range raw {
		a := newAsset(bytes.ReplaceAll(b, []byte("?v=VERSION"), version), contentTypes[path.Ext(name)])
		if name == "index.html" {
			f.page = a
		} else {
			f.assets[name] = a
		}
	}
	return f
}

func newAsset(b []byte, contentType string) asset {
	sum := sha256.Sum256(b)
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return asset{body: b, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Serve answers a request under Prefix: an asset under /edit/assets/, or
// the page for /edit/, /edit/{container} and /edit/{container}/{name}
// (also /edit/{v1|v2|canary}/{container}, as wt-cli builds it), for GET
// and HEAD. It writes nothing but returns ErrMethod for another method and
// ErrNotFound for another path, for the server to answer as its errors.
func Serve(ctx *fasthttp.RequestCtx) error {
	if !ctx.IsGet() && !ctx.IsHead() {
		return &pathError{ErrMethod, string(ctx.Method()) + " is not allowed here; the editor serves GET and HEAD"}
	}
	p := string(ctx.Path())
	if name, ok := strings.CutPrefix(p, assetsPrefix); ok {
		a, found := site.assets[name]
		if !found {
			return &pathError{ErrNotFound, "no editor asset " + name}
		}
		send(ctx, a, "public, max-age=31536000, immutable")
		return nil
	}
	if !pagePath(p[len(Prefix):]) {
		return &pathError{ErrNotFound, "no editor page at " + p + ": open /edit/{container} or /edit/{container}/{name}"}
	}
	send(ctx, site.page, "no-cache")
	return nil
}

// secure sets the headers every editor response carries.
func secure(h *fasthttp.ResponseHeader) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// send writes a with the editor's headers, or 304 when the client's copy
// is current.
func send(ctx *fasthttp.RequestCtx, a asset, cacheControl string) {
	secure(&ctx.Response.Header)
	ctx.Response.Header.Set("Cache-Control", cacheControl)
	ctx.Response.Header.Set("ETag", a.etag)
	if string(ctx.Request.Header.Peek("If-None-Match")) == a.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType(a.contentType)
	ctx.SetBody(a.body)
}

// pagePath reports whether rest (the path below Prefix) is one the page
// serves: empty, or one or two path segments of name characters.
func pagePath(rest string) bool {
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" {
		return true
	}
	segs := strings.Split(rest, "/")
	if len(segs) > 2 {
		return false
	}
	for _, s := range segs {
		if s == "" || len(s) > 64 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			return false
		}
	}
	return true
}
