package bench

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// The work section (issue 17): three pieces of the work extensions do —
// read a field of a JSON document, verify an HS256 JWT, HMAC a large body —
// as a guest of each language (guests/*/examples/work*, one webtask routed
// by path) through the whole server, pooled and fresh, next to the same
// three handlers as native Go (workNative) in the same process.

// workDoc is the ~2 KB JSON document of the /json task; the answer is its
// order.customer.id, in its last member.
//
//go:embed testdata/work.json
var workDoc []byte

// The work webtask's secrets.
const (
	workJWTSecret = "seed-003-jwt-secret-for-bench"
	workHMACKey   = "bench-hmac-key-0123456789abcdef"
)

// workHMACSize is the body of the /hmac task: 64 KiB.
const workHMACSize = 64 << 10

// workTasks are the three tasks, in report order.
var workTasks = []string{"json", "jwt", "hmac"}

// workLangs are the languages of the section, in report order.
var workLangs = []string{"c", "rust", "go", "assemblyscript", "js"}

// workHMACBody is workHMACSize bytes of printable ASCII (the JavaScript
// engine hands a body that is not JSON to the code as a string, so it
// must survive UTF-8 decoding unchanged), the same on every run.
var workHMACBody = func() []byte {
	b := make([]byte, workHMACSize)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(' ' + x%95)
	}
	return b
}()

// workToken is seed 003's token (its claims, HS256, valid for a day from
// now) signed with key, or with method when given.
func workToken(key string, method jwt.SigningMethod, exp time.Time) string {
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	tok, err := jwt.NewWithClaims(method, jwt.MapClaims{
		"sub": "jdoe", "iss": "twil.io", "org": "twilio", "perms": []string{"read"},
		"iat": exp.Add(-24 * time.Hour).Unix(), "exp": exp.Unix(),
	}).SignedString([]byte(key))
	if err != nil {
		panic("bench: sign a token: " + err.Error())
	}
	return tok
}

// workRequest is one request of the section: a task's, or a check's.
type workRequest struct {
	Name        string // for messages
	Path        string // below the webtask: /json, /jwt, /hmac
	ContentType string
	Headers     [][2]string
	Body        []byte
}

// workLoads are the measured requests, one per task, in workTasks' order.
func workLoads(token string) []workRequest {
	return []workRequest{
		{Name: "json", Path: "/json", ContentType: "application/json", Body: workDoc},
		{Name: "jwt", Path: "/jwt", Headers: [][2]string{{"Authorization", "Bearer " + token}}},
		{Name: "hmac", Path: "/hmac", ContentType: "application/octet-stream", Body: workHMACBody},
	}
}

// workChecks are the requests every guest must answer exactly as native
// does before it is measured (and in TestWork_guests): the three tasks, a
// short HMAC body, and the tokens that must be refused.
func workChecks(now time.Time) []workRequest {
	day := now.Add(24 * time.Hour)
	good := workToken(workJWTSecret, nil, day)
	bearer := func(name, tok string) workRequest {
		return workRequest{Name: name, Path: "/jwt", Headers: [][2]string{{"Authorization", "Bearer " + tok}}}
	}
	// Another signature that still decodes: one full 6-bit character of it
	// changed (the last one carries padding bits).
	tampered := []byte(good)
	if i := len(tampered) - 3; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	header, _, _ := bytes.Cut([]byte(good), []byte("."))
	return append(workLoads(good),
		workRequest{Name: "hmac-short", Path: "/hmac", ContentType: "application/octet-stream", Body: []byte("hello, world")},
		bearer("jwt-wrong-key", workToken("not-the-secret", nil, day)),
		bearer("jwt-tampered", string(tampered)),
		bearer("jwt-expired", workToken(workJWTSecret, nil, now.Add(-time.Hour))),
		bearer("jwt-hs384", workToken(workJWTSecret, jwt.SigningMethodHS384, day)),
		bearer("jwt-two-parts", string(header)+".e30"),
		workRequest{Name: "jwt-no-bearer", Path: "/jwt", Headers: [][2]string{{"Authorization", "Basic " + good}}},
		workRequest{Name: "jwt-none", Path: "/jwt"},
	)
}

