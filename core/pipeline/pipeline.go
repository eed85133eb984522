// Package pipeline is the only server-side caller of plugin hooks. Every
// produce — a Kafka Produce request, a bridge (HTTP) publish, records a
// transform emits — and every fetch of a topic with a filter goes through
// it:
//
//	produce: validate → partition → transform → append → emits (same acks)
//	fetch:   read → filter (once, with the reader's principal)
//
// Topics with no plugin keep the fast path: batches are stored as received
// and fetched with sendfile; the pipeline adds one registry lookup.
//
// Emits go to their partition's leader with the acks and
// min.insync.replicas of the source request: appended here when this
// broker leads the partition, sent through an internal idempotent producer
// otherwise, and the source request is acknowledged only when they are.
// A failed emit fails the source request; nothing is logged and dropped.
//
// Files: produce.go (Kafka batches), emit.go (emits), publish.go (bridge
// records), filter.go (fetch).
package pipeline

import (
	"log/slog"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
)

// Config wires a Pipeline. Broker is required; the rest default.
type Config struct {
	Broker *broker.Broker
	// Hooks gives topics' plugins; nil means none.
	Hooks hooks.Registry
	// RemoteOpts configure the internal kgo producer that reaches
	// partitions other brokers lead (seed brokers, dialer, SASL); nil in
	// single-node mode, where every partition is local.
	RemoteOpts []kgo.Opt
	// InternalTopic says which topics transforms may not emit to (the
	// brokers' own); default: names starting with "__".
	InternalTopic func(string) bool
	Logger        *slog.Logger
}

// Pipeline runs produces and fetches through a topic's hooks.
type Pipeline struct {
	cfg Config
	b   *broker.Broker
	log *slog.Logger

	remoteMu sync.Mutex
	remote   map[int16]*kgo.Client // by acks; remoteMu
	closed   bool                  // remoteMu
}

// New creates a pipeline.
func New(cfg Config) *Pipeline {
	if cfg.Hooks == nil {
		cfg.Hooks = hooks.None{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.InternalTopic == nil {
		cfg.InternalTopic = func(name string) bool { return strings.HasPrefix(name, "__") }
	}
	return &Pipeline{cfg: cfg, b: cfg.Broker, log: cfg.Logger.With("component", "pipeline")}
}

// Hooks is the registry the pipeline calls.
func (p *Pipeline) Hooks() hooks.Registry { return p.cfg.Hooks }

// Close stops the internal producer, if one was started.
func (p *Pipeline) Close() error {
	p.closePublish()
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	p.closed = true
	for _, cl := range p.remote {
		cl.Close()
	}
	p.remote = nil
	return nil
}
