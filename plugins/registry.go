// Package plugins keeps the deployed WebAssembly plugins (versioned,
// persisted in the data dir) and binds them to topics' hooks. It
// implements hooks.Registry; package wasm runs the modules.
//
// STUB: the plugins helper replaces this; Open/AdminRoutes/Close and the
// hooks.Registry methods are the contract core/node and core/kafka use.
package plugins

import (
	"log/slog"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
)

// Registry is the set of deployed plugins.
type Registry struct{ hooks.None }

// Open loads deployed plugins from dataDir/plugins.
func Open(dataDir string, logger *slog.Logger) (*Registry, error) { return &Registry{}, nil }

// AdminRoutes mounts the plugin admin API (/admin/plugins...) on r.
func (r *Registry) AdminRoutes(rt chi.Router) {}

// Close releases compiled modules and instances.
func (r *Registry) Close() error { return nil }
