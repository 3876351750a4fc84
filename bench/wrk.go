package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	"github.com/wasmtask/wasmtask/host/api"
)

// wrk cross-checks the in-process load generator with an external one:
// wrk (Debian `wrk`; `make -C bench wrk` installs it) runs in its own
// process against the native baseline and the trivial guest, pooled and
// fresh, through the whole server. If the two generators agree on the
// ratios, the in-process one's figures are not an artefact of sharing
// the process. Skipped, with a note, when wrk is not installed.
func (h *harness) wrk() error {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		h.note("wrk: not installed (apt-get install wrk, or make -C bench wrk): cross-check skipped")
		return nil
	}
	g, err := h.guest(MinimalLang)
	if err != nil {
		return err
	}
	srv, err := startInProc(api.Config{DataDir: h.tempDir("wrk")})
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, policy := range []string{"pool", "fresh"} {
		if err := upload(srv.URL(), srv.Admin(), "bench", webtaskName(g.Lang, policy), g.wasm, policy != "pool"); err != nil {
			return err
		}
	}
	ref, err := get(runURL(srv.URL(), "bench", webtaskName(g.Lang, "pool")))
	if err != nil {
		return err
	}
	nat, err := startNative(ref.ContentType, ref.Body)
	if err != nil {
		return err
	}
	defer nat.Close()
	dur := max(h.opts.Duration*4, 2*time.Second)
	for _, c := range h.opts.Concurrency {
		native, err := runWrk(bin, nat.url+"/", c, dur)
		if err != nil {
			return err
		}
		h.res.Wrk = append(h.res.Wrk, WrkRow{Target: "native", Concurrency: c, RPS: native, Ratio: 1})
		h.logf("  wrk c=%-3d %-24s %9.0f req/s", c, "native", native)
		for _, policy := range []string{"pool", "fresh"} {
			rps, err := runWrk(bin, runURL(srv.URL(), "bench", webtaskName(g.Lang, policy)), c, dur)
			if err != nil {
				return err
			}
			name := g.Lang + "/" + policy
			h.res.Wrk = append(h.res.Wrk, WrkRow{Target: name, Concurrency: c, RPS: rps, Ratio: rps / native})
			h.logf("  wrk c=%-3d %-24s %9.0f req/s  %.2f× native", c, name, rps, rps/native)
		}
	}
	return nil
}

// wrkRPS finds wrk's "Requests/sec:" line.
var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk runs wrk with c connections (at least one per thread) for d and
// returns its requests per second.
func runWrk(bin, url string, c int, d time.Duration) (float64, error) {
	threads := min(2, c)
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(c),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk %s: %v: %s", url, err, bytes.TrimSpace(out))
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk %s: no Requests/sec in its output: %s", url, bytes.TrimSpace(out))
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
