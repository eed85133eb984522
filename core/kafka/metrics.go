package kafka

import (
	"bytes"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/internal/promreg"
)

// Request and connection metrics (docs/metrics.md). Like the handler
// panics counter they are process-wide on the default registry: several
// servers in one process (tests) add up.
var (
	requestsTotal = promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_requests_total",
		Help: "Kafka requests handled, by API (kafka.network RequestMetrics RequestsPerSec).",
	}, []string{"api"}))
	requestSeconds = promreg.Register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sluice_kafka_request_duration_seconds",
		Help: "Kafka request time from decoded to response written, by API; long-poll fetches and acks=all produces include their wait (RequestMetrics TotalTimeMs).",
		// 100µs to ~26s: a local metadata request up to a long poll.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14),
	}, []string{"api"}))
	requestErrors = promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_request_errors_total",
		Help: "Error codes in Produce and Fetch responses, one per partition (and per request-level code), by API and error name (RequestMetrics ErrorsPerSec).",
	}, []string{"api", "error"}))
	connsOpen = promreg.Register(prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sluice_kafka_connections",
		Help: "Open Kafka client connections by listener (socket-server-metrics connection-count).",
	}, []string{"listener"}))
	connsAccepted = promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_connections_accepted_total",
		Help: "Kafka client connections accepted by listener, those then refused for a connection limit included (connection-creation-total).",
	}, []string{"listener"}))
	connsClosed = promreg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_kafka_connections_closed_total",
		Help: "Kafka client connections closed by listener (connection-close-total).",
	}, []string{"listener"}))
)

// apiObservers caches every served API's children of the request
// metrics, so a request costs no label lookup.
var (
	apiObserversOnce sync.Once
	apiObservers     map[int16]apiObserver
	// followerFetches are replica fetches, apart from consumers' as in
	// Kafka's RequestMetrics (request=FetchFollower): their long polls
	// would otherwise make up most of Fetch's latency.
	followerFetches apiObserver
)

type apiObserver struct {
	name     string
	requests prometheus.Counter
	seconds  prometheus.Observer
}

func observerFor(key int16) (apiObserver, bool) {
	apiObserversOnce.Do(func() {
		apiObservers = make(map[int16]apiObserver, len(apis))
		for k := range apis {
			name := kmsg.NameForKey(k)
			apiObservers[k] = newAPIObserver(name)
		}
		followerFetches = newAPIObserver("FetchFollower")
	})
	o, ok := apiObservers[key]
	return o, ok
}

func newAPIObserver(name string) apiObserver {
	return apiObserver{name: name, requests: requestsTotal.WithLabelValues(name), seconds: requestSeconds.WithLabelValues(name)}
}

// requestObs is what a reply carries for the request metrics.
type requestObs struct {
	start    time.Time // zero: not measured (replies made outside dispatch)
	api      int16
	follower bool // a replica fetch: its bytes are not consumer traffic
}

func newRequestObs(h *header, req kmsg.Request, start time.Time) requestObs {
	f, ok := req.(*kmsg.FetchRequest)
	return requestObs{start: start, api: h.key, follower: ok && f.ReplicaID >= 0}
}

// observe records a finished request: its time, its response's error
// codes (Produce, Fetch) and the record bytes a consumer fetch sent. r
// may be nil (acks=0 produce: no response). Called once the response is
// written, before its chunks are released.
func (c *conn) observe(o requestObs, r *reply) {
	if o.start.IsZero() {
		return
	}
	ob, ok := observerFor(o.api)
	if !ok {
		return
	}
	if o.follower {
		ob = followerFetches
	}
	ob.requests.Inc()
	ob.seconds.Observe(time.Since(o.start).Seconds())
	if r == nil {
		return
	}
	switch resp := r.resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				countError(ob.name, resp.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.FetchResponse:
		countError(ob.name, resp.ErrorCode)
		for i := range resp.Topics {
			t := &resp.Topics[i]
			for j := range t.Partitions {
				sp := &t.Partitions[j]
				countError(ob.name, sp.ErrorCode)
				if o.follower {
					continue
				}
				if n := recordBytes(sp.RecordBatches, r.chunks); n > 0 {
					if p, err := c.s.b.Partition(t.Topic, sp.Partition); err == nil {
						p.CountOut(n)
					}
				}
			}
		}
	}
}

func countError(api string, code int16) {
	if code == 0 {
		return
	}
	name := strconv.Itoa(int(code))
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		name = e.Message
	}
	requestErrors.WithLabelValues(api, name).Inc()
}

// recordBytes is the size of a fetched partition's records as sent: a
// sentinel's chunk (sendfile) or the inline bytes.
func recordBytes(recs []byte, chunks []storage.Chunk) int {
	if len(recs) == sentinelLen && bytes.HasPrefix(recs, sentinelMarker) {
		if i := int(binary.BigEndian.Uint32(recs[12:])); i < len(chunks) {
			return chunks[i].Size
		}
		return 0
	}
	return len(recs)
}

// listenerName is the Kafka listener's security protocol, the name a
// Sluice listener goes by.
func (s *Server) listenerName() string {
	switch {
	case s.cfg.TLS != nil && s.cfg.SASL != nil:
		return "SASL_SSL"
	case s.cfg.TLS != nil:
		return "SSL"
	case s.cfg.SASL != nil:
		return "SASL_PLAINTEXT"
	}
	return "PLAINTEXT"
}

// countConns wraps the client listener so that its connections are
// counted as accepted, open and closed. In-process connections (the
// bridge's and the plugin registry's) are not client connections and are
// not counted.
func (s *Server) countConns(ln net.Listener) net.Listener {
	name := s.listenerName()
	return &countingListener{Listener: ln, open: connsOpen.WithLabelValues(name),
		accepted: connsAccepted.WithLabelValues(name), closed: connsClosed.WithLabelValues(name)}
}

type countingListener struct {
	net.Listener
	open             prometheus.Gauge
	accepted, closed prometheus.Counter
}

func (l *countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Inc()
	l.open.Inc()
	cc := &countedConn{Conn: nc, l: l}
	if sc, ok := nc.(syscall.Conn); ok {
		// sendfile needs the socket (sendfile.go).
		return &countedSyscallConn{countedConn: cc, sc: sc}, nil
	}
	return cc, nil
}

// countedConn counts its first Close.
type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.open.Dec()
		c.l.closed.Inc()
	})
	return c.Conn.Close()
}

type countedSyscallConn struct {
	*countedConn
	sc syscall.Conn
}

func (c *countedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }
