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
	labels := map[string]string{"plugin": "metrics-probe", "hook": "transform"}
	kinds := map[string]float64{"trap": 1, "rejected": 1, "timeout": 0}
	// The series live in the default registry for the whole test binary:
	// what this run adds is counted (go test -count=2 runs it twice).
	series := []string{"sluice_plugin_calls_total", "sluice_plugin_records_total", "sluice_plugin_call_seconds"}
	before := map[string]float64{}
	for _, name := range series {
		before[name] = metricValue(t, name, labels)
	}
	for kind := range kinds {
		before[kind] = metricValue(t, "sluice_plugin_errors_total", map[string]string{"plugin": "metrics-probe", "kind": kind})
	}
	for _, key := range []string{"fine", "trap", "reject", "fine"} {
		m.Transform(ctx, "t", 0, keyed(key, "b", "c"))
	}
	if got := metricValue(t, "sluice_plugin_calls_total", labels) - before["sluice_plugin_calls_total"]; got != 4 {
		t.Errorf("calls %v, want 4", got)
	}
	if got := metricValue(t, "sluice_plugin_records_total", labels) - before["sluice_plugin_records_total"]; got != 12 {
		t.Errorf("records %v, want 12", got)
	}
	if got := metricValue(t, "sluice_plugin_call_seconds", labels) - before["sluice_plugin_call_seconds"]; got != 4 {
		t.Errorf("observed calls %v, want 4", got)
	}
	for kind, want := range kinds {
		l := map[string]string{"plugin": "metrics-probe", "kind": kind}
		if got := metricValue(t, "sluice_plugin_errors_total", l) - before[kind]; got != want {
			t.Errorf("errors{kind=%s} %v, want %d", kind, got, int(want))
		}
	}
}
