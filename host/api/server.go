// Package api is wasmtask's HTTP edge: the Webtask-compatible management
// and run API on fasthttp. It only translates: requests into calls of the
// registry (host/deploy: what is deployed) and the engine, and their errors
// into HTTP answers through one table (errors.go).
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/auth"
	"github.com/wasmtask/wasmtask/host/cron"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/logs"
	"github.com/wasmtask/wasmtask/host/metrics"
	"github.com/wasmtask/wasmtask/host/outbound"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Config configures a Server. Zero fields take the values of DefaultConfig
// (withDefaults is the one place that happens); negative ones are refused.
type Config struct {
	// DataDir holds the key file (unless KEK is set), the admin token,
	// the compilation cache and, with Open, the bbolt database.
	DataDir string
	// CacheDir keeps compiled code across restarts; empty means
	// DataDir/cache. (Engine.CacheDir must be left empty.) At start the
	// server deletes the entries of modules its store does not reference,
	// unless SharedCache says other servers use the directory too.
	CacheDir    string
	SharedCache bool
	// MaxModuleBytes caps an uploaded module (after base64 decoding).
	MaxModuleBytes int
	// MaxBodyBytes caps the request body of a webtask run.
	MaxBodyBytes int
	// MaxInflightBodyBytes caps the request bodies being received or held
	// at once, all requests together; past it new bodies get 503.
	MaxInflightBodyBytes int64
	// DefaultPolicy is the instance policy of webtasks whose meta does not
	// choose one ("wt-instance": "pool" or "fresh").
	DefaultPolicy engine.Policy
	// PublicURL is the base of the run URLs the API reports, e.g.
	// "http://127.0.0.1:8080". Empty: derived from each request's Host.
	PublicURL string
	// ShutdownTimeout bounds how long Shutdown waits for requests in
	// flight; zero means the engine's request timeout plus 5 s, so no
	// request a client may still get an answer to is cut.
	ShutdownTimeout time.Duration
	// NewKeys lets the server generate new keys when keys.json is missing
	// although the store holds data: every stored secret and every token
	// issued before becomes unusable. Without it, that is a startup error.
	NewKeys bool
	// KEK, when set, keeps the keys in the store instead of keys.json,
	// sealed with KEK[0] (the key-encryption key; the others are former
	// ones, for a rotation: keys.LoadOrCreateShared): the servers of a
	// cluster, sharing one store, then sign and seal with the same keys.
	// The first server to start generates them.
	KEK [][]byte
	// JSEngine is the path of the JavaScript engine module
	// (guests/build/js/engine.wasm, built by make guests), compiled once
	// at start; empty disables JavaScript webtasks (uploading JavaScript
	// then answers 501 no_js_engine).
	JSEngine string
	// Engine holds the per-request limits. Its CacheDir and Logger belong
	// to the server and must be left empty.
	Engine engine.Config

	// FetchAllow, FetchTimeout, FetchTTL, RateLimitFlush, CodePools,
	// IdleTimeout, MaxWebtasks and MaxContainerBytes are the registry's
	// (deploy.Config documents them).
	FetchAllow        []string
	FetchTimeout      time.Duration
	FetchTTL          time.Duration
	RateLimitFlush    time.Duration
	CodePools         int
	IdleTimeout       time.Duration
	MaxWebtasks       int
	MaxContainerBytes int64

	// MaxCronJobs caps the cron jobs of one container (--max-cron-jobs).
	MaxCronJobs int
	// CronSeconds accepts cron schedules with a leading seconds field
	// (6 fields): for tests only, which need a job every second.
	CronSeconds bool

	// Logger receives the server's own log lines: one per request at
	// debug level, failures at warn and error (operator.go says what a
	// line holds; never a token, a query or a body). Nil discards them.
	Logger *slog.Logger
	// NoMetrics turns the metrics off: no GET /metrics (404) and no
	// request counting (to measure what they cost).
	NoMetrics bool
	// MetricsPublic serves GET /metrics without the admin token
	// (--metrics-public): for a scraper on a private network.
	MetricsPublic bool
	// MetricsPerContainer also counts requests by container
	// (--metrics-per-container; metrics.Options.PerContainer).
	MetricsPerContainer bool

	// WarmWebtasks is how many webtasks a start loads before its first
	// requests (deploy.Registry.Warm: those that served requests before
	// the last stop, most recently used first): their modules read back
	// from the compile cache, an instance of each made ready. Zero takes
	// the default; negative loads none (--warm 0).
	WarmWebtasks int
	// WarmWait is how long /readyz answers 503 "warming" while the warm-up
	// runs; it goes on past that in the background (--warm-wait).
	WarmWait time.Duration

	// Outbound sets how webtasks' outbound HTTP calls resolve names and
	// trust TLS servers (the zero value: the system's); each container's
	// policy is set through the API.
	Outbound outbound.Options
}

