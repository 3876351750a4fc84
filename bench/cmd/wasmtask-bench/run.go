package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wasmtask/wasmtask/bench"
)

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wasmtask-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	full := fs.Bool("full", false, "complete run (1,000 × 10 webtasks, longer loads, the soak) instead of the quick one")
	out := fs.String("out", "", "results directory (default: bench/results in the repository; \"-\" writes nothing)")
	only := fs.String("only", "", "comma-separated sections to run: "+strings.Join(bench.Sections, ",")+
		" (a quick run leaves out soak unless named here)")
	guests := fs.String("guests", "", "built guests directory (default: guests/build in the repository)")
	serverBin := fs.String("server-bin", "", "wasmtask binary for cold/scale/memory/js/cluster/soak (default: go build ./cmd/wasmtask in the repository)")
	conc := fs.String("c", "", "concurrencies of the overhead runs, e.g. 1,16,64")
	duration := fs.Duration("duration", 0, "length of each overhead load run")
	containers := fs.Int("containers", 0, "containers of the scale section (10 webtasks each)")
	soakDuration := fs.Duration("soak-duration", 0, "length of the soak's load, warm-up included (default 3m with -full, 20s without)")
	scaleLang := fs.String("scale-lang", "", "guest language of the scale and fairness sections (default wat-min)")
	jsEngine := fs.String("js-engine", "", "JavaScript engine module of the js section (default: <guests>/js/engine.wasm; the section is skipped without it)")
	jsWebtasks := fs.Int("js-webtasks", 0, "JavaScript webtasks the js section deploys per policy to measure memory (default 50, 200 with -full)")
	quiet := fs.Bool("q", false, "no progress output")
	rerender := fs.String("rerender", "", "re-render the markdown and SVGs of a results JSON (no measuring), e.g. results/full.json")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wasmtask-bench [flags]\n\nRuns wasmtask's benchmarks and writes <mode>.md, .json and .svg to the results directory, and <mode>-work.svg, -abuse.svg and -cluster.svg for the sections measured.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *rerender != "" {
		paths, err := bench.Rerender(*rerender)
		if err != nil {
			fmt.Fprintln(stderr, "wasmtask-bench:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join(paths, ", "))
		return 0
	}
	opts := bench.QuickOptions()
	if *full {
		opts = bench.FullOptions()
	}
	if !*quiet {
		opts.Log = stderr
	}
	opts.GuestsDir, opts.ServerBin = *guests, *serverBin
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	if *conc != "" {
		opts.Concurrency = nil
		for _, s := range strings.Split(*conc, ",") {
			c, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || c <= 0 {
				fmt.Fprintf(stderr, "wasmtask-bench: -c: %q is not a positive integer\n", s)
				return 2
			}
			opts.Concurrency = append(opts.Concurrency, c)
		}
	}
	if *duration > 0 {
		opts.Duration = *duration
	}
	if *containers > 0 {
		opts.ScaleContainers = *containers
	}
	if *soakDuration > 0 {
		opts.SoakDuration = *soakDuration
	}
	if *jsEngine != "" {
		opts.JSEngine = *jsEngine
	}
	if *jsWebtasks > 0 {
		opts.JSWebtasks = *jsWebtasks
	}
	if *scaleLang != "" {
		opts.ScaleLang = *scaleLang
	}
	root, err := bench.FindRoot()
	if err != nil {
		fmt.Fprintln(stderr, "wasmtask-bench:", err)
		return 1
	}
	opts.Root = root
	if *out == "" {
		*out = filepath.Join(root, "bench", "results")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := bench.Run(ctx, opts)
	if err != nil && res == nil {
		fmt.Fprintln(stderr, "wasmtask-bench:", err)
		return 1
	}
	if *out != "-" {
		paths, werr := bench.Write(res, *out)
		if werr != nil {
			fmt.Fprintln(stderr, "wasmtask-bench:", werr)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %s (%s)\n", strings.Join(paths, ", "), time.Since(start).Round(time.Second))
	}
	for _, t := range res.Targets {
		fmt.Fprintf(stdout, "%-9s %s: %s\n", t.Status, t.Target, t.Got)
	}
	if err != nil {
		fmt.Fprintln(stderr, "wasmtask-bench:", err)
		return 1
	}
	if f := res.Failures(); len(f) > 0 {
		for _, msg := range f {
			fmt.Fprintln(stderr, "wasmtask-bench: failed:", msg)
		}
		return 1
	}
	return 0
}
