package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// microPackages are the `go test -bench` suites the report includes: the
// engine's hot path beside its code, and the cross-package micro costs of
// this package (handler, token verification, store lookup). Each runs as
// `go test .` in its directory under the repository root, so the bench
// module (its own go.mod) and the main module are each tested from inside.
//
// The engine's list leaves out what is not a hot path and would take
// minutes at a fixed count (BenchmarkJS_Compile compiles the 1 MB
// JavaScript engine per op; BenchmarkJS_Init instantiates it).
var microPackages = []struct{ dir, re string }{
	{"host/engine", "^Benchmark(Pool_Serve|Pool_ServeParallel|HostCall|Request_ContextJSON|MergeData|Engine_Compile|Guests_Serve|JS_Serve)$"},
	{"bench", "Micro"},
}

// micro runs the micro benchmarks with `go test` and keeps their lines.
func (h *harness) micro() error {
	for _, p := range microPackages {
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", p.re, "-benchmem",
			"-benchtime", h.opts.MicroBenchtime, ".")
		cmd.Dir = filepath.Join(h.opts.Root, filepath.FromSlash(p.dir))
		out, err := cmd.CombinedOutput()
		if err != nil {
			h.note("micro: %s: %v: %s", p.dir, err, lastLines(out, 5))
			continue
		}
		rows := ParseBench(out)
		for i := range rows {
			rows[i].Package = p.dir
			h.logf("  %-50s %12.1f ns/op %8.0f B/op %6.0f allocs/op", rows[i].Name, rows[i].NsOp, rows[i].BOp, rows[i].Allocs)
		}
		h.res.Micro = append(h.res.Micro, rows...)
	}
	return nil
}

// ParseBench reads the result lines of `go test -bench -benchmem` output.
func ParseBench(out []byte) []MicroRow {
	var rows []MicroRow
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 { // the -GOMAXPROCS suffix
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		r := MicroRow{Name: name}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.NsOp = v
			case "B/op":
				r.BOp = v
			case "allocs/op":
				r.Allocs = v
			default:
				if r.Extra == nil {
					r.Extra = map[string]float64{}
				}
				r.Extra[f[i+1]] = v
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprint(strings.Join(lines, " | "))
}