// DefaultConfig returns the server defaults.
func DefaultConfig() Config {
	d := deploy.DefaultConfig()
	return Config{
		DataDir:              "data",
		MaxModuleBytes:       d.MaxModuleBytes,
		MaxBodyBytes:         1 << 20,
		DefaultPolicy:        d.DefaultPolicy,
		MaxInflightBodyBytes: 256 << 20,
		Engine:               engine.DefaultConfig(),
		FetchTimeout:         d.FetchTimeout,
		FetchTTL:             d.FetchTTL,
		RateLimitFlush:       d.RateLimitFlush,
		CodePools:            d.CodePools,
		IdleTimeout:          d.IdleTimeout,
		MaxWebtasks:          d.MaxWebtasks,
		MaxContainerBytes:    d.MaxContainerBytes,
		MaxCronJobs:          cron.DefaultMaxJobs,
		WarmWebtasks:         64,
		WarmWait:             5 * time.Second,
	}
}

// withDefaults returns c with its zero fields set from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.DataDir, d.DataDir)
	setDefault(&c.MaxModuleBytes, d.MaxModuleBytes)
	setDefault(&c.MaxBodyBytes, d.MaxBodyBytes)
	setDefault(&c.MaxInflightBodyBytes, d.MaxInflightBodyBytes)
	setDefault(&c.FetchTimeout, d.FetchTimeout)
	setDefault(&c.FetchTTL, d.FetchTTL)
	setDefault(&c.RateLimitFlush, d.RateLimitFlush)
	setDefault(&c.CodePools, d.CodePools)
	setDefault(&c.IdleTimeout, d.IdleTimeout)
	setDefault(&c.MaxWebtasks, d.MaxWebtasks)
	setDefault(&c.MaxContainerBytes, d.MaxContainerBytes)
	setDefault(&c.MaxCronJobs, d.MaxCronJobs)
	setDefault(&c.WarmWebtasks, d.WarmWebtasks)
	setDefault(&c.WarmWait, d.WarmWait)
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(c.DataDir, "cache")
	}
	if c.ShutdownTimeout == 0 {
		timeout := c.Engine.Timeout
		if timeout == 0 {
			timeout = d.Engine.Timeout
		}
		c.ShutdownTimeout = timeout + 5*time.Second
	}
	return c
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports the first field out of range. Zero fields are not
// errors: they take their defaults.
func (c Config) Validate() error {
	for _, f := range []struct {
		v    int64
		name string
	}{
		{int64(c.MaxModuleBytes), "MaxModuleBytes (--max-module-bytes)"},
		{int64(c.MaxBodyBytes), "MaxBodyBytes (--max-body-bytes)"},
		{c.MaxInflightBodyBytes, "MaxInflightBodyBytes (--max-inflight-body-bytes)"},
		{int64(c.FetchTimeout), "FetchTimeout (--fetch-timeout)"},
		{int64(c.FetchTTL), "FetchTTL (--fetch-ttl)"},
		{int64(c.RateLimitFlush), "RateLimitFlush (--rate-limit-flush)"},
		{int64(c.CodePools), "CodePools (--code-pools)"},
		{int64(c.IdleTimeout), "IdleTimeout (--idle-timeout)"},
		{int64(c.MaxWebtasks), "MaxWebtasks (--max-webtasks)"},
		{c.MaxContainerBytes, "MaxContainerBytes (--max-container-bytes)"},
		{int64(c.MaxCronJobs), "MaxCronJobs (--max-cron-jobs)"},
		{int64(c.WarmWait), "WarmWait (--warm-wait)"},
	} {
		if f.v < 0 {
			return errors.New("api: " + f.name + " must be positive")
		}
	}
	if c.Engine.CacheDir != "" || c.Engine.Logger != nil {
		return errors.New("api: set Config.CacheDir, not Engine.CacheDir; Engine.Logger is the server's log hub")
	}
	if c.ShutdownTimeout < 0 {
		return errors.New("api: ShutdownTimeout (--shutdown-timeout) must be positive")
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		return errors.New("api: PublicURL (--public-url) must start with http:// or https://")
	}
	if c.DefaultPolicy != engine.PolicyPool && c.DefaultPolicy != engine.PolicyFresh {
		return errors.New("api: DefaultPolicy (--policy) must be pool or fresh")
	}
	return c.Engine.Validate()
}

