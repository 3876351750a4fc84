package bench

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The section charts beside the overhead chart (SVG): real work, tail
// latency under abuse, the cluster. Each is a chart of panels of horizontal
// bars, written with fmt like SVG; a section without data has no chart
// (its builder returns nil).

// sectionChart is one section's chart: the suffix of its file name
// (<mode><suffix>.svg) and its builder.
type sectionChart struct {
	suffix string
	build  func(*Results) *chart
}

// sectionCharts are the section charts in report order: abuse is part of
// section 3 (scale), work section 9, the cluster section 10.
var sectionCharts = []sectionChart{
	{"-abuse", abuseChart},
	{"-work", workChart},
	{"-cluster", clusterChart},
}

// chartName is the file name of a section chart beside the overhead chart
// overhead ("quick.svg" → "quick-work.svg").
func chartName(overhead, suffix string) string {
	return strings.TrimSuffix(overhead, ".svg") + suffix + ".svg"
}

// chart is a titled stack of panels.
type chart struct {
	title, subtitle string
	panels          []chartPanel
	// shared: every panel on one scale (panels of the same unit that are
	// meant to be compared).
	shared bool
}

// chartPanel is a heading, rows of bars on one scale, and dashed reference
// lines. Bars are placed in a row by their series, whose names form the
// panel's legend (none for a single unnamed series, or with noLegend when
// an earlier panel of the chart shows the same one).
type chartPanel struct {
	title    string
	series   []string
	noLegend bool
	rows     []chartRow
	lines    []chartLine
}

type chartRow struct {
	label string
	bars  []chartBar
}

// chartBar is one data point: value v, an optional range lo–hi drawn as a
// line through the bar (hi > lo), the text after it and its tooltip.
type chartBar struct {
	series    int
	v, lo, hi float64
	text, tip string
}

type chartLine struct {
	v     float64
	label string
}

// chartColors are the series' colors, as SVG's.
var chartColors = []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"}

const (
	chartWidth = 900
	chartRight = 110 // room for the text after the longest bar
	chartBarH  = 14
	chartGap   = 8
)

