// Package console is Sluice's web console: a few static pages (assets/,
// embedded in the binary, plain JavaScript with no build step) and the JSON
// API under /console/api/ that they call. It shows the cluster, topics,
// messages, consumer groups and plugins, and makes the usual changes
// (create/delete topics, alter configs, add partitions, reset a group's
// offsets; plugins through the existing admin API).
//
// The API reads and changes the cluster through the Kafka protocol with a
// franz-go admin client (kadm) on the node's in-process connection, so it
// sees what any Kafka tool sees, cluster-wide, with the broker's own
// validation and error codes; the cluster-wide rates are sampled the same
// way (rates.go). Only this broker's replica sizes come from the LocalLogs
// interface, and its bytes-out counter from Config.BytesOut.
//
// Who may use it is decided by the admin API's guard (core/auth/httpauth):
// the node mounts the console wherever it mounts the admin API and wraps
// the API in the same middleware, so reads need Describe and changes Alter
// on the Cluster from the one authorizer. See docs/console.md.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed assets
var assets embed.FS

// Replica is one partition replica hosted by this broker, as its log
// stands now.
type Replica struct {
	Topic     string
	Partition int32
	Leader    bool // this broker leads the partition
	// Broker hosts this replica (the rates count a partition's growth
	// only between samples of the same leader).
	Broker   int32
	Size     int64
	Segments int
	LogStart int64
	LogEnd   int64
}

// LocalLogs lists the replicas this broker hosts (sizes on disk and log
// growth, which the Kafka protocol Sluice speaks does not report).
type LocalLogs interface {
	Replicas() []Replica
}

// Config configures the console.
type Config struct {
	// Kafka are the options of the console's Kafka client (seed brokers,
	// dialer, credentials): the node gives its in-process connection.
	Kafka []kgo.Opt
	// Logs reports this broker's replicas; nil: sizes unknown. (Rates
	// are the cluster's, read over the Kafka protocol: rates.go.)
	Logs LocalLogs
	// BytesOut, if set, reads a cumulative count of bytes this broker has
	// sent to fetching clients (a Prometheus counter, say); the overview
	// then shows bytes out per second. nil: not shown.
	BytesOut func() (total float64, ok bool)
	// AdminBase is the path of the plugin admin API on the same listener
	// (the pages call it directly); "" hides plugin changes.
	AdminBase string
	// BrokerID is this broker's id (sizes are this broker's replicas').
	BrokerID int32
	// SampleInterval is how often the cluster's log growth is sampled
	// for the rates while the console is in use (default 1 s).
	SampleInterval time.Duration
	// MaxTails bounds concurrent live-tail streams (default 16).
	MaxTails int
	Logger   *slog.Logger
}

// Console serves the pages and the API.
type Console struct {
	cfg    Config
	cl     *kgo.Client
	adm    *kadm.Client
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rates  *sampler
	tails  chan struct{}
	// authorize: SetAuthorizer (authz.go).
	authorize AuthorizeFunc
}

// New starts the console's Kafka client and its rate sampler.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = time.Second
	}
	if cfg.MaxTails <= 0 {
		cfg.MaxTails = 16
	}
	cl, err := kgo.NewClient(cfg.Kafka...)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Console{cfg: cfg, cl: cl, adm: kadm.NewClient(cl), log: cfg.Logger.With("component", "console"),
		ctx: ctx, cancel: cancel, rates: newSampler(), tails: make(chan struct{}, cfg.MaxTails)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.rates.run(ctx, c.sampleCluster, cfg.BytesOut, cfg.SampleInterval, func(err error) {
			c.log.Debug("rates: sample failed", "err", err)
		})
	}()
	return c, nil
}

// EndStreams ends the open live tails (and the sampler): for
// http.Server.RegisterOnShutdown, so a graceful shutdown does not wait for
// streams that never end by themselves.
func (c *Console) EndStreams() { c.cancel() }

// Close stops the sampler, ends live tails and closes the client.
func (c *Console) Close() error {
	c.cancel()
	c.wg.Wait()
	c.cl.Close()
	return nil
}

