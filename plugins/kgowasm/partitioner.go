// Package kgowasm runs a Sluice partitioner plugin inside a franz-go
// producer: a kgo.Partitioner backed by the same .wasm file the broker
// runs, so a client picks exactly the partitions the broker would (for
// records it publishes over HTTP or that transforms emit).
//
//	p, err := kgowasm.Open("pageview-partitioner.wasm", kgowasm.Options{})
//	...
//	defer p.Close()
//	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(p))
package kgowasm

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
)

// Partitioner is a kgo.Partitioner running a partitioner plugin.
type Partitioner struct {
	engine *wasm.Engine
	mod    *wasm.Module
	logger *slog.Logger
}

var _ kgo.Partitioner = (*Partitioner)(nil)

// Options tune the client-side runtime; zero values take wasm's defaults.
type Options struct {
	// Config is the plugin configuration, as given to the broker's deploy.
	Config map[string]string
	// Runtime limits and the logger for plugin output (CacheDir "" keeps
	// compiled code in memory).
	Runtime wasm.Config
}

// Open loads the partitioner plugin in the .wasm file at path.
func Open(path string, opts Options) (*Partitioner, error) {
	code, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kgowasm: %w", err)
	}
	return New(code, opts)
}

// New loads a partitioner plugin from its bytes.
func New(code []byte, opts Options) (*Partitioner, error) {
	engine, err := wasm.NewEngine(opts.Runtime)
	if err != nil {
		return nil, err
	}
	mod, err := engine.Load(context.Background(), wasm.Spec{Name: "client-partitioner", Hook: wasm.HookPartitioner, Config: opts.Config, Wasm: code})
	if err != nil {
		engine.Close()
		return nil, fmt.Errorf("kgowasm: %w", err)
	}
	logger := opts.Runtime.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Partitioner{engine: engine, mod: mod, logger: logger}, nil
}

// Close releases the module; close the kgo client first.
func (p *Partitioner) Close() error {
	err := p.mod.Close()
	if cerr := p.engine.Close(); err == nil {
		err = cerr
	}
	return err
}

// ForTopic implements kgo.Partitioner.
func (p *Partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitioner{p: p, topic: topic}
}

type topicPartitioner struct {
	p     *Partitioner
	topic string
}

// RequiresConsistency is true: a key must always map to the partition the
// plugin picks, even while that partition is unavailable.
func (*topicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

// Partition runs the plugin on one record. A plugin failure is logged and
// answered with -1, which makes kgo fail that record rather than send it
// to a partition the broker would not have chosen.
func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	parts, err := t.p.mod.Partition(context.Background(), t.topic, []hooks.Record{Record(r)}, int32(n))
	if err != nil {
		t.p.logger.Error("kgowasm: partitioner failed", "topic", t.topic, "err", err)
		return -1
	}
	return int(parts[0])
}

// Record converts a kgo record to what the plugin sees (as the broker
// would present it: offset -1, timestamp in milliseconds).
func Record(r *kgo.Record) hooks.Record {
	rec := hooks.Record{Key: r.Key, Value: r.Value, Offset: -1}
	if !r.Timestamp.IsZero() {
		rec.Timestamp = r.Timestamp.UnixMilli()
	}
	if len(r.Headers) > 0 {
		rec.Headers = make([]hooks.Header, len(r.Headers))
		for i, h := range r.Headers {
			rec.Headers[i] = hooks.Header{Key: h.Key, Value: h.Value}
		}
	}
	return rec
}
