// Package bridge is Sluice's HTTP/SSE bridge: browsers, beacons and log
// shippers publish over HTTP, web pages read live streams over
// Server-Sent Events. It is a Kafka client of the broker it runs in.
//
// STUB: the bridge helper replaces this; New/Routes/Close are the contract
// core/node uses.
package bridge

import (
	"log/slog"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
)

// Config configures the bridge.
type Config struct {
	// Brokers are Kafka bootstrap addresses (the broker's own listener).
	Brokers []string
	// Hooks gives topics' partitioner (and filter) plugins; may be nil.
	Hooks  hooks.Registry
	Logger *slog.Logger
}

// Bridge serves the HTTP API.
type Bridge struct{}

// New creates the bridge (connecting its Kafka clients lazily).
func New(cfg Config) (*Bridge, error) { return &Bridge{}, nil }

// Routes mounts the bridge's endpoints on r.
func (b *Bridge) Routes(r chi.Router) {}

// Close stops streams and flushes producers.
func (b *Bridge) Close() error { return nil }
