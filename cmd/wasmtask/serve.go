package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/keys"
	etcdstore "github.com/wasmtask/wasmtask/store/etcd"
)

// serveOptions is what "wasmtask serve" runs with.
type serveOptions struct {
	addr string
	cfg  api.Config
	// logJSON writes the server's log as JSON lines (--log-format json);
	// logLevel is the least level written (--log-level).
	logJSON  bool
	logLevel slog.Level
	// etcd, when set (--store etcd), is the cluster the server stores in
	// instead of <data>/wasmtask.db.
	etcd *etcdstore.Config
	// pprof, when set (--pprof), is the address of Go's profiler
	// (net/http/pprof), on a listener of its own.
	pprof string
}

// serveExamples ends serve's --help, as every other command's help does.
const serveExamples = `
Examples:
  wasmtask serve                                   # 127.0.0.1:8080, data in ./data
  wasmtask serve --addr :8080 --data /var/lib/wasmtask --policy fresh
  WASMTASK_LOG_FORMAT=json wasmtask serve --metrics-public
  wasmtask serve --store etcd --etcd-endpoints 10.0.0.1:2379,10.0.0.2:2379 --key-file kek
`

// errUsage is a command line that does not parse; errPrinted one whose
// message the flag package has printed already.
var (
	errUsage   = errors.New("usage")
	errPrinted = errors.New("usage error printed")
)

// defaultJSEngine is where make guests puts the JavaScript engine, relative
// to the working directory (the repository's root).
const defaultJSEngine = "guests/build/js/engine.wasm"

