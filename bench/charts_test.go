package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chartResults is a small hand-made run with the three charted sections.
func chartResults() *Results {
	return &Results{
		Mode:         "quick",
		Started:      time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
		WorkSettings: &WorkSettings{Concurrency: []int{1, 16}, Rounds: 3},
		Work: []WorkRow{
			{Task: "json", Target: "native", Concurrency: 1, Ratio: 1}, // the reference line, no bar
			{Task: "json", Target: "native-scan", Concurrency: 1, Ratio: 1.3, RatioMin: 1.2, RatioMax: 1.4},
			{Task: "json", Target: "c/pool", Lang: "c", Policy: "pool", Concurrency: 1, Ratio: 1.5, RatioMin: 1.2, RatioMax: 1.7},
			{Task: "json", Target: "c/pool", Lang: "c", Policy: "pool", Concurrency: 16, Ratio: 0.9},
			{Task: "jwt", Target: "native", Concurrency: 16, Ratio: 1},
			{Task: "jwt", Target: "rust/fresh", Lang: "rust", Policy: "fresh", Concurrency: 16, Ratio: 0.4},
			{Task: "hmac", Target: "a<&>\"'/pool", Concurrency: 1, Ratio: 0.02}, // escaped, and too small to see
		},
		Abuse: []AbuseRow{
			{Scenario: "well-behaved tenant alone", RPS: 20000, P50: 45, P99: 120, Ratio: 1},
			{Scenario: "with 50 runaway loops in another container", RPS: 9000, P50: 80, P99: 2400, Ratio: 20, Runaways: 75},
		},
		Cluster: &ClusterResult{
			Nodes: 3, NodeReadyMs: []float64{210, 190, 230}, BoltReadyMs: 150,
			Throughput: []ClusterLoadRow{{Target: "3 nodes", Baseline: "1 node", Concurrency: 16, Ratio: 0.8, RatioMin: 0.7,
				RatioMax: 0.9, P50: 500, P99: 2000, BaseP50: 400, BaseP99: 1500}},
			Store: []ClusterLoadRow{{Target: "etcd", Baseline: "bbolt", Concurrency: 1, Ratio: 1, P50: 60, P99: 150, BaseP50: 58, BaseP99: 140},
				{Target: "etcd", Baseline: "bbolt", Concurrency: 16, Ratio: 0.97, P50: 300, P99: 900, BaseP50: 290, BaseP99: 880}},
			Deploy: &PropagationResult{N: 20, P50: 1.5, P99: 4, Max: 5},
			Revoke: &PropagationResult{N: 20, P50: 0.8, P99: 2, Max: 3},
		},
	}
}

// svgBars decodes an SVG to its end and counts its bars (class "bar").
func svgBars(t *testing.T, svg string) int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	bars, root := 0, ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
		}
		for _, a := range se.Attr {
			if se.Name.Local == "rect" && a.Name.Local == "class" && a.Value == "bar" {
				bars++
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return bars
}

// TestSectionChart_SVG renders each section chart of a hand-made run: it is
// well-formed XML with one bar per data point and the labels it promises.
func TestSectionChart_SVG(t *testing.T) {
	r := chartResults()
	tests := []struct {
		name  string
		build func(*Results) *chart
		bars  int
		want  []string
	}{
		// Every work row but native's.
		{"work", workChart, 5, []string{"1.50×", "0.40×", "0.5× goal (C, Rust)", "1.0× native Go", "c=16",
			"a&lt;&amp;&gt;&#34;&#39;/pool", "native-scan"}},
		// p50 and p99 of both scenarios.
		{"abuse", abuseChart, 4, []string{"2,400 µs (20.00× alone)", "goal: p99 ≤ 2× alone (240 µs)", "well-behaved tenant alone"}},
		// 3 ratios, p50 and p99 of both sides of 3 loads, 2 × (p50, p99, max), 4 nodes ready.
		{"cluster", clusterChart, 3 + 3*2*2 + 2*3 + 4, []string{"0.80×", "1.0× baseline", "bbolt (baseline), c=16",
			"revoke on node 3 → node 1", "150 ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := tt.build(r).svg()
			if got := svgBars(t, svg); got != tt.bars {
				t.Errorf("%d bars, want %d", got, tt.bars)
			}
			for _, w := range tt.want {
				if !strings.Contains(svg, w) {
					t.Errorf("svg lacks %q", w)
				}
			}
		})
	}
}

// TestSectionChart_empty checks no chart is drawn for a section without
// data, nor for one that has nothing to draw.
func TestSectionChart_empty(t *testing.T) {
	tests := []struct {
		name string
		r    *Results
	}{
		{"no sections", &Results{Mode: "quick"}},
		{"work of native alone", &Results{Work: []WorkRow{{Task: "json", Target: "native", Concurrency: 1, Ratio: 1}}}},
		{"cluster without figures", &Results{Cluster: &ClusterResult{Nodes: 3, Deploy: &PropagationResult{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sc := range sectionCharts {
				if c := sc.build(tt.r); c != nil || c.svg() != "" {
					t.Errorf("%s: a chart: %+v", sc.suffix, c)
				}
			}
			if md := Markdown(tt.r, "quick.svg"); strings.Contains(md, "quick-") {
				t.Errorf("markdown embeds a section chart:\n%s", md)
			}
		})
	}
}

// TestSectionChart_Write checks Write saves the section charts the markdown
// embeds, and that a run without those sections removes stale ones.
func TestSectionChart_Write(t *testing.T) {
	dir := t.TempDir()
	r := chartResults()
	paths, err := Write(r, dir)
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "quick.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"quick-work.svg", "quick-abuse.svg", "quick-cluster.svg"} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		svgBars(t, string(b))
		if !strings.Contains(strings.Join(paths, " "), p) {
			t.Errorf("Write's paths lack %s: %v", p, paths)
		}
		if !strings.Contains(string(md), "]("+name+")") {
			t.Errorf("markdown does not embed %s", name)
		}
	}

	r.Work, r.Abuse, r.Cluster = nil, nil, nil
	if paths, err = Write(r, dir); err != nil {
		t.Fatal(err)
	}
	if len(paths) != 3 {
		t.Errorf("paths %v, want the markdown, JSON and overhead chart", paths)
	}
	for _, name := range []string{"quick-work.svg", "quick-abuse.svg", "quick-cluster.svg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", name, err)
		}
	}
}