// workDocument is bench/testdata/work.json as the native /json handler
// (and the Go guest) decode it with encoding/json.
type workDocument struct {
	Event      string `json:"event"`
	APIVersion string `json:"api_version"`
	Created    int64  `json:"created"`
	Livemode   bool   `json:"livemode"`
	Request    struct {
		ID             string `json:"id"`
		IdempotencyKey string `json:"idempotency_key"`
		IP             string `json:"ip"`
		UserAgent      string `json:"user_agent"`
	} `json:"request"`
	Items []struct {
		SKU        string            `json:"sku"`
		Name       string            `json:"name"`
		Quantity   int               `json:"quantity"`
		UnitPrice  int64             `json:"unit_price"`
		Currency   string            `json:"currency"`
		Tags       []string          `json:"tags"`
		Attributes map[string]string `json:"attributes"`
	} `json:"items"`
	Shipping struct {
		Name    string            `json:"name"`
		Method  string            `json:"method"`
		Cost    int64             `json:"cost"`
		Address map[string]string `json:"address"`
	} `json:"shipping"`
	Notes     string `json:"notes"`
	Discounts []struct {
		Code   string `json:"code"`
		Amount int64  `json:"amount"`
	} `json:"discounts"`
	Order struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Total    int64  `json:"total"`
		Currency string `json:"currency"`
		Customer struct {
			Email string `json:"email"`
			Name  string `json:"name"`
			Since int64  `json:"since"`
			VIP   bool   `json:"vip"`
			ID    string `json:"id"`
		} `json:"customer"`
	} `json:"order"`
}

// workAnswer is every route's result; exactly one field is set.
type workAnswer struct {
	ID   string `json:"id,omitempty"`
	Sub  string `json:"sub,omitempty"`
	HMAC string `json:"hmac,omitempty"`
}

// workServe is the native work handler: what every work guest does, in Go,
// answering as a simple-model webtask through wasmtask would (status,
// content type, x-wt-response-source, a request id, and the error body of
// the simple model).
func workServe(jwtSecret, hmacKey string) fasthttp.RequestHandler {
	prefix := strconv.FormatInt(time.Now().UnixMilli(), 10) + "."
	var seq atomic.Uint64
	fail := func(ctx *fasthttp.RequestCtx, status int, msg string) {
		ctx.SetStatusCode(status)
		ctx.SetBody(engine.AppendScriptError(nil, status, []byte(msg)))
	}
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("x-wt-request-id", prefix+strconv.FormatUint(seq.Add(1), 10))
		ctx.Response.Header.Set("content-type", "application/json")
		ctx.Response.Header.Set("x-wt-response-source", "webtask")
		var a workAnswer
		switch path := string(ctx.Path()); {
		case !ctx.IsPost():
			fail(ctx, 404, "no route for "+string(ctx.Method())+" "+path)
			return
		case path == "/scan/json":
			if a.ID = workScanID(ctx.PostBody()); a.ID == "" {
				fail(ctx, 400, "no order.customer.id in the body")
				return
			}
		case path == "/json":
			var d workDocument
			if err := json.Unmarshal(ctx.PostBody(), &d); err != nil || d.Order.Customer.ID == "" {
				fail(ctx, 400, "no order.customer.id in the body")
				return
			}
			a.ID = d.Order.Customer.ID
		case path == "/jwt":
			h, ok := bytes.CutPrefix(ctx.Request.Header.Peek("Authorization"), []byte("Bearer "))
			if ok && len(h) > 0 {
				a.Sub, ok = workVerify(string(h), jwtSecret)
			}
			if !ok {
				fail(ctx, 401, "Unauthorized")
				return
			}
		case path == "/hmac":
			m := hmac.New(sha256.New, []byte(hmacKey))
			m.Write(ctx.PostBody())
			a.HMAC = hex.EncodeToString(m.Sum(nil))
		default:
			fail(ctx, 404, "no route for POST "+path)
			return
		}
		b, _ := json.Marshal(a)
		ctx.SetStatusCode(200)
		ctx.SetBody(b)
	}
}