func (c Config) deployConfig() deploy.Config {
	return deploy.Config{DefaultPolicy: c.DefaultPolicy, MaxModuleBytes: c.MaxModuleBytes, FetchAllow: c.FetchAllow,
		FetchTimeout: c.FetchTimeout, FetchTTL: c.FetchTTL, RateLimitFlush: c.RateLimitFlush,
		CodePools: c.CodePools, IdleTimeout: c.IdleTimeout, MaxWebtasks: c.MaxWebtasks, MaxContainerBytes: c.MaxContainerBytes,
		SharedCache: c.SharedCache}
}

// MetaPolicy is the meta key that selects a webtask's instance policy.
const MetaPolicy = deploy.MetaPolicy

// Server is a running wasmtask host. Create it with Open or New, serve with
// Serve, stop with Close.
type Server struct {
	cfg       Config
	st        store.Store
	ownsStore bool
	eng       *engine.Engine
	signer    *token.Signer
	reg       *deploy.Registry
	cron      *cron.Scheduler // started last in New, stopped first
	outbound  *outbound.Clients
	auth      *auth.Checker
	hub       *logs.Hub
	metrics   *metrics.Metrics // nil with Config.NoMetrics
	log       *slog.Logger
	admin     string
	srv       *fasthttp.Server
	inflight  inflight
	done      chan struct{} // closed by Close: ends log streams
	warmed    chan struct{} // closed when the warm-up ends or WarmWait passes (/readyz)
	closeOnce sync.Once

	lnMu      sync.Mutex
	listeners []net.Listener // every listener Serve was given
	closed    bool           // Shutdown has begun: Serve refuses

	reqPrefix string
	reqSeq    atomic.Uint64
}

// Open opens (or creates) the data directory — keys, admin token, the
// embedded bbolt store and the compile cache — and prepares a server that
// closes the store on Close.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("api: data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "wasmtask.db"))
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	s.ownsStore = true
	return s, nil
}

// New prepares a server on st, with the keys, admin token and compile cache
// of cfg.DataDir. The caller keeps st: Close does not close it.
func New(ctx context.Context, cfg Config, st store.Store) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("api: data dir: %w", err)
	}
	k, err := loadKeys(cfg, st)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, signer: token.NewSigner(k), hub: logs.NewHub(), done: make(chan struct{}),
		reqPrefix: strconv.FormatInt(time.Now().UnixMilli(), 10) + ".", log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if !cfg.NoMetrics {
		s.metrics = metrics.New(metrics.Options{PerContainer: cfg.MetricsPerContainer})
	}
	ecfg := cfg.Engine
	ecfg.CacheDir, ecfg.Logger = cfg.CacheDir, s.hub
	if s.eng, err = engine.New(ctx, ecfg); err != nil {
		return nil, err
	}
	dcfg := cfg.deployConfig()
	if cfg.JSEngine != "" {
		if dcfg.JSEngine, err = os.ReadFile(cfg.JSEngine); err != nil {
			_ = s.eng.Close(ctx)
			return nil, fmt.Errorf("api: the JavaScript engine (--js-engine): %w", err)
		}
	}
	if s.reg, err = deploy.New(st, s.eng, k, s.signer, dcfg); err != nil {
		_ = s.eng.Close(ctx)
		return nil, err
	}
	if s.admin, err = s.loadAdminToken(); err != nil {
		s.Close()
		return nil, err
	}
	s.inflight.max = cfg.MaxInflightBodyBytes
	s.outbound = outbound.NewClients(st, cfg.Outbound)
	s.auth = &auth.Checker{Token: s.tokenRunsWebtask, HTTPClient: s.jwksClient}
	s.outbound.OnChange = s.auth.Forget  // a JWKS is fetched through the policy
	if w, ok := st.(store.Watcher); ok { // other servers change policies too
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-s.done; cancel() }()
		go s.outbound.Follow(ctx, w)
	}
	s.srv = s.newHTTPServer()
	// Last: due jobs run at once, through the handler.
	if s.cron, err = cron.New(st, s, cron.Config{MaxJobs: cfg.MaxCronJobs, Seconds: cfg.CronSeconds, Logf: s.warnf}); err != nil {
		s.Close()
		return nil, err
	}
	s.watchSources()
	s.startWarm()
	return s, nil
}

