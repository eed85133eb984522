package kafka

import (
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerPanics counts recovered handler panics by API, on the registry
// /metrics serves.
var handlerPanics = func() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_handler_panics_total",
		Help: "Kafka request handlers that panicked; each closed its connection.",
	}, []string{"api"})
	if err := prometheus.DefaultRegisterer.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			return are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return c
}()

// dispatch runs the request's handler. A panic is recovered, logged with
// the request's API, version and client, and counted: ok is then false
// and the caller closes only this connection, whatever state the handler
// left behind.
func (c *conn) dispatch(h *header, req kmsg.Request) (r *reply, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			name := kmsg.NameForKey(h.key)
			handlerPanics.WithLabelValues(name).Inc()
			c.logger.Error("request handler panicked; closing the connection",
				"api_key", h.key, "api", name, "version", h.version, "client_id", h.clientID,
				"panic", p, "stack", string(debug.Stack()))
			r, ok = nil, false
		}
	}()
	start := time.Now()
	r = apis[h.key].handle(c, h, req)
	if r == nil {
		c.observe(newRequestObs(h, req, start), nil) // no response to wait for
	} else {
		r.obs = newRequestObs(h, req, start)
	}
	return r, true
}
