package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

func TestParseServe(t *testing.T) {
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	tests := []struct {
		name    string
		args    []string
		env     func(string) (string, bool)
		check   func(t *testing.T, o serveOptions)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, o serveOptions) {
			if o.addr != "127.0.0.1:8080" || o.cfg.DataDir != "data" || o.cfg.DefaultPolicy != engine.PolicyPool || !o.cfg.Engine.Tiered {
				t.Errorf("defaults: %+v", o)
			}
		}},
		{name: "untiered", args: []string{"--tiered=false"}, check: func(t *testing.T, o serveOptions) {
			if o.cfg.Engine.Tiered {
				t.Error("--tiered=false left tiered compilation on")
			}
		}},
		{name: "untiered from the environment", env: env("WASMTASK_TIERED", "false"), check: func(t *testing.T, o serveOptions) {
			if o.cfg.Engine.Tiered {
				t.Error("WASMTASK_TIERED=false left tiered compilation on")
			}
		}},
		{name: "no JavaScript engine built here", check: func(t *testing.T, o serveOptions) {
			if o.cfg.JSEngine != "" { // the default path is relative to the repository's root, not cmd/wasmtask
				t.Errorf("JSEngine = %q, want it disabled", o.cfg.JSEngine)
			}
		}},
		{name: "a JavaScript engine named", args: []string{"--js-engine", "/opt/engine.wasm"}, check: func(t *testing.T, o serveOptions) {
			if o.cfg.JSEngine != "/opt/engine.wasm" {
				t.Errorf("JSEngine = %q", o.cfg.JSEngine)
			}
		}},
		{name: "flags", args: []string{"--addr", ":9", "--timeout", "2s", "--memory-mb", "64", "--policy", "fresh",
			"--fetch-allow", " a.example , *.b.example ", "--memory-budget", "1GiB", "--fresh-mode", "instantiate"},
			check: func(t *testing.T, o serveOptions) {
				e := o.cfg.Engine
				if o.addr != ":9" || e.Timeout != 2*time.Second || e.MemoryLimitPages != 1024 || o.cfg.DefaultPolicy != engine.PolicyFresh ||
					strings.Join(o.cfg.FetchAllow, "|") != "a.example|*.b.example" || e.MemoryBudget != 1<<30 || !e.FreshByInstantiate {
					t.Errorf("flags: %+v", o)
				}
			}},
		{name: "profiler", args: []string{"--pprof", "127.0.0.1:6060"}, check: func(t *testing.T, o serveOptions) {
			if o.pprof != "127.0.0.1:6060" {
				t.Errorf("pprof = %q", o.pprof)
			}
		}},
		{name: "env, flag wins", args: []string{"--timeout", "3s"}, env: env("WASMTASK_TIMEOUT", "9s", "WASMTASK_DATA", "/d"),
			check: func(t *testing.T, o serveOptions) {
				if o.cfg.Engine.Timeout != 3*time.Second || o.cfg.DataDir != "/d" {
					t.Errorf("env: %+v", o)
				}
			}},
		{name: "cron job limit", args: []string{"--max-cron-jobs", "3"}, check: func(t *testing.T, o serveOptions) {
			if o.cfg.MaxCronJobs != 3 {
				t.Errorf("MaxCronJobs = %d", o.cfg.MaxCronJobs)
			}
		}},
		{name: "operator flags", args: []string{"--log-format", "json", "--log-level", "debug", "--metrics-public", "--metrics-per-container"},
			check: func(t *testing.T, o serveOptions) {
				if !o.logJSON || o.logLevel != slog.LevelDebug || !o.cfg.MetricsPublic || !o.cfg.MetricsPerContainer {
					t.Errorf("operator flags: %+v", o)
				}
			}},
		{name: "log defaults", check: func(t *testing.T, o serveOptions) {
			if o.logJSON || o.logLevel != slog.LevelInfo || o.cfg.MetricsPublic || o.cfg.MetricsPerContainer {
				t.Errorf("log defaults: %+v", o)
			}
		}},
		{name: "bad log format", args: []string{"--log-format", "xml"}, wantErr: "--log-format must be text or json"},
		{name: "bad log level", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
		{name: "negative cron job limit", args: []string{"--max-cron-jobs", "-1"}, wantErr: "--max-cron-jobs"},
		{name: "bad env", env: env("WASMTASK_TIMEOUT", "soon"), wantErr: "WASMTASK_TIMEOUT"},
		{name: "bad policy", args: []string{"--policy", "reuse"}, wantErr: "--policy must be pool or fresh"},
		{name: "negative body", args: []string{"--max-body-bytes", "-1"}, wantErr: "--max-body-bytes"},
		{name: "negative timeout", args: []string{"--timeout", "-1s"}, wantErr: "--timeout"},
		{name: "too much memory", args: []string{"--memory-mb", "5000"}, wantErr: "--memory-mb"},
		{name: "bad budget", args: []string{"--memory-budget", "lots"}, wantErr: "--memory-budget"},
		{name: "bad public url", args: []string{"--public-url", "example.com"}, wantErr: "--public-url"},
		{name: "stray argument", args: []string{"now"}, wantErr: `unexpected argument "now"`},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "usage error printed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env == nil {
				tc.env = env()
			}
			o, err := parseServe(tc.args, tc.env, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
	if _, err := parseServe([]string{"-h"}, env(), io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

// Test_pprofMux: the profiler's mux serves Go's profiles, and nothing else.
func Test_pprofMux(t *testing.T) {
	srv := httptest.NewServer(pprofMux())
	defer srv.Close()
	for path, want := range map[string]int{"/debug/pprof/": 200, "/debug/pprof/goroutine?debug=1": 200, "/": 404, "/api/run/acme/x": 404} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}
