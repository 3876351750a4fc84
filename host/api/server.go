// Package api is wasmtask's HTTP front: the Webtask-compatible management
// and run API on fasthttp. It ties together the store (what is deployed), the
// engine (running modules), the key set and tokens (who may do what) and the
// log hub (real-time logs).
package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	"github.com/wasmtask/wasmtask/host/logs"
	"github.com/wasmtask/wasmtask/host/token"
	"github.com/wasmtask/wasmtask/store"
)

// Config configures a Server. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// DataDir holds the bbolt database, the key file, the admin token and
	// the compilation cache.
	DataDir string
	// MaxModuleBytes caps an uploaded module (after base64 decoding).
	MaxModuleBytes int
	// MaxBodyBytes caps the request body of a webtask run.
	MaxBodyBytes int
	// DefaultPolicy is the instance policy of webtasks whose meta does not
	// choose one ("wt-instance": "pool" or "fresh").
	DefaultPolicy engine.Policy
	// PublicURL is the base of the run URLs the API reports, e.g.
	// "http://127.0.0.1:8080". Empty: derived from each request's Host.
	PublicURL string
	// CacheDir keeps compiled code across restarts; empty means
	// DataDir/cache.
	CacheDir string
	// Engine holds the per-request limits (its CacheDir and Logger are set
	// by the server).
	Engine engine.Config

	// FetchAllow lists the hosts whose http(s) URLs a token's "url" claim
	// may fetch code from: "host" (any port), "host:port", or "*.example.com"
	// (its subdomains). Empty, the default, allows none: tokens then fix code
	// by "sha256:<hex>" (a module uploaded here) or inline "code" only. This
	// is the SSRF guard (docs/tokens.md).
	FetchAllow []string
	// FetchTimeout bounds one fetch of a token's url (default 10s).
	FetchTimeout time.Duration
	// FetchTTL is how long a fetched module is reused before its url is
	// fetched again (default 5m).
	FetchTTL time.Duration
	// RateLimitFlush is how often rate-limit counters are saved to the store
	// (default 5s); they are also saved on Close.
	RateLimitFlush time.Duration
	// CodePools caps the instance pools kept for code run by tokens, one per
	// container, module and token (default 64).
	CodePools int
	// IdleTimeout: the idle instances of a webtask that has served no request
	// for this long are closed, freeing their memory (default 5m).
	IdleTimeout time.Duration
}

// DefaultConfig returns the server defaults.
func DefaultConfig() Config {
	return Config{
		DataDir:        "data",
		MaxModuleBytes: 16 << 20,
		MaxBodyBytes:   1 << 20,
		DefaultPolicy:  engine.PolicyPool,
		Engine:         engine.DefaultConfig(),
		FetchTimeout:   10 * time.Second,
		FetchTTL:       5 * time.Minute,
		RateLimitFlush: 5 * time.Second,
		CodePools:      64,
		IdleTimeout:    5 * time.Minute,
	}
}

// MetaPolicy is the meta key that selects a webtask's instance policy.
const MetaPolicy = "wt-instance"

// Server is a running wasmtask host. Create it with New, serve with Serve,
// stop with Close.
type Server struct {
	cfg    Config
	store  store.Store
	eng    *engine.Engine
	keys   *keys.Keys
	signer *token.Signer
	hub    *logs.Hub
	admin  string
	srv    *fasthttp.Server
	done   chan struct{}

	revoked *token.Revocations
	limiter *token.Limiter
	tokens  tokenCache
	code    *codeRunner
	fetch   *fetcher
	bg      sync.WaitGroup // the rate-limit flusher
	// modGen counts webtask writes; deployedAt remembers, per module hash,
	// the modGen at which a webtask was seen using it (see stillDeployed).
	modGen     atomic.Uint64
	deployedAt sync.Map

	// writeMu serialises management writes (upload, delete) so the store
	// and the deployments map change together.
	writeMu sync.Mutex
	mu      sync.RWMutex
	deps    map[depKey]*deployment

	reqPrefix string
	reqSeq    atomic.Uint64
}

// depKey identifies a deployment; a struct key needs no string building.
type depKey struct{ container, name string }

// deployment is a webtask ready to run: its record, its pool and its
// decrypted secrets.
type deployment struct {
	w       store.Webtask
	pool    *engine.Pool
	secrets []engine.KV
	meta    []engine.KV
	// tok is the token the webtask carries (jtn), nil for webtasks stored
	// before tokens existed; tokErr is why it could not be used.
	tok    *authToken
	tokErr string
}

// Open opens (or creates) the data directory — keys, admin token, the
// embedded bbolt store and the compile cache — and prepares a server.
func Open(ctx context.Context, cfg Config) (*Server, error) { return New(ctx, cfg) }