// workScanID is order.customer.id of doc found as the C, Rust and
// AssemblyScript guests find it, by scanning (their SDKs' member scanner,
// in Go): the members of an object are skipped until the one named, and
// nothing is decoded but the answer. Empty when it is not there. (Member
// names are compared as written: the document's have no escapes.)
func workScanID(doc []byte) string {
	order := jsonMember(doc, "order")
	customer := jsonMember(order, "customer")
	var id string
	if raw := jsonMember(customer, "id"); json.Unmarshal(raw, &id) != nil {
		return ""
	}
	return id
}

// jsonMember returns the raw JSON text of the member key of the object
// doc, nil when doc is not an object or has no such member.
func jsonMember(doc []byte, key string) []byte {
	s := jsonScan{b: doc}
	if s.ws(); !s.eat('{') {
		return nil
	}
	for s.ws(); !s.eat('}'); s.ws() {
		k, ok := s.str()
		if s.ws(); !ok || !s.eat(':') {
			return nil
		}
		s.ws()
		start := s.i
		if !s.skip() {
			return nil
		}
		if string(k) == key {
			return doc[start:s.i]
		}
		if s.ws(); !s.eat(',') && (s.i >= len(s.b) || s.b[s.i] != '}') {
			return nil
		}
	}
	return nil
}

// jsonScan is a cursor over JSON text.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jsonScan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str skips a string and returns its raw text between the quotes.
func (s *jsonScan) str() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\':
			s.i += 2
		case c < 0x20:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

// skip skips one value: a string, an object or array (by nesting), or a
// literal or number.
func (s *jsonScan) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch s.b[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '+' || c == '.') {
			break
		}
		s.i++
	}
	return s.i > start
}

// workVerify returns the sub claim of a valid HS256 token with an exp:
// golang-jwt, as the Go guest does.
func workVerify(token, key string) (string, bool) {
	t, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return []byte(key), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return "", false
	}
	sub, ok := t.Claims.(jwt.MapClaims)["sub"].(string)
	return sub, ok && sub != ""
}

// workGuest is one language's work webtask: a module, or JavaScript source.
type workGuest struct {
	Lang        string
	Code        []byte
	ContentType string
}

// workGuests finds the built work guests (GuestsDir/<lang>/work.wasm) and
// the JavaScript one (guests/js/examples/work.js, when the engine is
// built), with a reason for each language that is missing.
func workGuests(guestsDir, root, jsEngine string) (out []workGuest, missing []string) {
	for _, lang := range workLangs {
		var p, ct string
		switch lang {
		case "js":
			if _, err := os.Stat(jsEngine); err != nil {
				missing = append(missing, "js: the JavaScript engine is not built ("+jsEngine+" missing)")
				continue
			}
			p, ct = filepath.Join(root, "guests", "js", "examples", "work.js"), "application/javascript"
		default:
			p, ct = filepath.Join(guestsDir, lang, "work.wasm"), "application/wasm"
		}
		b, err := os.ReadFile(p)
		if err != nil {
			missing = append(missing, lang+": not built ("+p+" missing; make -C guests "+lang+")")
			continue
		}
		out = append(out, workGuest{Lang: lang, Code: b, ContentType: ct})
	}
	return out, missing
}

// uploadWork deploys g as container/name with the work secrets (hmacKey for
// hmac-key), pooled or fresh.
func uploadWork(base, admin, container, name string, g workGuest, hmacKey string, fresh bool) error {
	q := url.Values{"secret": {"jwt-secret:" + workJWTSecret, "hmac-key:" + hmacKey}}
	if fresh {
		q.Set("meta", api.MetaPolicy+":fresh")
	}
	r, err := do("PUT", base+"/api/webtask/"+container+"/"+name+"?"+q.Encode(), admin, g.Code, g.ContentType)
	if err != nil {
		return fmt.Errorf("upload %s/%s: %w", container, name, err)
	}
	if r.Status != 200 && r.Status != 201 {
		return fmt.Errorf("upload %s/%s: %d %.300s", container, name, r.Status, r.Body)
	}
	return waitCompiled(base, admin)
}