// startWarm loads the webtasks of Config.WarmWebtasks in the background.
// With a hot list (what served before the stop), s.warmed closes when
// they are loaded, or after Config.WarmWait at most. Without one it closes
// at once, and the webtasks updated last are loaded in the background
// anyway: choosing them reads every webtask record (a start with 10,000
// webtasks would wait for that read), and they are only a guess.
func (s *Server) startWarm() {
	s.warmed = make(chan struct{})
	if s.cfg.WarmWebtasks <= 0 {
		close(s.warmed)
		return
	}
	set, err := s.reg.HotSet(s.cfg.WarmWebtasks)
	if err != nil {
		s.warnf("warm-up: %v", err) // it costs only speed
	}
	guess := len(set) == 0
	ended := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { // the warm-up stops with the server
		select {
		case <-s.done:
		case <-ended:
		}
		cancel()
	}()
	go func() {
		defer close(ended)
		start := time.Now()
		if guess {
			if set, err = s.reg.RecentSet(s.cfg.WarmWebtasks); err != nil {
				s.warnf("warm-up: %v", err)
			}
		}
		n := s.reg.Warm(ctx, set)
		if len(set) > 0 {
			s.log.Info("warm-up", "webtasks", n, "of", len(set), "from_hot_list", !guess, "duration", time.Since(start))
		}
	}()
	if guess {
		close(s.warmed)
		return
	}
	go func() {
		t := time.NewTimer(s.cfg.WarmWait)
		defer t.Stop()
		select {
		case <-ended:
		case <-t.C:
		case <-s.done:
		}
		close(s.warmed)
	}()
}

// loadKeys loads the keys: from the store with cfg.KEK, else from
// DataDir/keys.json; either way, new keys are generated only over a store
// that holds no data sealed or signed with lost ones (or with NewKeys).
func loadKeys(cfg Config, st store.Store) (*keys.Keys, error) {
	if len(cfg.KEK) == 0 {
		if err := checkKeysPresent(cfg, st); err != nil {
			return nil, err
		}
		k, _, err := keys.LoadOrCreate(cfg.DataDir)
		return k, err
	}
	k, _, err := keys.LoadOrCreateShared(st, cfg.KEK, func() error {
		if cfg.NewKeys {
			return nil
		}
		switch err := storeHasData(st); {
		case errors.Is(err, errHasData):
			return errors.New("api: the store holds no keys but holds webtasks or tokens sealed and signed with some: " +
				"restore the key set (KV namespace keys) from a backup; or, to discard every stored secret and every token issued so far, start with --new-keys")
		case err != nil:
			return fmt.Errorf("api: cannot read the store: %w", err)
		}
		return nil
	})
	if errors.Is(err, keys.ErrKEK) {
		return nil, fmt.Errorf("api: %w: give every server the same --key-file (or WASMTASK_KEK)", err)
	}
	return k, err
}

// errHasData: the store holds webtasks or revocations.
var errHasData = errors.New("has data")

// storeHasData returns errHasData when st holds webtasks or revoked
// tokens: data signed or sealed with keys.
func storeHasData(st store.Store) error {
	err := st.ForEachWebtask(func(store.Webtask) error { return errHasData })
	if err == nil {
		var revoked []store.KVPair
		if revoked, err = st.KVList(token.NamespaceRevoked, ""); err == nil && len(revoked) > 0 {
			err = errHasData
		}
	}
	return err
}

// checkKeysPresent refuses to start with new keys over a store that holds
// data sealed or signed with old ones (unless cfg.NewKeys): generating keys
// then would silently make every secret and token unusable and replace the
// admin token.
func checkKeysPresent(cfg Config, st store.Store) error {
	_, err := os.Stat(filepath.Join(cfg.DataDir, keys.FileName))
	if err == nil || !errors.Is(err, os.ErrNotExist) || cfg.NewKeys {
		return nil // present (or unreadable: LoadOrCreate says why)
	}
	switch err = storeHasData(st); {
	case errors.Is(err, errHasData):
		return fmt.Errorf("api: %s is missing from the data directory but the database holds webtasks or tokens sealed and signed with it: "+
			"restore %s from a backup; or, to discard every stored secret and every token issued so far, start with --new-keys", keys.FileName, keys.FileName)
	case err != nil:
		return fmt.Errorf("api: cannot read the store: %w", err)
	}
	return nil
}