// parseServe reads serve's flags: the environment (lookupEnv, e.g.
// os.LookupEnv) supplies defaults and the command line wins. It checks
// what the flags' syntax can tell; api.Config.Validate checks the values.
// flag.ErrHelp means help was printed.
func parseServe(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (serveOptions, error) {
	d := api.DefaultConfig()
	fs := flag.NewFlagSet("wasmtask serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dataDir := fs.String("data", d.DataDir, "data directory: database, keys, admin token, compile cache")
	publicURL := fs.String("public-url", "", "base URL reported in run URLs (default: from the request's Host)")
	maxModule := fs.Int("max-module-bytes", d.MaxModuleBytes, "largest module an upload may carry")
	maxBody := fs.Int("max-body-bytes", d.MaxBodyBytes, "largest request body of a webtask run")
	maxInflight := fs.String("max-inflight-body-bytes", "256MiB", "request bodies being received or held at once, all requests together (MiB, or with a unit); past it, 503")
	maxResp := fs.Int("max-response-bytes", d.Engine.MaxResponseBytes, "largest response a webtask may write: its headers and body, in bytes as sent")
	memoryMB := fs.Int("memory-mb", int(d.Engine.MemoryLimitPages/16), "memory limit of one instance, in MiB (at most 4096)")
	memoryBudget := fs.String("memory-budget", "0", fmt.Sprintf("memory all instances and snapshots may hold together, in MiB or with a unit (4GiB); "+
		"over it memory.grow fails and new instances get 503; 0: half of the machine's memory (%d MiB here)", engine.DefaultMemoryBudget()>>20))
	timeout := fs.Duration("timeout", d.Engine.Timeout, "wall-time limit of one request")
	policy := fs.String("policy", d.DefaultPolicy.String(), "default instance policy: pool (reuse instances) or fresh (one per request)")
	idle := fs.Int("pool-idle", d.Engine.MaxIdle, "idle instances kept per webtask")
	running := fs.Int("max-running-per-container", 0, "guest calls one container runs at once; its other requests wait for a slot until their deadline (0: half the cores, at least 1)")
	freshMode := fs.String("fresh-mode", "reset", "how the fresh policy gets a clean instance: reset (restore a post-initialisation snapshot, microseconds) or instantiate (a new module per request)")
	fetchAllow := fs.String("fetch-allow", "", "comma list of hosts a token's url claim may fetch code from (host, host:port, *.example.com); empty allows none")
	fetchTimeout := fs.Duration("fetch-timeout", d.FetchTimeout, "time limit of one code fetch")
	fetchTTL := fs.Duration("fetch-ttl", d.FetchTTL, "how long fetched code is reused before fetching again")
	rlFlush := fs.Duration("rate-limit-flush", d.RateLimitFlush, "how often rate-limit counters are saved")
	idleTimeout := fs.Duration("idle-timeout", d.IdleTimeout, "close the idle instances of a webtask unused for this long")
	maxWebtasks := fs.Int("max-webtasks", d.MaxWebtasks, "webtasks one container may hold")
	maxCronJobs := fs.Int("max-cron-jobs", d.MaxCronJobs, "cron jobs one container may hold")
	maxContainerBytes := fs.String("max-container-bytes", "1GiB", "module bytes one container's webtasks may hold together (MiB, or with a unit)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 0, "how long SIGTERM waits for requests in flight (0: --timeout plus 5s)")
	newKeys := fs.Bool("new-keys", false, "when keys.json is missing but the database holds data, generate new keys anyway (every stored secret and issued token becomes unusable)")
	codePools := fs.Int("code-pools", d.CodePools, "instance pools kept for code run by tokens")
	warm := fs.Int("warm", d.WarmWebtasks, "webtasks loaded at start, those used last before the stop first, so their first requests find them ready (0: none)")
	warmWait := fs.Duration("warm-wait", d.WarmWait, "how long /readyz answers 503 while the start-up warm-up runs (it goes on past that)")
	logFormat := fs.String("log-format", "text", "server log format on stderr: text (key=value lines, with the start-up banner on stdout) "+
		"or json (one JSON object per line, no banner: the admin token is only in <data>/admin.token)")
	logLevel := fs.String("log-level", "info", "least level logged: debug (one line per request), info, warn or error")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060 (off by default; it is unauthenticated: keep it on loopback)")
	metricsPublic := fs.Bool("metrics-public", false, "serve GET /metrics without the admin token (for a scraper on a private network)")
	metricsPerContainer := fs.Bool("metrics-per-container", false, "also count requests by container (one series per container: mind the cardinality)")
	jsEngine := fs.String("js-engine", defaultJSEngine, "the JavaScript engine module (make guests builds it); empty disables JavaScript webtasks, "+
		"and so does the default path when it does not exist")
	storeKind := fs.String("store", "bolt", "where webtasks, tokens and cron jobs are stored: bolt (<data>/wasmtask.db, one server) "+
		"or etcd (a cluster shared by several servers: --etcd-endpoints, and a key-encryption key)")
	etcdEndpoints := fs.String("etcd-endpoints", "", "with --store etcd: comma list of the cluster's client URLs (host:2379 or https://host:2379)")
	etcdPrefix := fs.String("etcd-prefix", etcdstore.DefaultPrefix, "with --store etcd: prefix of every key (servers sharing it form one cluster)")
	etcdDial := fs.Duration("etcd-dial-timeout", etcdstore.DefaultDialTimeout, "with --store etcd: how long start-up waits for a member to answer")
	etcdTimeout := fs.Duration("etcd-timeout", etcdstore.DefaultTimeout, "with --store etcd: time limit of one store call; past it the API answers 503")
	etcdCA := fs.String("etcd-tls-ca", "", "with --store etcd: PEM file of the CA that signed the members' certificates (enables TLS)")
	etcdCert := fs.String("etcd-tls-cert", "", "with --store etcd: PEM client certificate (with --etcd-tls-key)")
	etcdKey := fs.String("etcd-tls-key", "", "with --store etcd: PEM key of the client certificate")
	etcdUser := fs.String("etcd-user", "", "with --store etcd: etcd user name (its password in WASMTASK_ETCD_PASSWORD)")
	etcdPassword := fs.String("etcd-password", "", "with --store etcd: etcd password (prefer WASMTASK_ETCD_PASSWORD: a flag shows in ps)")
	keyFile := fs.String("key-file", "", "with --store etcd: file holding the key-encryption key that seals the cluster's keys "+
		"(64 hex digits; \"new,old\" to rotate); or WASMTASK_KEK holds it")
	tiered := fs.Bool("tiered", true, "serve a newly uploaded module with wazero's interpreter while its compiler runs in the background "+
		"(its first response in milliseconds, not tens of milliseconds or seconds); false: it serves nothing until compiled")
	cronSeconds := fs.Bool("cron-seconds", false, "accept cron schedules with a leading seconds field (for tests only: a job every second)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmtask serve [flags]\n\nFlags (each also read from WASMTASK_<FLAG>, e.g. WASMTASK_ADDR; 0 means the default):\n")
		fs.PrintDefaults()
		fmt.Fprint(stderr, serveExamples)
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookupEnv(envName(f.Name)); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return serveOptions{}, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return serveOptions{}, err
		}
		return serveOptions{}, errPrinted
	}
	if fs.NArg() > 0 {
		return serveOptions{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	pol, err := engine.ParsePolicy(*policy)
	if err != nil {
		return serveOptions{}, fmt.Errorf("%w: --policy must be pool or fresh", errUsage)
	}
	if *freshMode != "reset" && *freshMode != "instantiate" {
		return serveOptions{}, fmt.Errorf("%w: --fresh-mode must be reset or instantiate", errUsage)
	}
	budget, err := parseSize(*memoryBudget)
	if err != nil {
		return serveOptions{}, fmt.Errorf("%w: --memory-budget: %v", errUsage, err)
	}
	containerBytes, err := parseSize(*maxContainerBytes)
	if err != nil {
		return serveOptions{}, fmt.Errorf("%w: --max-container-bytes: %v", errUsage, err)
	}
	inflight, err := parseSize(*maxInflight)
	if err != nil {
		return serveOptions{}, fmt.Errorf("%w: --max-inflight-body-bytes: %v", errUsage, err)
	}
	if *logFormat != "text" && *logFormat != "json" {
		return serveOptions{}, fmt.Errorf("%w: --log-format must be text or json", errUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return serveOptions{}, fmt.Errorf("%w: --log-level must be debug, info, warn or error", errUsage)
	}
	if *memoryMB < 0 || *memoryMB > 4096 {
		return serveOptions{}, fmt.Errorf("%w: --memory-mb must be between 1 and 4096 (the wasm32 address space)", errUsage)
	}
	var allow []string
	for _, h := range strings.Split(*fetchAllow, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allow = append(allow, h)
		}
	}
	if *jsEngine == defaultJSEngine {
		if _, err := os.Stat(*jsEngine); err != nil {
			*jsEngine = "" // not built: JavaScript uploads say how to build it
		}
	}
	etcd, kek, err := parseStore(*storeKind, *etcdEndpoints, *etcdPrefix, *etcdCA, *etcdCert, *etcdKey, *etcdUser, *etcdPassword, *keyFile, lookupEnv)
	if err != nil {
		return serveOptions{}, err
	}
	if etcd != nil {
		etcd.DialTimeout, etcd.Timeout = *etcdDial, *etcdTimeout
	}
	cfg := api.Config{
		KEK:                  kek,
		CronSeconds:          *cronSeconds,
		JSEngine:             *jsEngine,
		DataDir:              *dataDir,
		MaxModuleBytes:       *maxModule,
		MaxBodyBytes:         *maxBody,
		DefaultPolicy:        pol,
		MaxInflightBodyBytes: inflight,
		PublicURL:            *publicURL,
		NewKeys:              *newKeys,
		ShutdownTimeout:      *shutdownTimeout,
		Engine: engine.Config{
			MemoryLimitPages:       uint32(*memoryMB) * 16,
			Timeout:                *timeout,
			MaxResponseBytes:       *maxResp,
			MaxIdle:                *idle,
			FreshByInstantiate:     *freshMode == "instantiate",
			MemoryBudget:           budget,
			MaxRunningPerContainer: *running,
			Tiered:                 *tiered,
		},
		FetchAllow:          allow,
		FetchTimeout:        *fetchTimeout,
		FetchTTL:            *fetchTTL,
		RateLimitFlush:      *rlFlush,
		CodePools:           *codePools,
		IdleTimeout:         *idleTimeout,
		MaxWebtasks:         *maxWebtasks,
		MaxContainerBytes:   containerBytes,
		MaxCronJobs:         *maxCronJobs,
		MetricsPublic:       *metricsPublic,
		MetricsPerContainer: *metricsPerContainer,
		WarmWebtasks:        *warm,
		WarmWait:            *warmWait,
	}
	if *warm < 0 {
		return serveOptions{}, fmt.Errorf("%w: --warm must be 0 or more", errUsage)
	}
	if *warm == 0 {
		cfg.WarmWebtasks = -1 // api.Config: zero is the default
	}
	if err := cfg.Validate(); err != nil {
		return serveOptions{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	return serveOptions{addr: *addr, cfg: cfg, logJSON: *logFormat == "json", logLevel: level, etcd: etcd, pprof: *pprofAddr}, nil
}

// parseStore reads the store's flags: nil for bolt; for etcd, the
// cluster's configuration and the key-encryption keys (from --key-file,
// else WASMTASK_KEK), which a cluster needs (keys.LoadOrCreateShared).
func parseStore(kind, endpoints, prefix, ca, cert, key, user, password, keyFile string,
	lookupEnv func(string) (string, bool)) (*etcdstore.Config, [][]byte, error) {
	switch kind {
	case "bolt":
		if endpoints != "" {
			return nil, nil, fmt.Errorf("%w: --etcd-endpoints needs --store etcd", errUsage)
		}
		return nil, nil, nil
	case "etcd":
	default:
		return nil, nil, fmt.Errorf("%w: --store must be bolt or etcd", errUsage)
	}
	cfg := &etcdstore.Config{Prefix: prefix, Username: user, Password: password}
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			cfg.Endpoints = append(cfg.Endpoints, e)
		}
	}
	if len(cfg.Endpoints) == 0 {
		return nil, nil, fmt.Errorf("%w: --store etcd needs --etcd-endpoints host:2379[,host:2379...]", errUsage)
	}
	if user == "" && password != "" {
		return nil, nil, fmt.Errorf("%w: --etcd-password without --etcd-user", errUsage)
	}
	if ca != "" || cert != "" || key != "" {
		t, err := etcdTLS(ca, cert, key)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		cfg.TLS = t
	}
	raw, from := "", ""
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --key-file: %v", errUsage, err)
		}
		raw, from = string(b), "--key-file "+keyFile
	} else if v, ok := lookupEnv("WASMTASK_KEK"); ok {
		raw, from = v, "WASMTASK_KEK"
	} else {
		return nil, nil, fmt.Errorf("%w: --store etcd needs the cluster's key-encryption key: --key-file (64 hex digits; openssl rand -hex 32 > kek) or WASMTASK_KEK", errUsage)
	}
	kek, err := keys.ParseKEKs(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", errUsage, from, err)
	}
	return cfg, kek, nil
}

// etcdTLS is the TLS configuration of the etcd client: the cluster's CA
// (the system's if empty) and a client certificate (none if empty).
func etcdTLS(ca, cert, key string) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("--etcd-tls-ca: %v", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--etcd-tls-ca: %s holds no PEM certificate", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("--etcd-tls-cert and --etcd-tls-key go together")
	}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("--etcd-tls-cert/--etcd-tls-key: %v", err)
		}
		t.Certificates = []tls.Certificate{c}
	}
	return t, nil
}

