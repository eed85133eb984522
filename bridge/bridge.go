// Package bridge is Sluice's HTTP/SSE bridge: browsers, beacons and log
// shippers publish over HTTP, web pages read live streams over
// Server-Sent Events. It publishes through the broker's produce pipeline
// (core/pipeline: in-process for the partitions this broker leads, the
// same partitioner, transform and acknowledgement as a Kafka produce) and
// consumes with kgo over the broker's in-process connection.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Media types the bridge speaks.
const (
	contentTypeV2JSON   = "application/vnd.kafka.v2+json"
	contentTypeJSONV2   = "application/vnd.kafka.json.v2+json"
	contentTypeBinaryV2 = "application/vnd.kafka.binary.v2+json"
	contentTypeJSON     = "application/json"
	contentTypeNDJSON   = "application/x-ndjson"
)

// Bridge serves the HTTP API.
type Bridge struct {
	cfg     Config
	log     *slog.Logger
	prod    *producer
	cl      *kgo.Client // reads only: metadata, consumers, event streams
	adm     *kadm.Client
	auth    *authenticator
	limiter *rateLimiter

	// ctx ends every stream and background loop at Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	streams   chan struct{} // SSE slots: a send takes one
	ipStreams *perKeyLimit  // SSE streams per client IP
	hubs      *hubRegistry  // shared topic readers of direct SSE streams
	consumers *consumerRegistry
	rejectLog rejectLogger
	dedupe    *dedupeSet // tracker event ids (/collect)
	root      *chi.Mux   // the router Routes mounted on, if a *chi.Mux
}

