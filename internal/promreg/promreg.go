// Package promreg registers Prometheus collectors on the default registry
// once per process: packages whose metrics are created by several
// instances (brokers, bridges and plugin engines started in one test
// process) share the first registration instead of failing.
package promreg

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c, or returns the identical collector registered
// before.
func Register[C prometheus.Collector](c C) C {
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
