package plugins

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/internal/promreg"
)

// Metrics of this package, beside the per-plugin call metrics of package
// wasm (sluice_plugin_calls_total and friends, labelled by plugin name; a
// shadow version appears there as "NAME@shadow"): time per record by
// role, shadow comparisons and rollbacks. Registered once on
// prometheus.DefaultRegisterer.
type opsMetrics struct {
	nsPerRecord      *prometheus.HistogramVec
	shadowCalls      *prometheus.CounterVec
	shadowRecords    *prometheus.CounterVec
	shadowErrors     *prometheus.CounterVec
	shadowDivCalls   *prometheus.CounterVec
	shadowDivRecords *prometheus.CounterVec
	shadowSlower     *prometheus.CounterVec
	rollbacks        *prometheus.CounterVec
}

var (
	opsOnce sync.Once
	ops     opsMetrics
)

func metrics() *opsMetrics {
	opsOnce.Do(func() {
		plugin := []string{"plugin"}
		counter := func(name, help string) *prometheus.CounterVec {
			return promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, plugin))
		}
		ops = opsMetrics{
			nsPerRecord: promreg.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sluice_plugin_ns_per_record",
				Help:    "Nanoseconds per record of each plugin call (role live or shadow).",
				Buckets: prometheus.ExponentialBuckets(25, 2, 16), // 25 ns .. 0.8 ms
			}, []string{"plugin", "role"})),
			shadowCalls:      counter("sluice_plugin_shadow_calls_total", "Calls of a plugin's shadow version (one per live call)."),
			shadowRecords:    counter("sluice_plugin_shadow_records_total", "Records passed to a plugin's shadow version."),
			shadowErrors:     counter("sluice_plugin_shadow_errors_total", "Failed calls of a plugin's shadow version."),
			shadowDivCalls:   counter("sluice_plugin_shadow_divergent_calls_total", "Calls whose shadow answer differed from the live one."),
			shadowDivRecords: counter("sluice_plugin_shadow_divergent_records_total", "Records whose shadow answer differed from the live one."),
			shadowSlower:     counter("sluice_plugin_shadow_slower_calls_total", "Calls where the shadow version took longer than the live one."),
			rollbacks:        counter("sluice_plugin_rollbacks_total", "Rollbacks of a plugin to its previous version applied by this broker."),
		}
	})
	return &ops
}

func rollbacksTotal() *prometheus.CounterVec { return metrics().rollbacks }

// forgetShadow drops a plugin's shadow series (the shadow ended).
func (m *opsMetrics) forgetShadow(plugin string) {
	l := prometheus.Labels{"plugin": plugin}
	for _, c := range []*prometheus.CounterVec{m.shadowCalls, m.shadowRecords, m.shadowErrors, m.shadowDivCalls, m.shadowDivRecords, m.shadowSlower} {
		c.DeletePartialMatch(l)
	}
	m.nsPerRecord.DeletePartialMatch(prometheus.Labels{"plugin": plugin, "role": "shadow"})
}
