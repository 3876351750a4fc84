package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
	"github.com/wasmtask/wasmtask/host/engine"
)

// serve runs "wasmtask serve".
func serve(args []string, stdout, stderr io.Writer) int {
	d := api.DefaultConfig()
	fs := flag.NewFlagSet("wasmtask serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dataDir := fs.String("data", d.DataDir, "data directory: database, keys, admin token, compile cache")
	publicURL := fs.String("public-url", "", "base URL reported in run URLs (default: from the request's Host)")
	maxModule := fs.Int("max-module-bytes", d.MaxModuleBytes, "largest module an upload may carry")
	maxBody := fs.Int("max-body-bytes", d.MaxBodyBytes, "largest request body of a webtask run")
	maxResp := fs.Int("max-response-bytes", d.Engine.MaxResponseBytes, "largest response a webtask may write: its headers and body, in bytes as sent")
	memoryMB := fs.Int("memory-mb", int(d.Engine.MemoryLimitPages/16), "memory limit of one instance, in MiB")
	memoryBudget := fs.String("memory-budget", "0", fmt.Sprintf("memory all instances and snapshots may hold together, in MiB or with a unit (4GiB); "+
		"over it memory.grow fails and new instances get 503; 0: half of the machine's memory (%d MiB here)", engine.DefaultMemoryBudget()>>20))
	timeout := fs.Duration("timeout", d.Engine.Timeout, "wall-time limit of one request")
	policy := fs.String("policy", d.DefaultPolicy.String(), "default instance policy: pool (reuse instances) or fresh (one per request)")
	idle := fs.Int("pool-idle", d.Engine.MaxIdle, "idle instances kept per webtask")
	freshMode := fs.String("fresh-mode", "reset", "how the fresh policy gets a clean instance: reset (restore a post-initialisation snapshot, microseconds) or instantiate (a new module per request)")
	fetchAllow := fs.String("fetch-allow", "", "comma list of hosts a token's url claim may fetch code from (host, host:port, *.example.com); empty allows none")
	fetchTimeout := fs.Duration("fetch-timeout", d.FetchTimeout, "time limit of one code fetch")
	fetchTTL := fs.Duration("fetch-ttl", d.FetchTTL, "how long fetched code is reused before fetching again")
	rlFlush := fs.Duration("rate-limit-flush", d.RateLimitFlush, "how often rate-limit counters are saved")
	idleTimeout := fs.Duration("idle-timeout", d.IdleTimeout, "close the idle instances of a webtask unused for this long")
	codePools := fs.Int("code-pools", d.CodePools, "instance pools kept for code run by tokens")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmtask serve [flags]\n\nFlags (each also read from WASMTASK_<FLAG>, e.g. WASMTASK_ADDR):\n")
		fs.PrintDefaults()
	}
	// The environment supplies defaults; flags on the command line win.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		fmt.Fprintln(stderr, "wasmtask serve:", envErr)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "wasmtask serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	pol, err := engine.ParsePolicy(*policy)
	if err != nil {
		fmt.Fprintln(stderr, "wasmtask serve: --policy must be pool or fresh")
		return 2
	}
	for name, v := range map[string]int{"max-module-bytes": *maxModule, "max-body-bytes": *maxBody,
		"max-response-bytes": *maxResp, "memory-mb": *memoryMB, "pool-idle": *idle} {
		if v <= 0 {
			fmt.Fprintf(stderr, "wasmtask serve: --%s must be positive\n", name)
			return 2
		}
	}
	if *freshMode != "reset" && *freshMode != "instantiate" {
		fmt.Fprintln(stderr, "wasmtask serve: --fresh-mode must be reset or instantiate")
		return 2
	}
	if *codePools <= 0 || *idleTimeout <= 0 || *fetchTimeout <= 0 || *fetchTTL <= 0 || *rlFlush <= 0 {
		fmt.Fprintln(stderr, "wasmtask serve: --code-pools, --idle-timeout, --fetch-timeout, --fetch-ttl and --rate-limit-flush must be positive")
		return 2
	}
	var allow []string
	for _, h := range strings.Split(*fetchAllow, ",") {
		if h = strings.TrimSpace(h); h != "" {
			allow = append(allow, h)
		}
	}
	if *memoryMB > 4096 {
		fmt.Fprintln(stderr, "wasmtask serve: --memory-mb must be at most 4096 (the wasm32 address space)")
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "wasmtask serve: --timeout must be positive")
		return 2
	}
	budget, err := parseSize(*memoryBudget)
	if err != nil {
		fmt.Fprintln(stderr, "wasmtask serve: --memory-budget:", err)
		return 2
	}
	cfg := api.Config{
		DataDir:        *dataDir,
		MaxModuleBytes: *maxModule,
		MaxBodyBytes:   *maxBody,
		DefaultPolicy:  pol,
		PublicURL:      *publicURL,
		Engine: engine.Config{
			MemoryLimitPages:   uint32(*memoryMB) * 16,
			Timeout:            *timeout,
			MaxResponseBytes:   *maxResp,
			MaxIdle:            *idle,
			FreshByInstantiate: *freshMode == "instantiate",
			MemoryBudget:       budget,
		},
		FetchAllow:     allow,
		FetchTimeout:   *fetchTimeout,
		FetchTTL:       *fetchTTL,
		RateLimitFlush: *rlFlush,
		CodePools:      *codePools,
		IdleTimeout:    *idleTimeout,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "wasmtask serve:", err)
		return 1
	}
	start := time.Now()
	srv, err := api.Open(context.Background(), cfg)
	if err != nil {
		ln.Close()
		fmt.Fprintln(stderr, "wasmtask serve:", err)
		return 1
	}
	url := "http://" + ln.Addr().String()
	if *publicURL != "" {
		url = *publicURL
	}
	fmt.Fprintf(stdout, "wasmtask %s listening on %s (data in %s, ready in %s)\n", version, url, *dataDir, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "admin token (also in %s/admin.token):\n%s\n", *dataDir, srv.AdminToken())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case s := <-sig:
		fmt.Fprintf(stdout, "wasmtask: %v, shutting down\n", s)
		srv.Close()
		return 0
	case err := <-errc:
		srv.Close()
		if err != nil {
			fmt.Fprintln(stderr, "wasmtask serve:", err)
			return 1
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
