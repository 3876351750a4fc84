package metrics_test

import (
	"strings"
	"testing"

	"github.com/wasmtask/wasmtask/host/metrics"
)

func TestMetrics_OutboundCall(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.OutboundCall(metrics.OutboundOK)
	m.OutboundCall(metrics.OutboundDenied)
	m.OutboundCall("https://api.example.com/secret-path") // unbounded input: counted as other
	b, err := m.Text()
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		`wasmtask_outbound_calls_total{result="ok"} 1`,
		`wasmtask_outbound_calls_total{result="denied"} 1`,
		`wasmtask_outbound_calls_total{result="other"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s", want)
		}
	}
	if strings.Contains(text, "example.com") {
		t.Error("a result outside the set became a label value")
	}
	if a := testing.AllocsPerRun(100, func() { m.OutboundCall(metrics.OutboundError) }); a != 0 {
		t.Errorf("OutboundCall allocates %v times", a)
	}
	var none *metrics.Metrics // metrics off: every method is a no-op
	none.OutboundCall(metrics.OutboundOK)
	none.Request(metrics.RouteRun, 200)
}
