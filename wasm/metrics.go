package wasm

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
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
			calls: register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_calls_total", Help: "Plugin calls (one per batch).",
			}, labels)),
			records: register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_records_total", Help: "Records passed to plugins.",
			}, labels)),
			errors: register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_plugin_errors_total", Help: "Failed or refused plugin calls by kind.",
			}, append(labels, "kind"))),
			seconds: register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    "sluice_plugin_call_seconds",
				Help:    "Time per plugin call (one batch).",
				Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
			}, labels)),
			logDropped: register(prometheus.NewCounterVec(prometheus.CounterOpts{
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

// register registers c, reusing an identical collector registered before
// (another registry in the same process, e.g. tests).
func register[C prometheus.Collector](c C) C {
	if err := prometheus.DefaultRegisterer.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
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
