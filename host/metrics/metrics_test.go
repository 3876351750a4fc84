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

// TestMetrics_AuthChecks: the auth checker's counts become one series per
// middleware and result, all of them present from the first scrape.
func TestMetrics_AuthChecks(t *testing.T) {
	m := metrics.New(metrics.Options{})
	var a metrics.AuthStats
	a.Checks[0][0] = 3 // bearer ok
	a.Checks[2][1] = 2 // jwt unauthorized
	a.Checks[2][3] = 1 // jwt unavailable
	m.Watch(metrics.Sources{Auth: func() metrics.AuthStats { return a }})
	b, err := m.Text()
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		`wasmtask_auth_checks_total{middleware="bearer",result="ok"} 3`,
		`wasmtask_auth_checks_total{middleware="jwt",result="unauthorized"} 2`,
		`wasmtask_auth_checks_total{middleware="jwt",result="unavailable"} 1`,
		`wasmtask_auth_checks_total{middleware="cron",result="forbidden"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s", want)
		}
	}
	if n := strings.Count(text, "wasmtask_auth_checks_total{"); n != 12 {
		t.Errorf("%d auth series, want 12 (3 middleware × 4 results)", n)
	}
}