// svg renders c; "" for a nil chart.
func (c *chart) svg() string {
	if c == nil {
		return ""
	}
	left := 170
	for _, pn := range c.panels {
		for _, row := range pn.rows {
			left = max(left, textWidth(row.label, 11)+20)
		}
	}
	left = min(left, chartWidth/2)
	height := 48
	for _, pn := range c.panels {
		height += panelHeight(pn)
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		chartWidth, height, chartWidth, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="10" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", esc(c.title))
	if c.subtitle != "" {
		p(`<text x="10" y="36" fill="#555">%s</text>`+"\n", esc(c.subtitle))
	}
	shared := 0.0
	for _, pn := range c.panels {
		shared = max(shared, panelMax(pn))
	}
	y := 48
	for _, pn := range c.panels {
		scale := panelMax(pn)
		if c.shared {
			scale = shared
		}
		drawPanel(&b, pn, left, y, scale)
		y += panelHeight(pn)
	}
	p("</svg>\n")
	return b.String()
}

// panelHeight is a panel's heading, rows, one text line per reference line
// and the ticks.
func panelHeight(pn chartPanel) int {
	return 24 + len(pn.rows)*rowHeight(pn) + 14*len(pn.lines) + 26
}

func rowHeight(pn chartPanel) int { return max(len(pn.series), 1)*chartBarH + chartGap }

// panelMax is the end of a panel's scale: its largest value, range or
// reference line, with 5 % to spare.
func panelMax(pn chartPanel) float64 {
	m := 0.0
	for _, row := range pn.rows {
		for _, br := range row.bars {
			m = max(m, finite(br.v), finite(br.hi))
		}
	}
	for _, l := range pn.lines {
		m = max(m, finite(l.v))
	}
	if m <= 0 {
		return 1
	}
	return m * 1.05
}

func drawPanel(b *strings.Builder, pn chartPanel, left, top int, scale float64) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	plotW := float64(chartWidth - left - chartRight)
	x := func(v float64) float64 { return float64(left) + plotW*max(finite(v), 0)/scale }
	p(`<text x="10" y="%d" font-size="12" font-weight="bold">%s</text>`+"\n", top+14, esc(pn.title))
	lx := chartWidth - 10
	for i := len(pn.series) - 1; i >= 0 && !pn.noLegend; i-- { // the legend, right-aligned on the heading's line
		lx -= textWidth(pn.series[i], 11) + 24
		p(`<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			lx, top+5, chartColors[i%len(chartColors)], lx+14, top+14, esc(pn.series[i]))
	}
	rowsTop := top + 24
	rowH := rowHeight(pn)
	rowsEnd := rowsTop + len(pn.rows)*rowH
	for i, l := range pn.lines {
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="4 3"/>`+"\n",
			x(l.v), rowsTop-4, x(l.v), rowsEnd+14*i+2)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(l.v), rowsEnd+14*i+12, esc(l.label))
	}
	tickY := rowsEnd + 14*len(pn.lines) + 14
	step := niceStep(scale / 6)
	for i := 0; float64(i)*step <= scale; i++ {
		v := float64(i) * step
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#999">%s</text>`+"\n", x(v), tickY, tickLabel(v))
	}
	for ri, row := range pn.rows {
		y0 := rowsTop + ri*rowH
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y0+(rowH-chartGap)/2+4, esc(row.label))
		for _, br := range row.bars {
			y := y0 + br.series*chartBarH
			w := x(br.v) - float64(left)
			if br.v > 0 {
				w = max(w, 1) // a value too small for the scale still shows
			}
			p(`<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				left, y, w, chartBarH-2, chartColors[br.series%len(chartColors)], esc(br.tip))
			mid := float64(y) + float64(chartBarH-2)/2
			end := float64(left) + w
			if br.hi > br.lo {
				p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#222" stroke-width="1"/>`+"\n", x(br.lo), mid, x(br.hi), mid)
				end = max(end, x(br.hi))
			}
			if end+4+float64(textWidth(br.text, 10)) > chartWidth-4 { // no room after it: inside the bar's end
				p(`<text x="%.1f" y="%.1f" font-size="10" text-anchor="end" fill="white">%s</text>`+"\n",
					float64(left)+w-3, mid+3.5, esc(br.text))
				continue
			}
			p(`<text x="%.1f" y="%.1f" font-size="10" fill="#333">%s</text>`+"\n", end+4, mid+3.5, esc(br.text))
		}
	}
}

// esc escapes s for SVG text and attributes.
func esc(s string) string { return html.EscapeString(s) }

// textWidth estimates the width in pixels of s in a sans-serif font of
// size px (an average glyph is a little over half the size).
func textWidth(s string, px int) int { return (utf8.RuneCountInString(s)*px*58 + 99) / 100 }

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// niceStep rounds raw up to 1, 2, 2.5 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5} {
		if raw <= m*e*(1+1e-9) {
			return m * e
		}
	}
	return 10 * e
}