// New opens (or creates) the data directory and prepares a server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	d := DefaultConfig()
	if cfg.DataDir == "" {
		cfg.DataDir = d.DataDir
	}
	if cfg.MaxModuleBytes <= 0 {
		cfg.MaxModuleBytes = d.MaxModuleBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = d.FetchTimeout
	}
	if cfg.FetchTTL <= 0 {
		cfg.FetchTTL = d.FetchTTL
	}
	if cfg.RateLimitFlush <= 0 {
		cfg.RateLimitFlush = d.RateLimitFlush
	}
	if cfg.CodePools <= 0 {
		cfg.CodePools = d.CodePools
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = d.IdleTimeout
	}
	fetch, err := newFetcher(cfg.FetchAllow, cfg.MaxModuleBytes, cfg.FetchTimeout, cfg.FetchTTL)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("api: data dir: %w", err)
	}
	k, _, err := keys.LoadOrCreate(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, "wasmtask.db"))
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, store: st, keys: k, signer: token.NewSigner(k), hub: logs.NewHub(),
		deps: map[depKey]*deployment{}, done: make(chan struct{}), fetch: fetch,
		reqPrefix: strconv.FormatInt(time.Now().UnixMilli(), 10) + "."}
	s.code = newCodeRunner(s, cfg.CodePools)
	if s.revoked, err = token.OpenRevocations(st); err == nil {
		s.limiter, err = token.OpenLimiter(st, time.Now)
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	ecfg := cfg.Engine
	ecfg.CacheDir = cfg.CacheDir
	if ecfg.CacheDir == "" {
		ecfg.CacheDir = filepath.Join(cfg.DataDir, "cache")
	}
	ecfg.Logger = s.hub
	if s.eng, err = engine.New(ctx, ecfg); err != nil {
		_ = st.Close()
		return nil, err
	}
	s.cfg.Engine = s.eng.Config()
	if s.admin, err = s.loadAdminToken(); err != nil {
		s.Close()
		return nil, err
	}
	s.bg.Add(2)
	go s.flushLimits()
	go s.evictIdle()
	maxBody := cfg.MaxModuleBytes/3*4 + 64<<10 // a base64 module in JSON
	if cfg.MaxBodyBytes > maxBody {
		maxBody = cfg.MaxBodyBytes
	}
	s.srv = &fasthttp.Server{
		Handler:               s.handle,
		Name:                  "wasmtask",
		MaxRequestBodySize:    maxBody,
		ErrorHandler:          fasthttpError(maxBody),
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// Tokens travel in a header or the query string; the default 4 KiB
		// would refuse tokens with inline code or a few secrets.
		ReadBufferSize:  16 << 10,
		ReadTimeout:     60 * time.Second,
		IdleTimeout:     120 * time.Second,
		CloseOnShutdown: true,
	}
	return s, nil
}

// AdminToken returns the master token: no container restriction, full
// delegation depth. It is kept in DataDir/admin.token (mode 0600).
func (s *Server) AdminToken() string { return s.admin }

// Engine returns the server's engine (for tests and benchmarks).
func (s *Server) Engine() *engine.Engine { return s.eng }

// Handler returns the fasthttp handler, for serving from another listener.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error { return s.srv.Serve(ln) }

// Close stops serving and releases the store and the engine.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
		close(s.done)
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.ShutdownWithContext(ctx)
		cancel()
	}
	s.mu.Lock()
	for _, d := range s.deps {
		d.pool.Close(context.Background())
	}
	s.deps = map[depKey]*deployment{}
	s.mu.Unlock()
	s.bg.Wait()
	if s.limiter != nil {
		_ = s.limiter.Flush()
	}
	if s.code != nil {
		s.code.closeAll()
	}
	if s.eng != nil {
		_ = s.eng.Close(context.Background())
	}
	_ = s.store.Close()
}

// adminDepth is the delegation depth of the admin token.
const adminDepth = 10

// loadAdminToken reads DataDir/admin.token, or issues and writes one.
func (s *Server) loadAdminToken() (string, error) {
	path := filepath.Join(s.cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		t := strings.TrimSpace(string(b))
		if c, err := s.signer.Verify(t); err == nil && c.IsRoot() && !s.revoked.IsRevoked(c) {
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

// evictIdle closes, every IdleTimeout/4, the idle instances of pools that
// have been unused for IdleTimeout.
func (s *Server) evictIdle() {
	defer s.bg.Done()
	t := time.NewTicker(max(s.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n := 0
			s.mu.RLock()
			for _, d := range s.deps {
				n += d.pool.EvictIdle(s.cfg.IdleTimeout)
			}
			s.mu.RUnlock()
			n += s.code.evictIdle(s.cfg.IdleTimeout)
			if n > 0 {
				debug.FreeOSMemory() // give the closed instances' memory back now, not at the scavenger's pace
			}
		case <-s.done:
			return
		}
	}
}

// flushLimits saves the rate-limit counters every RateLimitFlush until Close.
func (s *Server) flushLimits() {
	defer s.bg.Done()
	t := time.NewTicker(s.cfg.RateLimitFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.limiter.Flush() // retried at the next tick; Close flushes again
		case <-s.done:
			return
		}
	}
}
