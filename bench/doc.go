// Package bench is wasmtask's benchmark harness: it measures what isolation
// costs (the same trivial handler as a native fasthttp handler and as a
// wasmtask guest in every built language, pooled and fresh, through the real
// server on loopback), cold start (upload and restart to first response),
// scale (RSS and time-to-ready with many deployed webtasks, memory per live
// instance, many tenants sharing load), micro costs (go test -bench beside
// the code), a peer, Extism's Go SDK, on the same guest logic in the same
// process, JavaScript webtasks on the QuickJS engine against Node.js running
// the same function (throughput, cold start, memory per webtask), and (full
// runs) a soak: many tenants under a mixed load for
// minutes, after which the server's RSS and open descriptors must return to
// where they were.
//
// Every figure is reported with a ratio to a baseline measured in the same
// run, because the absolute numbers on a shared 2-core machine move from run
// to run and the ratios move much less. Run it with
//
//	go run ./bench/cmd/wasmtask-bench            # quick, a few minutes
//	go run ./bench/cmd/wasmtask-bench -full      # complete
//
// Results go to bench/results as markdown, JSON and an SVG chart. README.md
// beside this file explains the method and its caveats.
package bench