// sendWork sends one work request to base+req.Path.
func sendWork(base string, req workRequest) (response, error) {
	freq, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(freq)
	defer fasthttp.ReleaseResponse(resp)
	freq.SetRequestURI(base + req.Path)
	freq.Header.SetMethod("POST")
	for _, h := range req.Headers {
		freq.Header.Set(h[0], h[1])
	}
	if req.Body != nil {
		freq.SetBodyRaw(req.Body)
	}
	if req.ContentType != "" {
		freq.Header.SetContentType(req.ContentType)
	}
	if err := client.Do(freq, resp); err != nil {
		return response{}, err
	}
	return response{Status: resp.StatusCode(), ContentType: string(resp.Header.ContentType()),
		Body: bytes.Clone(resp.Body())}, nil
}

// checkWork sends every request of reqs to base and to the native handler
// at ref and returns an error naming the first answer (status, content
// type, body) that differs.
func checkWork(base, ref string, reqs []workRequest) error {
	for _, req := range reqs {
		want, err := sendWork(ref, req)
		if err != nil {
			return fmt.Errorf("%s: native: %w", req.Name, err)
		}
		got, err := sendWork(base, req)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Name, err)
		}
		if got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) {
			return fmt.Errorf("%s: answered %d %s %.200q, native %d %s %.200q", req.Name, got.Status, got.ContentType,
				got.Body, want.Status, want.ContentType, want.Body)
		}
	}
	return nil
}

