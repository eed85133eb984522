package wasm

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/internal/promreg"
)

// metrics are per plugin and hook, registered once on
// prometheus.DefaultRegisterer. Time per record is
// rate(sluice_plugin_call_seconds_sum) / rate(sluice_plugin_records_total).
type metrics struct {
	calls   *prometheus.CounterVec
	records *prometheus.CounterVec
	errors  *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	// logDropped counts plugin output lines the log rate limit dropped.
	logDropped *prometheus.CounterVec
}

var (
	metricsOnce sync.Once
	pluginStats metrics
)

func sharedMetrics() *metrics {
	metricsOnce.Do(func() {
		labels := []string{"plugin", "hook"}
		pluginStats = metrics{
			calls: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_calls_total", Help: "Plugin calls (one per batch).",
			}, labels)),
			records: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_records_total", Help: "Records passed to plugins.",
			}, labels)),
			errors: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_errors_total", Help: "Failed or refused plugin calls by kind.",
			}, append(labels, "kind"))),
			seconds: promreg.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sluice_plugin_call_seconds",
				Help:    "Time per plugin call (one batch).",
				Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
			}, labels)),
			logDropped: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_log_lines_dropped_total", Help: "Plugin stdout/stderr lines dropped by the log rate limit.",
			}, []string{"plugin"})),
		}
	})
	return &pluginStats
}

// moduleSeries are one module's series, looked up at load rather than per
// call (a label lookup hashes the labels: it costs more than a small batch).
type moduleSeries struct {
	calls, records prometheus.Counter
	seconds        prometheus.Observer
}

func (m *metrics) series(plugin string, hook Hook) moduleSeries {
	return moduleSeries{
		calls:   m.calls.WithLabelValues(plugin, string(hook)),
		records: m.records.WithLabelValues(plugin, string(hook)),
		seconds: m.seconds.WithLabelValues(plugin, string(hook)),
	}
}

// forget drops a removed plugin's series.
func (m *metrics) forget(plugin string) {
	l := prometheus.Labels{"plugin": plugin}
	m.calls.DeletePartialMatch(l)
	m.records.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.seconds.DeletePartialMatch(l)
	m.logDropped.DeletePartialMatch(l)
}
