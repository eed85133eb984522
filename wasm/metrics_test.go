package wasm

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// metricValue reads one series of the default registry.
func metricValue(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestMetricsPerPlugin(t *testing.T) {
	m := load(t, "misbehave", HookTransform, nil, Config{})
	m.name = "metrics-probe" // a name no other test uses
	m.series = m.stats.series(m.name, m.hook)
	ctx := context.Background()
	for _, key := range []string{"fine", "trap", "reject", "fine"} {
		m.Transform(ctx, "t", 0, keyed(key, "b", "c"))
	}
	labels := map[string]string{"plugin": "metrics-probe", "hook": "transform"}
	if got := metricValue(t, "sluice_plugin_calls_total", labels); got != 4 {
		t.Errorf("calls %v, want 4", got)
	}
	if got := metricValue(t, "sluice_plugin_records_total", labels); got != 12 {
		t.Errorf("records %v, want 12", got)
	}
	if got := metricValue(t, "sluice_plugin_call_seconds", labels); got != 4 {
		t.Errorf("observed calls %v, want 4", got)
	}
	for kind, want := range map[string]float64{"trap": 1, "rejected": 1, "timeout": 0} {
		l := map[string]string{"plugin": "metrics-probe", "kind": kind}
		if got := metricValue(t, "sluice_plugin_errors_total", l); got != want {
			t.Errorf("errors{kind=%s} %v, want %d", kind, got, int(want))
		}
	}
}