// Mount serves the pages at /console/ and the API at /console/api/ on r;
// guard (the admin API's middleware) wraps the API. The pages themselves
// are public: they hold no data, and the login form must load.
func (c *Console) Mount(r chi.Router, guard func(http.Handler) http.Handler) {
	sub, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/console/", http.FileServer(http.FS(sub)))
	r.Get("/console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
	r.Get("/console/*", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/console/api/") {
			writeError(w, http.StatusNotFound, "no such console API endpoint: "+r.URL.Path)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		files.ServeHTTP(w, r)
	})
	r.Route("/console/api", func(r chi.Router) {
		if guard != nil {
			r.Use(noBrowserPrompt, guard)
		}
		r.Use(noStore)
		c.routes(r)
	})
}

func (c *Console) routes(r chi.Router) {
	r.Get("/whoami", c.whoami)
	r.Get("/overview", c.overview)
	r.Get("/topics", c.listTopics)
	r.Post("/topics", c.createTopic)
	r.Get("/topics/{topic}", c.describeTopic)
	r.Delete("/topics/{topic}", c.deleteTopic)
	r.Post("/topics/{topic}/configs", c.alterConfigs)
	r.Post("/topics/{topic}/partitions", c.addPartitions)
	r.Get("/topics/{topic}/messages", c.browse)
	r.Get("/topics/{topic}/tail", c.tail)
	r.Get("/groups", c.listGroups)
	r.Get("/groups/{group}", c.describeGroup)
	r.Post("/groups/{group}/reset", c.resetOffsets)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such console API endpoint: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})
}

// noBrowserPrompt drops the guard's Basic challenge from 401 answers, so a
// browser shows the console's login form instead of its own dialog (the
// pages send the credentials themselves).
func noBrowserPrompt(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&challengeFilter{ResponseWriter: w}, r)
	})
}

type challengeFilter struct{ http.ResponseWriter }

func (f *challengeFilter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		h := f.Header()
		var keep []string
		for _, v := range h.Values("WWW-Authenticate") {
			if !strings.HasPrefix(strings.ToLower(v), "basic") {
				keep = append(keep, v)
			}
		}
		h.Del("WWW-Authenticate")
		for _, v := range keep {
			h.Add("WWW-Authenticate", v)
		}
	}
	f.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (live tail
// flushes and deadlines).
func (f *challengeFilter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// ErrorResponse is the body of every error answer (the admin API's shape).
type ErrorResponse struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorResponse{Error: msg})
}

// writeKafkaError answers a failed Kafka request: the Kafka error code
// decides the HTTP status, and its name and description make the message
// (what kafka-topics.sh would print).
func writeKafkaError(w http.ResponseWriter, what string, err error) {
	code := http.StatusBadGateway
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.GroupIDNotFound, kerr.UnknownTopicID:
			code = http.StatusNotFound
		case kerr.TopicAlreadyExists, kerr.NonEmptyGroup, kerr.UnstableOffsetCommit:
			code = http.StatusConflict
		case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed:
			code = http.StatusForbidden
		case kerr.InvalidTopicException, kerr.InvalidPartitions, kerr.InvalidReplicationFactor,
			kerr.InvalidReplicaAssignment, kerr.InvalidConfig, kerr.InvalidRequest, kerr.PolicyViolation,
			kerr.InvalidRecord, kerr.OffsetOutOfRange:
			code = http.StatusBadRequest
		}
		detail := ke.Description
		var d *detailedError
		if errors.As(err, &d) && d.msg != "" {
			detail = d.msg
		}
		writeError(w, code, fmt.Sprintf("%s: %s: %s", what, ke.Message, detail))
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	writeError(w, code, fmt.Sprintf("%s: %v", what, err))
}

// detailedError is a Kafka error code with the broker's error message
// (the response's ErrorMessage field), which says more than the code.
type detailedError struct {
	err error
	msg string
}

func (d *detailedError) Error() string { return d.err.Error() + ": " + d.msg }
func (d *detailedError) Unwrap() error { return d.err }

func withMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	return &detailedError{err: err, msg: msg}
}

// readJSON decodes a bounded JSON request body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

// reqCtx bounds one API call's Kafka requests.
func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 15*time.Second)
}