// New creates the bridge. Its Kafka clients connect lazily, so New does not
// need the broker to be up yet.
func New(cfg Config) (*Bridge, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.normalized().withDefaults()
	if len(cfg.Brokers) == 0 {
		return nil, errors.Join(ErrConfig, errors.New("bridge: no brokers"))
	}
	if cfg.Pipeline == nil {
		// Every produce goes through the broker's pipeline (node
		// passes it): the one place records are placed and plugins run.
		return nil, errors.Join(ErrConfig, errors.New("bridge: no pipeline"))
	}
	if cfg.HashClientIP && cfg.IPHashSalt == "" {
		salt := make([]byte, 16)
		rand.Read(salt)
		cfg.IPHashSalt = hex.EncodeToString(salt)
	}
	// The bridge's own client only reads (metadata, consumers, event
	// streams); produces go through the pipeline.
	cl, err := kgo.NewClient(append(kafkaOpts(cfg), kgo.ClientID("sluice-bridge"))...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	adm := kadm.NewClient(cl)
	b := &Bridge{
		cfg: cfg,
		log: cfg.Logger.With("component", "bridge"),
		prod: &producer{pl: cfg.Pipeline, timeout: time.Duration(cfg.ProduceTimeout), topics: newTopicCache(adm),
			maxInflight: int64(cfg.ProduceBufferBytes)},
		cl:      cl,
		adm:     adm,
		auth:    newAuthenticator(cfg, (&Bridge{cfg: cfg}).clientIP),
		limiter: newRateLimiter(cfg.RateLimitPerSecond, cfg.RateLimitBurst),
		ctx:     ctx,
		cancel:  cancel,
		streams: make(chan struct{}, cfg.MaxSSEClients),
	}
	b.consumers = newConsumerRegistry(b)
	b.hubs = newHubRegistry(b)
	b.ipStreams = newPerKeyLimit(cfg.MaxSSEStreamsPerIP)
	b.rejectLog.interval = time.Second
	b.dedupe = newDedupeSet(time.Duration(cfg.DedupeWindow), cfg.DedupeMaxEvents)
	sharedMetrics()
	liveMu.Lock()
	liveSet[b] = struct{}{}
	liveMu.Unlock()
	if b.auth.open {
		b.log.Warn("no bridge tokens configured: the HTTP API is open to anyone who can reach it")
	}
	b.wg.Add(1)
	go b.housekeeping()
	return b, nil
}

// ConfigureServer applies the bridge's server-level limits (header, whole
// request, response and keep-alive idle timeouts: slowloris and idle
// connection guards; event streams lift them per stream) to the HTTP
// server that serves its routes and ends event streams when that server
// shuts down, so Shutdown does not wait on them.
//
// When the bridge's routes are s's whole handler (Routes was given the
// root router, with no middleware of its own), beacons are served
// without the router (beacon_fast.go).
func (b *Bridge) ConfigureServer(s *http.Server) {
	if b.root != nil && s.Handler == http.Handler(b.root) && len(b.root.Middlewares()) == 0 {
		s.Handler = b.beaconFastPath(s.Handler)
	}
	s.ReadHeaderTimeout = time.Duration(b.cfg.ReadHeaderTimeout)
	s.ReadTimeout = time.Duration(b.cfg.ReadTimeout)
	s.WriteTimeout = time.Duration(b.cfg.WriteTimeout)
	s.IdleTimeout = time.Duration(b.cfg.IdleTimeout)
	s.RegisterOnShutdown(b.cancel)
}

// Routes mounts the bridge's endpoints on r. Its middleware is scoped to a
// group, so other routes on r (the plugin admin API) are left alone.
//
// It also sets r's NotFound and MethodNotAllowed handlers (v2 error bodies
// with CORS headers), so call it on the router that serves the bridge.
func (b *Bridge) Routes(r chi.Router) {
	if m, ok := r.(*chi.Mux); ok {
		b.root = m
	}
	b.routeErrors(r)
	r.Group(func(r chi.Router) {
		r.Use(b.instrument, b.cors)
		// Preflights are answered by cors; this route makes chi hand every
		// OPTIONS request to the group's middleware instead of a 405.
		r.Options("/*", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
		r.Get("/healthz", b.healthz)
		r.Get("/readyz", b.readyz)

		r.Get("/topics", b.listTopics)
		r.Get("/topics/{topic}", b.describeTopic)
		r.Get("/topics/{topic}/events", b.serveEvents)

		// Writes: enforce_origins applies.
		w := r.With(b.originGuard)
		w.Post("/topics/{topic}", b.produceV2)
		w.Post("/topics/{topic}/partitions/{partition}", b.produceV2)
		w.Post("/topics/{topic}/ndjson", b.produceLines)
		w.Post("/topics/{topic}/lines", b.produceRaw)
		w.Group(func(r chi.Router) {
			r.Use(b.rateLimited)
			r.Post("/beacon/{topic}", b.beacon)
			r.Get("/pixel/{file}", b.pixel)
			r.Post("/collect/{topic}", b.collect)
		})
		r.Get("/sluice.js", b.serveTracker)
		r.Head("/sluice.js", b.serveTracker)

		// Elasticsearch-compatible surface for log shippers.
		r.Get("/", b.esInfo)
		r.Head("/", b.esInfo)
		r.Get("/_cat/health", b.esHealth)
		w.Post("/_bulk", b.esBulk)
		w.Put("/_bulk", b.esBulk)
		w.Post("/{index}/_bulk", b.esBulk)
		w.Put("/{index}/_bulk", b.esBulk)

		b.consumerRoutes(r)

		if b.cfg.ExamplesDir != "" {
			fs := http.StripPrefix("/examples/", http.FileServer(http.Dir(b.cfg.ExamplesDir)))
			r.Get("/examples/*", fs.ServeHTTP)
		}
	})
}

// Close ends streams and consumer instances, then flushes and closes the
// producer.
func (b *Bridge) Close() error {
	liveMu.Lock()
	delete(liveSet, b)
	liveMu.Unlock()
	b.cancel()
	b.consumers.closeAll()
	b.wg.Wait()
	// Produces went through the pipeline and were answered; the client
	// only reads.
	b.cl.Close()
	return nil
}

// housekeeping drops idle rate-limit buckets and expired consumer instances.
func (b *Bridge) housekeeping() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-t.C:
			b.limiter.sweep(now)
			b.consumers.expire(now)
		}
	}
}

func (b *Bridge) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, contentTypeJSON, map[string]string{"status": "ok"})
}

// readyz answers 200 once the broker answers metadata.
func (b *Bridge) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := b.adm.BrokerMetadata(ctx); err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, contentTypeJSON,
			map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, contentTypeJSON, map[string]string{"status": "ready"})
}