func tickLabel(v float64) string {
	if v >= 1000 {
		return f0(v)
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// workChart draws the work section: a panel per task, a row per target
// (language and policy; native-scan too, native is the line at 1), a bar
// per concurrency, all on one scale. Nil without a row to draw.
func workChart(r *Results) *chart {
	var concs []int
	if r.WorkSettings != nil {
		concs = slices.Clone(r.WorkSettings.Concurrency)
	}
	var tasks []string
	for _, w := range r.Work {
		if !slices.Contains(concs, w.Concurrency) {
			concs = append(concs, w.Concurrency)
		}
		if w.Target != "native" && !slices.Contains(tasks, w.Task) {
			tasks = append(tasks, w.Task)
		}
	}
	if len(tasks) == 0 {
		return nil
	}
	slices.SortStableFunc(tasks, func(a, b string) int { // workTasks' order, then any other
		return orderOf(workTasks, a) - orderOf(workTasks, b)
	})
	series := make([]string, len(concs))
	for i, c := range concs {
		series[i] = fmt.Sprintf("c=%d", c)
	}
	c := &chart{
		title:    fmt.Sprintf("Real work: requests/s as a ratio to native Go (%s run, %s)", r.Mode, r.Started.Format("2006-01-02")),
		subtitle: "one webtask per language through the whole server, pooled and fresh; bar: median of rounds, line: min–max",
		shared:   true,
	}
	for ti, task := range tasks {
		pn := chartPanel{title: task, series: series, noLegend: ti > 0, lines: []chartLine{
			{targetWork, fmt.Sprintf("%.1f× goal (C, Rust)", targetWork)}, {1, "1.0× native Go"}}}
		var targets []string
		for _, w := range r.Work {
			if w.Task == task && w.Target != "native" && !slices.Contains(targets, w.Target) {
				targets = append(targets, w.Target)
			}
		}
		for _, t := range targets {
			row := chartRow{label: t}
			for ci, cc := range concs {
				i := slices.IndexFunc(r.Work, func(w WorkRow) bool { return w.Task == task && w.Target == t && w.Concurrency == cc })
				if i < 0 {
					continue
				}
				w := r.Work[i]
				row.bars = append(row.bars, chartBar{series: ci, v: w.Ratio, lo: w.RatioMin, hi: w.RatioMax,
					text: fmt.Sprintf("%.2f×", w.Ratio),
					tip:  fmt.Sprintf("%s %s c=%d: %.2f× native (%s req/s)", task, t, cc, w.Ratio, f0(w.RPS))})
			}
			pn.rows = append(pn.rows, row)
		}
		c.panels = append(c.panels, pn)
	}
	return c
}

// orderOf is the index of s in order, or len(order) when it is not there.
func orderOf(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// abuseChart draws the abuse scenario: the well-behaved tenant's p50 and
// p99 in each scenario, with the goal (p99 within 2× of alone) as a line.
// Nil without rows.
func abuseChart(r *Results) *chart {
	if len(r.Abuse) == 0 {
		return nil
	}
	pn := chartPanel{title: "the well-behaved tenant's latency, µs", series: []string{"p50", "p99"}}
	if a, ok := abuseAlone(r.Abuse); ok && a.P99 > 0 {
		pn.lines = append(pn.lines, chartLine{2 * a.P99, fmt.Sprintf("goal: p99 ≤ 2× alone (%s µs)", f0(2*a.P99))})
	}
	for _, a := range r.Abuse {
		p99 := f0(a.P99) + " µs"
		if a.Runaways > 0 || a.Ratio != 1 {
			p99 += fmt.Sprintf(" (%.2f× alone)", a.Ratio)
		}
		pn.rows = append(pn.rows, chartRow{label: a.Scenario, bars: []chartBar{
			{series: 0, v: a.P50, text: f0(a.P50) + " µs", tip: fmt.Sprintf("%s: p50 %s µs", a.Scenario, f0(a.P50))},
			{series: 1, v: a.P99, text: p99, tip: fmt.Sprintf("%s: p99 %s", a.Scenario, p99)},
		}})
	}
	return &chart{
		title: fmt.Sprintf("Tail latency under abuse (%s run, %s)", r.Mode, r.Started.Format("2006-01-02")),
		subtitle: fmt.Sprintf("one connection to a tenant's hello, alone and while %d connections keep another container's runaway guest busy",
			AbuseLoops),
		panels: []chartPanel{pn},
	}
}

// abuseAlone is the scenario without runaways (abuse writes it first).
func abuseAlone(rows []AbuseRow) (AbuseRow, bool) {
	i := slices.IndexFunc(rows, func(a AbuseRow) bool { return a.Runaways == 0 && a.Ratio == 1 })
	if i < 0 {
		return AbuseRow{}, false
	}
	return rows[i], true
}

// clusterChart draws the cluster section's ratios and latencies, a panel
// each that has data: throughput as a ratio to the baseline, request
// latency of each side, propagation after the call, spawn → /readyz of
// each node. Nil when none has.
func clusterChart(r *Results) *chart {
	cl := r.Cluster
	if cl == nil {
		return nil
	}
	c := &chart{
		title:    fmt.Sprintf("Cluster: %d nodes on one etcd (%s run, %s)", cl.Nodes, r.Mode, r.Started.Format("2006-01-02")),
		subtitle: "every process shares the machine's CPUs; ratio bars: median of rounds, line: min–max",
	}
	panels := clusterLoadPanels(append(slices.Clone(cl.Throughput), cl.Store...))
	panels = append(panels, clusterPropagationPanel(cl), clusterReadyPanel(cl))
	for _, pn := range panels {
		if len(pn.rows) > 0 {
			c.panels = append(c.panels, pn)
		}
	}
	if len(c.panels) == 0 {
		return nil
	}
	return c
}

// clusterLoadPanels are the paired loads' ratios (a bar each) and the
// latencies of both sides (a row each, p50 and p99).
func clusterLoadPanels(loads []ClusterLoadRow) []chartPanel {
	ratio := chartPanel{title: "requests/s as a ratio to the baseline", lines: []chartLine{{1, "1.0× baseline"}}}
	lat := chartPanel{title: "request latency, µs", series: []string{"p50", "p99"}}
	for _, l := range loads {
		label := fmt.Sprintf("%s / %s, c=%d", l.Target, l.Baseline, l.Concurrency)
		ratio.rows = append(ratio.rows, chartRow{label: label, bars: []chartBar{{v: l.Ratio, lo: l.RatioMin, hi: l.RatioMax,
			text: fmt.Sprintf("%.2f×", l.Ratio), tip: fmt.Sprintf("%s: %.2f× (%s vs %s req/s)", label, l.Ratio, f0(l.RPS), f0(l.BaseRPS))}}})
		for _, side := range []struct {
			name     string
			p50, p99 float64
		}{{l.Target, l.P50, l.P99}, {l.Baseline + " (baseline)", l.BaseP50, l.BaseP99}} {
			label := fmt.Sprintf("%s, c=%d", side.name, l.Concurrency)
			lat.rows = append(lat.rows, chartRow{label: label, bars: []chartBar{
				{series: 0, v: side.p50, text: f0(side.p50) + " µs", tip: label + ": p50 " + f0(side.p50) + " µs"},
				{series: 1, v: side.p99, text: f0(side.p99) + " µs", tip: label + ": p99 " + f0(side.p99) + " µs"},
			}})
		}
	}
	return []chartPanel{ratio, lat}
}

// clusterPropagationPanel is a row per kind of change measured: p50, p99
// and max from the call's answer until every other node agrees.
func clusterPropagationPanel(cl *ClusterResult) chartPanel {
	pn := chartPanel{title: "propagation after the call's answer, ms", series: []string{"p50", "p99", "max"}}
	for _, x := range []struct {
		what string
		pr   *PropagationResult
	}{{"deploy on node 1 → nodes 2, 3", cl.Deploy}, {"revoke on node 3 → node 1", cl.Revoke}} {
		if x.pr == nil || x.pr.N == 0 {
			continue
		}
		row := chartRow{label: x.what}
		for i, v := range []float64{x.pr.P50, x.pr.P99, x.pr.Max} {
			row.bars = append(row.bars, chartBar{series: i, v: v, text: fmt.Sprintf("%.2f ms", v),
				tip: fmt.Sprintf("%s: %s %.2f ms (n = %d)", x.what, pn.series[i], v, x.pr.N)})
		}
		pn.rows = append(pn.rows, row)
	}
	return pn
}

// clusterReadyPanel is spawn → /readyz of each etcd node and of the
// bbolt node.
func clusterReadyPanel(cl *ClusterResult) chartPanel {
	pn := chartPanel{title: "spawn → /readyz, ms"}
	add := func(label string, v float64) {
		pn.rows = append(pn.rows, chartRow{label: label, bars: []chartBar{{v: v, text: fmt.Sprintf("%.0f ms", v),
			tip: fmt.Sprintf("%s: %.0f ms", label, v)}}})
	}
	for i, v := range cl.NodeReadyMs {
		add(fmt.Sprintf("etcd node %d", i+1), v)
	}
	if cl.BoltReadyMs > 0 {
		add("bbolt node", cl.BoltReadyMs)
	}
	return pn
}
