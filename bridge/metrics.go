package bridge

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicemq/sluice/internal/promreg"
)

// Bridge metrics are process-wide and registered once on
// prometheus.DefaultRegisterer (what /metrics serves), like the plugin
// metrics: several bridges in one process (tests, embedded nodes) add up.
type bridgeMetrics struct {
	requests *prometheus.CounterVec   // route, method, status
	seconds  *prometheus.HistogramVec // route
	received *prometheus.CounterVec   // route: request body bytes as sent (compressed)
	sent     *prometheus.CounterVec   // route: response body bytes
	records  *prometheus.CounterVec   // topic: records produced and acknowledged
	rejected *prometheus.CounterVec   // reason
}

var (
	metricsOnce sync.Once
	stats       bridgeMetrics

	// live bridges, for the SSE clients gauge.
	liveMu  sync.Mutex
	liveSet = map[*Bridge]struct{}{}
)

func sharedMetrics() *bridgeMetrics {
	metricsOnce.Do(func() {
		stats = bridgeMetrics{
			requests: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_bridge_requests_total", Help: "HTTP bridge requests by route pattern, method and status.",
			}, []string{"route", "method", "status"})),
			seconds: promreg.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "sluice_bridge_request_seconds", Help: "HTTP bridge request latency by route (event streams: their lifetime).",
				Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
			}, []string{"route"})),
			received: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_bridge_received_bytes_total", Help: "Request body bytes read, as sent (before decompression).",
			}, []string{"route"})),
			sent: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_bridge_sent_bytes_total", Help: "Response body bytes written.",
			}, []string{"route"})),
			records: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_bridge_records_produced_total", Help: "Records produced through the bridge and acknowledged by the broker.",
			}, []string{"topic"})),
			rejected: promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "sluice_bridge_rejected_total", Help: "Refused requests by reason.",
			}, []string{"reason"})),
		}
		promreg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sluice_bridge_sse_clients", Help: "Open Server-Sent Events streams.",
		}, func() float64 {
			liveMu.Lock()
			defer liveMu.Unlock()
			n := 0
			for b := range liveSet {
				n += len(b.streams)
			}
			return float64(n)
		}))
	})
	return &stats
}

// Reasons a request is refused (sluice_bridge_rejected_total, and the
// rejected-request log line).
const (
	reasonUnauthenticated = "unauthenticated"
	reasonForbidden       = "forbidden"
	reasonOrigin          = "origin"
	reasonRouteNotFound   = "route_not_found"
	reasonTopicNotFound   = "topic_not_found"
	reasonNotFound        = "not_found"
	reasonMethod          = "method_not_allowed"
	reasonTimeout         = "timeout"
	reasonTooLarge        = "too_large"
	reasonMediaType       = "unsupported_media_type"
	reasonInvalid         = "invalid"
	reasonRateLimited     = "rate_limited"
	reasonOverloaded      = "overloaded"
	reasonUnavailable     = "unavailable"
	reasonInternal        = "internal"
	reasonOther           = "other"
)

// reasonFor names why a request was refused: from the v2 error code when
// the handler answered one, else from the status.
func reasonFor(status, code int) string {
	switch code {
	case codeOriginForbidden:
		return reasonOrigin
	case codeNotFound:
		return reasonRouteNotFound
	case codeTopicNotFound, codePartitionNotFound:
		return reasonTopicNotFound
	case codeRateLimited:
		return reasonRateLimited
	case codeProducerOverloaded, codeTooManyStreams:
		return reasonOverloaded
	}
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusNotAcceptable, http.StatusConflict:
		return reasonInvalid
	case http.StatusUnauthorized:
		return reasonUnauthenticated
	case http.StatusForbidden:
		return reasonForbidden
	case http.StatusNotFound:
		return reasonNotFound
	case http.StatusMethodNotAllowed:
		return reasonMethod
	case http.StatusRequestTimeout:
		return reasonTimeout
	case http.StatusRequestEntityTooLarge:
		return reasonTooLarge
	case http.StatusUnsupportedMediaType:
		return reasonMediaType
	case http.StatusTooManyRequests:
		return reasonOverloaded
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return reasonUnavailable
	case http.StatusInternalServerError:
		return reasonInternal
	}
	return reasonOther
}

