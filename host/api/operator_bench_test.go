package api_test

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/api"
)

// BenchmarkHandler_Metrics measures what the operator's view costs a run:
// the in-process handler running the pooled WAT hello (as
// BenchmarkHandler_Run) with metrics off (Config.NoMetrics), on, on while
// /metrics is scraped every 10 ms (a scraper runs every 15 s or so: this
// is far more), and on with every request logged at debug as JSON.
func BenchmarkHandler_Metrics(b *testing.B) {
	hello := fixture(b, "hello")
	variants := []struct {
		name   string
		cfg    api.Config
		scrape bool
	}{
		{name: "off", cfg: api.Config{NoMetrics: true}},
		{name: "on", cfg: api.Config{}},
		{name: "on-scraped", cfg: api.Config{}, scrape: true},
		{name: "on-debug-log", cfg: api.Config{Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))}},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ts := start(b, v.cfg)
			ts.upload("acme", "hello", hello, "")
			h := ts.Handler()
			if v.scrape {
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ctx fasthttp.RequestCtx
					var req fasthttp.Request
					req.SetRequestURI("/metrics")
					req.Header.Set("Authorization", "Bearer "+ts.Admin)
					ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							ctx.Response.Reset()
							h(&ctx)
							if ctx.Response.StatusCode() != 200 {
								panic("scrape: " + string(ctx.Response.Body()))
							}
						}
					}
				}()
				defer func() { close(stop); wg.Wait() }()
			}
			var ctx fasthttp.RequestCtx
			var req fasthttp.Request
			req.SetRequestURI("/api/run/acme/hello?name=Tomek")
			req.Header.Set("User-Agent", "bench")
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ctx.Response.Reset()
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}

// TestHandler_MetricsNoAllocs proves that counting a run allocates
// nothing: a run allocates as much with metrics on as off.
func TestHandler_MetricsNoAllocs(t *testing.T) {
	if testing.Short() || raceEnabled() {
		t.Skip("allocation counts need a normal build")
	}
	allocs := map[bool]int64{}
	for _, off := range []bool{true, false} {
		ts := start(t, api.Config{NoMetrics: off})
		ts.upload("acme", "hello", fixture(t, "hello"), "")
		h := ts.Handler()
		var ctx fasthttp.RequestCtx
		var req fasthttp.Request
		req.SetRequestURI("/api/run/acme/hello")
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		h(&ctx) // warm: the first run creates the instance
		r := testing.Benchmark(func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ctx.Response.Reset()
				h(&ctx)
			}
		})
		allocs[off] = r.AllocsPerOp()
	}
	if allocs[false] != allocs[true] {
		t.Errorf("a run allocates %d times with metrics on, %d with them off", allocs[false], allocs[true])
	}
}