// work measures the work guests of every language, pooled and fresh, and
// the native handler, task by task and concurrency by concurrency: every
// target is warmed, then runs once per round for Rounds rounds in an order
// that rotates; a ratio is the median over rounds of the target's req/s
// over native's in the same round.
func (h *harness) work() error {
	eng, _ := filepath.Abs(h.jsEnginePath())
	guests, missing := workGuests(h.opts.GuestsDir, h.opts.Root, eng)
	for _, m := range missing {
		h.note("work: %s, skipped", m)
	}
	if len(guests) == 0 {
		return fmt.Errorf("no work guest built (make -C guests all)")
	}
	cfg := api.Config{DataDir: h.tempDir("work")}
	if _, err := os.Stat(eng); err == nil {
		cfg.JSEngine = eng
	}
	srv, err := startInProc(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	nat, err := serveHandler(workServe(workJWTSecret, workHMACKey))
	if err != nil {
		return err
	}
	defer nat.Close()

	all := []workTarget{{name: "native", base: nat.url}}
	checks := workChecks(time.Now())
	for _, g := range guests {
		for _, policy := range []string{"pool", "fresh"} {
			name := webtaskName("work", g.Lang, policy)
			t0 := time.Now()
			if err := uploadWork(srv.URL(), srv.Admin(), "work", name, g, workHMACKey, policy == "fresh"); err != nil {
				h.note("work: %s/%s skipped: %v", g.Lang, policy, err)
				continue
			}
			base := runURL(srv.URL(), "work", name)
			if err := checkWork(base, nat.url, checks); err != nil {
				h.note("work: %s/%s skipped: it does not answer as native: %v", g.Lang, policy, err)
				continue
			}
			h.logf("  %s/%s uploaded and checked in %s", g.Lang, policy, time.Since(t0).Round(time.Millisecond))
			all = append(all, workTarget{g.Lang + "/" + policy, g.Lang, policy, base})
		}
	}
	loads := workLoads(workToken(workJWTSecret, nil, time.Now().Add(24*time.Hour)))
	h.res.WorkSettings = &WorkSettings{Concurrency: h.opts.WorkConcurrency, Rounds: max(h.opts.Rounds, 1),
		WarmupSec: h.opts.WorkWarmup.Seconds(), DurationSec: h.opts.WorkDuration.Seconds(), JSONBytes: len(workDoc),
		HMACBytes: len(workHMACBody)}
	// Prime the process (the load generator, the scheduler, the heap) so the
	// first baseline is not the run's warm-up.
	for _, req := range loads {
		if _, err := h.workLoad(nat.url+req.Path, req, slices.Max(h.opts.WorkConcurrency), 0, h.opts.WorkWarmup); err != nil {
			return fmt.Errorf("native %s: %w", req.Name, err)
		}
	}
	for i, task := range workTasks {
		req := loads[i]
		targets := all
		if task == "json" { // the same answer by scanning, as the C, Rust and AssemblyScript guests do
			targets = slices.Insert(slices.Clone(all), 1, workTarget{name: "native-scan", base: nat.url + "/scan"})
		}
		for _, c := range h.opts.WorkConcurrency {
			h.workRound(task, req, c, targets...)
		}
	}
	return nil
}

// workTarget is one target of the work section: native, or a webtask
// whose run URL is base.
type workTarget struct{ name, lang, policy, base string }

// workRound measures every target on one task at concurrency c (all[0] is
// native): each is warmed, then runs once per round in an order that
// rotates. A target that fails is noted and left out of the rows.
func (h *harness) workRound(task string, req workRequest, c int, all ...workTarget) {
	failed := map[string]bool{}
	fail := func(t workTarget, err error) {
		h.note("work: %s %s at c=%d: %v", task, t.name, c, err)
		failed[t.name] = true
	}
	for _, t := range all {
		if _, err := h.workLoad(t.base+req.Path, req, c, 0, h.opts.WorkWarmup); err != nil {
			fail(t, err)
		}
	}
	rps := map[string][]float64{}
	runs := map[string][]LoadResult{}
	for round := 0; round < max(h.opts.Rounds, 1) && !failed["native"]; round++ {
		for j := range all {
			t := all[(j+round)%len(all)]
			if failed[t.name] {
				continue
			}
			r, err := h.workLoad(t.base+req.Path, req, c, h.opts.WorkWarmup/5, h.opts.WorkDuration)
			if err != nil {
				fail(t, err)
				continue
			}
			rps[t.name] = append(rps[t.name], r.RPS)
			runs[t.name] = append(runs[t.name], r)
		}
	}
	for _, t := range all {
		if failed[t.name] || failed["native"] {
			continue
		}
		row := WorkRow{Task: task, Target: t.name, Lang: t.lang, Policy: t.policy, Concurrency: c,
			LoadResult: merge(runs[t.name])}
		n := min(len(rps[t.name]), len(rps["native"]))
		row.Ratio, row.RatioMin, row.RatioMax = pairedRatio(rps[t.name][:n], rps["native"][:n])
		h.res.Work = append(h.res.Work, row)
		h.logf("  %-4s c=%-3d %-22s %6.2f× native (%.2f–%.2f)  %9.0f req/s  p50 %8.1f µs  p99 %9.1f µs",
			task, c, t.name, row.Ratio, row.RatioMin, row.RatioMax, row.RPS, row.P50, row.P99)
	}
}

// workLoad is one load run of req against url. A target slower than the
// run (every request outlasts it: JavaScript fresh on a 64 KiB body at
// c=16 on a busy machine) is run again, up to twice, for four times as
// long, so it gets a figure rather than none.
func (h *harness) workLoad(url string, req workRequest, c int, warmup, d time.Duration) (LoadResult, error) {
	headers := slices.Clone(req.Headers)
	if req.ContentType != "" {
		headers = append(headers, [2]string{"Content-Type", req.ContentType})
	}
	for try := 0; ; try++ {
		r, err := RunLoad(Load{Targets: []string{url}, Concurrency: c, Warmup: warmup, Duration: d,
			MaxRequests: h.opts.MaxRequests, Method: "POST", Headers: headers, Body: req.Body})
		if err == nil || r.Errors > 0 || try == 2 {
			return r, err
		}
		d *= 4
	}
}