// recorder captures what a handler answered. It forwards Flush (event
// streams) and exposes the wrapped writer to http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status int
	code   int // v2 error code, set by writeError
	bytes  int64
}

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// noteErrorCode records the v2 error code answered on w, if w is a
// recorder (or wraps one).
func noteErrorCode(w http.ResponseWriter, code int) {
	for {
		switch x := w.(type) {
		case *recorder:
			x.code = code
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return
		}
	}
}

// countingBody counts request body bytes as read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// instrumented is one request's recorder and body counter, allocated
// together.
type instrumented struct {
	rec  recorder
	body countingBody
}

// routeSeries are the metric children of one route, method and status,
// looked up once (a label lookup hashes every label value per call).
type routeSeries struct {
	requests prometheus.Counter
	seconds  prometheus.Observer
	received prometheus.Counter
	sent     prometheus.Counter
}

type seriesKey struct {
	route, method string
	status        int
}

// routeSeriesCache maps seriesKey to *routeSeries. Its keys are bounded
// like the labels: route patterns, standard methods and status codes.
var routeSeriesCache sync.Map

func (m *bridgeMetrics) series(route, method string, status int) *routeSeries {
	k := seriesKey{route, method, status}
	if s, ok := routeSeriesCache.Load(k); ok {
		return s.(*routeSeries)
	}
	s := &routeSeries{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		seconds:  m.seconds.WithLabelValues(route),
		received: m.received.WithLabelValues(route),
		sent:     m.sent.WithLabelValues(route),
	}
	v, _ := routeSeriesCache.LoadOrStore(k, s)
	return v.(*routeSeries)
}

// instrument records every bridge request's metrics and logs refused ones
// (rate-limited). Unmatched routes count as route "unmatched".
func (b *Bridge) instrument(next http.Handler) http.Handler {
	return b.instrumentRoute(next, "")
}

// instrumentRoute is instrument with a fixed route label (the beacon fast
// path, which serves its route without chi); "" takes it from chi.
func (b *Bridge) instrumentRoute(next http.Handler, fixedRoute string) http.Handler {
	m := sharedMetrics()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		in := &instrumented{rec: recorder{ResponseWriter: w}}
		rec := &in.rec
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &in.body
			body.ReadCloser = r.Body
			r.Body = body
		}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		route := "unmatched"
		if fixedRoute != "" {
			route = fixedRoute
		} else if rc := chi.RouteContext(r.Context()); rc != nil && rec.code != codeNotFound && rec.code != codeMethodNotAllowed {
			if p := rc.RoutePattern(); p != "" {
				route = p
			}
		}
		s := m.series(route, methodLabel(r.Method), status)
		s.requests.Inc()
		s.seconds.Observe(time.Since(start).Seconds())
		if body != nil {
			s.received.Add(float64(body.n))
		}
		s.sent.Add(float64(rec.bytes))
		if status >= 400 {
			reason := reasonFor(status, rec.code)
			m.rejected.WithLabelValues(reason).Inc()
			b.rejectLog.log(b.log, r, b.clientIP(r), route, status, reason)
		}
	})
}

// methodLabel bounds the method label to the standard methods (a client
// may send any token as its method).
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// rejectLogger logs refused requests at most once per interval; the next
// line says how many were not logged in between, so a flood (a
// misconfigured shipper, a scan) costs one line per interval.
type rejectLogger struct {
	interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (l *rejectLogger) log(log *slog.Logger, r *http.Request, ip, route string, status int, reason string) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	log.Warn("bridge request refused", "reason", reason, "status", status, "method", r.Method,
		"path", r.URL.Path, "route", route, "client_ip", ip, "origin", r.Header.Get("Origin"),
		"user_agent", r.UserAgent(), "suppressed_since_last", suppressed)
}