// newHTTPServer configures fasthttp for the API's limits.
func (s *Server) newHTTPServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler: s.handle,
		Name:    "wasmtask",
		// Bodies are streamed: the handler decides, from the headers and
		// after authentication, whether and how much to read (bodies.go).
		// With streaming, MaxRequestBodySize is only what fasthttp reads of
		// a body before calling the handler: one byte, so a client that
		// sent its headers gets its answer without sending more.
		StreamRequestBody:            true,
		MaxRequestBodySize:           1,
		DisablePreParseMultipartForm: true, // it would read a whole multipart body before the handler
		ErrorHandler:                 fasthttpError,
		Logger:                       quietLogger{s.log},
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		// Tokens travel in a header or the query string; the default 4 KiB
		// would refuse tokens with inline code or a few secrets.
		ReadBufferSize:  16 << 10,
		ReadTimeout:     60 * time.Second,
		IdleTimeout:     120 * time.Second,
		CloseOnShutdown: true,
	}
}

// AdminToken returns the master token: no container restriction, full
// delegation depth. It is kept in DataDir/admin.token (mode 0600).
func (s *Server) AdminToken() string { return s.admin }

// Engine returns the server's engine (for tests and benchmarks).
func (s *Server) Engine() *engine.Engine { return s.eng }

// Handler returns the fasthttp handler, for serving from another listener.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve accepts connections on ln until Close. Serve called after (or
// racing with) Close closes ln and returns ErrClosed, so a caller that
// waits for Serve to return never waits forever: fasthttp's Shutdown only
// closes the listeners its Serve had already registered.
func (s *Server) Serve(ln net.Listener) error {
	s.lnMu.Lock()
	if s.closed {
		s.lnMu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.lnMu.Unlock()
	return s.srv.Serve(ln)
}

// ErrClosed is what Serve returns once the server is shut down.
var ErrClosed = errors.New("api: server closed")

// Close is Shutdown without its error.
func (s *Server) Close() { _ = s.Shutdown() }

// Shutdown stops accepting connections, waits up to ShutdownTimeout for the
// requests in flight to finish, then releases the registry, the engine and
// (when Open opened it) the store. The error says requests were cut.
// Calling it again does nothing.
func (s *Server) Shutdown() (err error) {
	s.closeOnce.Do(func() { err = s.shutdown() })
	return err
}

func (s *Server) shutdown() error {
	close(s.done)
	s.lnMu.Lock()
	s.closed = true // no Serve starts from now on
	s.lnMu.Unlock()
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.cron != nil {
		// No new runs; the runs in flight finish (within the same time).
		if e := s.cron.Close(ctx); e != nil {
			err = fmt.Errorf("api: cron runs still running after %s were cut (--shutdown-timeout)", s.cfg.ShutdownTimeout)
		}
	}
	if s.srv != nil {
		if e := s.srv.ShutdownWithContext(ctx); e != nil {
			err = fmt.Errorf("api: requests still running after %s were cut (--shutdown-timeout)", s.cfg.ShutdownTimeout)
		}
	}
	// fasthttp closed the listeners its Serve had registered (closing one
	// before it would make its Shutdown fail at once); this closes one
	// whose Serve was given it but had not reached fasthttp yet.
	s.lnMu.Lock()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	s.lnMu.Unlock()
	s.reg.Close()
	if err == nil {
		// With requests cut, their guests may still run: closing the engine
		// would free their memory under them. The process is about to exit.
		_ = s.eng.Close(context.Background())
	}
	if s.ownsStore {
		_ = s.st.Close()
	}
	return err
}

// adminDepth is the delegation depth of the admin token.
const adminDepth = 10

// loadAdminToken reads DataDir/admin.token, or issues and writes one.
func (s *Server) loadAdminToken() (string, error) {
	path := filepath.Join(s.cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		t := strings.TrimSpace(string(b))
		if c, err := s.signer.Verify(t); err == nil && c.IsRoot() && !s.reg.IsRevoked(c) {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("api: admin token: %w", err)
	}
	t, err := s.signer.Sign(&token.Claims{Depth: adminDepth})
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api: admin token: %w", err)
	}
	return t, nil
}