// openServer opens the server on its store: the data directory's bbolt
// file, or the etcd cluster (the returned closer closes it after the
// server).
func openServer(ctx context.Context, opts serveOptions) (*api.Server, func(), error) {
	if opts.etcd == nil {
		srv, err := api.Open(ctx, opts.cfg)
		return srv, func() {}, err
	}
	st, err := etcdstore.Open(ctx, *opts.etcd)
	if err != nil {
		return nil, nil, err
	}
	srv, err := api.New(ctx, opts.cfg, st)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	return srv, func() { _ = st.Close() }, nil
}

// serve runs "wasmtask serve" until SIGINT or SIGTERM.
func serve(args []string, stdout, stderr io.Writer) int {
	opts, err := parseServe(args, os.LookupEnv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errPrinted):
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "wasmtask serve:", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	}
	sig, stop := make(chan os.Signal, 1), make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		signal.Stop(sig) // a second signal ends the process at once
		stop <- s
	}()
	return serveUntil(opts, stdout, stderr, stop)
}

// serveUntil runs the server with opts until a value arrives on stop.
// The server's log (log/slog) goes to stderr, as text or JSON lines; in
// text, a start-up banner with the URL and the admin token goes to stdout
// (what make run shows), while in JSON nothing names the token: a log
// pipeline never sees it.
func serveUntil(opts serveOptions, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	hopts := &slog.HandlerOptions{Level: opts.logLevel}
	var log *slog.Logger
	if opts.logJSON {
		log = slog.New(slog.NewJSONHandler(stderr, hopts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, hopts))
	}
	opts.cfg.Logger = log
	fail := func(err error) int {
		if opts.logJSON {
			log.Error("wasmtask serve: " + err.Error())
		} else {
			fmt.Fprintln(stderr, "wasmtask serve:", err)
		}
		return 1
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	srv, closeStore, err := openServer(context.Background(), opts)
	if err != nil {
		ln.Close()
		return fail(err)
	}
	defer closeStore()
	url, dataDir := "http://"+ln.Addr().String(), opts.cfg.DataDir
	if opts.cfg.PublicURL != "" {
		url = opts.cfg.PublicURL
	}
	ready := time.Since(start).Round(time.Millisecond)
	js := opts.cfg.JSEngine
	where := "bolt"
	if opts.etcd != nil {
		where = "etcd " + strings.Join(opts.etcd.Endpoints, ",") + " prefix " + opts.etcd.Prefix
	}
	if opts.logJSON {
		log.Info("listening", "version", version, "url", url, "data", dataDir, "store", where, "ready_in", ready,
			"admin_token_file", filepath.Join(dataDir, "admin.token"), "js_engine", js)
	} else {
		fmt.Fprintf(stdout, "wasmtask %s listening on %s (data in %s, ready in %s)\n", version, url, dataDir, ready)
		if opts.etcd != nil {
			fmt.Fprintf(stdout, "store: %s\n", where)
		}
		fmt.Fprintf(stdout, "admin token (also in %s/admin.token):\n%s\n", dataDir, srv.AdminToken())
		if js != "" {
			fmt.Fprintf(stdout, "JavaScript webtasks run on %s\n", js)
		} else {
			fmt.Fprintf(stdout, "JavaScript webtasks are off: no engine (make guests builds %s; --js-engine names it)\n", defaultJSEngine)
		}
	}

	if opts.pprof != "" {
		pln, err := net.Listen("tcp", opts.pprof)
		if err != nil {
			fmt.Fprintf(stderr, "wasmtask serve: --pprof: %v\n", err)
			srv.Close()
			return 1
		}
		defer pln.Close()
		go func() { _ = http.Serve(pln, pprofMux()) }()
		log.Info("profiler", "url", "http://"+pln.Addr().String()+"/debug/pprof/")
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case s := <-stop:
		if opts.logJSON {
			log.Info("shutting down", "signal", s.String())
		} else {
			fmt.Fprintf(stdout, "wasmtask: %v, shutting down\n", s)
		}
		if err := srv.Shutdown(); err != nil {
			return fail(err)
		}
		return 0
	case err := <-errc:
		srv.Close()
		if err != nil {
			return fail(err)
		}
		return 0
	}
}

// parseSize reads a size in MiB ("512") or with a unit: B, KiB, MiB, GiB or
// TiB ("4GiB", "1.5 GiB").
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r >= 'A' && r <= 'z' })
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	mult, ok := map[string]float64{"": 1 << 20, "b": 1, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[unit]
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || n < 0 || n*mult >= 1<<62 {
		return 0, fmt.Errorf("%q is not a size (MiB, or a number with B, KiB, MiB, GiB or TiB)", s)
	}
	return int64(n * mult), nil
}

// newServeCmd: wasmtask serve. Its flags stay the flag package's (each also
// read from WASMTASK_<FLAG>), parsed by parseServe: cobra passes the
// arguments through untouched.
func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:                "serve [flags]",
		Short:              "Start the server (wasmtask serve --help lists its flags)",
		Long:               "Start the server. Every flag can also be set as WASMTASK_<FLAG> (--max-body-bytes is WASMTASK_MAX_BODY_BYTES); flags win.",
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, args []string) error {
			if code := serve(args, stdout, stderr); code != 0 {
				return &exitStatus{code}
			}
			return nil
		},
	}
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "WASMTASK_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// pprofMux serves Go's profiler (--pprof), registered on a mux of its own
// rather than http.DefaultServeMux.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
