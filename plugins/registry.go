// Package plugins keeps the deployed WebAssembly plugins (versioned,
// persisted in the data dir, reloaded at start) and binds them to topics'
// hooks. It implements hooks.Registry for the broker; package wasm runs
// the modules. The admin HTTP API (admin.go) and `sluice plugin` drive
// deployments; docs/plugin-abi.md documents both.
package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
)

// Registry is the set of deployed plugins.
type Registry struct {
	store  *store
	logger *slog.Logger
	engine *wasm.Engine

	mu     sync.Mutex         // serializes Deploy, Remove and Close
	loaded map[string]*loaded // current version by plugin name; guarded by mu
	closed bool               // guarded by mu
	sync   *syncer            // set by StartSync; guarded by mu
	keep   int                // versions kept per plugin (0: DefaultKeepVersions); guarded by mu
	// topicExists, when set, refuses deploys to missing topics; guarded by mu.
	topicExists func(topic string) bool
	// table is what the broker reads on every produce and fetch: an
	// immutable snapshot swapped whole on each change.
	table atomic.Pointer[table]
}

// loaded is a deployment with its running module, its call statistics
// and its shadow (nil: none). Its earlier versions are in the store's
// state (history.go).
type loaded struct {
	dep    Deployment
	mod    *wasm.Module
	stats  *liveStats
	shadow *shadowVersion
}

var _ hooks.Registry = (*Registry)(nil)

// Open loads the deployed plugins from dataDir/plugins, compiling them
// (with the compilation cache in dataDir/plugins/cache). A deployment that
// no longer loads fails Open rather than leaving its topic unguarded.
func Open(dataDir string, logger *slog.Logger) (*Registry, error) {
	return OpenWith(dataDir, logger, wasm.Config{})
}

// OpenWith is Open with runtime limits (timeouts, memory cap, pool size).
func OpenWith(dataDir string, logger *slog.Logger, cfg wasm.Config) (*Registry, error) {
	if logger == nil {
		logger = slog.Default()
	}
	dir := filepath.Join(dataDir, "plugins")
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	cfg.CacheDir = filepath.Join(dir, "cache")
	cfg.Logger = logger
	engine, err := wasm.NewEngine(cfg)
	if err != nil {
		return nil, err
	}
	r := &Registry{store: st, logger: logger, engine: engine, loaded: map[string]*loaded{}}
	for _, dep := range st.state.Deployments {
		code, err := st.readModule(dep)
		if err == nil {
			var mod *wasm.Module
			mod, err = engine.Load(context.Background(), wasm.Spec{Name: dep.Name, Hook: dep.Hook, Config: dep.Config, Wasm: code})
			if err == nil {
				r.loaded[dep.Name] = &loaded{dep: dep, mod: mod, stats: newLiveStats(dep)}
				logger.Info("plugin loaded", "plugin", dep.Name, "version", dep.Version, "hook", dep.Hook, "topic", dep.Topic)
				continue
			}
		}
		r.Close()
		return nil, fmt.Errorf("plugins: loading %q version %d: %w (remove it from %s to start without it)",
			dep.Name, dep.Version, err, st.statePath())
	}
	r.openExtras()
	r.publish()
	return r, nil
}

// Close releases every module (after their in-flight calls) and the
// compilation cache. Hooks return nil afterwards.
func (r *Registry) Close() error {
	r.StopSync()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.table.Store(&table{})
	var errs []error
	for _, l := range r.loaded {
		errs = append(errs, l.mod.Close())
		if l.shadow != nil {
			errs = append(errs, l.shadow.mod.Close())
		}
	}
	r.loaded = nil
	errs = append(errs, r.engine.Close())
	return errors.Join(errs...)
}

// List returns the current deployments, by name.
func (r *Registry) List() []Deployment {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.store.list()
}

// Get returns the current deployment of name.
func (r *Registry) Get(name string) (Deployment, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.loaded[name]
	if !ok {
		return Deployment{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return l.dep, nil
}

// Partitioner implements hooks.Registry.
func (r *Registry) Partitioner(topic string) hooks.Partitioner {
	if b := r.table.Load().partitioners[topic]; b != nil {
		return b
	}
	return nil
}

// Transform implements hooks.Registry.
func (r *Registry) Transform(topic string) hooks.Transform {
	if b := r.table.Load().transforms[topic]; b != nil {
		return b
	}
	return nil
}

// Filter implements hooks.Registry.
func (r *Registry) Filter(topic string) hooks.Filter {
	if b := r.table.Load().filters[topic]; b != nil {
		return b
	}
	return nil
}

// publish rebuilds the lookup table from r.loaded; call with mu held (or
// before r is shared).
func (r *Registry) publish() {
	t := &table{
		partitioners: map[string]*partitionerBinding{},
		transforms:   map[string]*transformBinding{},
		filters:      map[string]*filterBinding{},
	}
	for _, l := range r.loaded {
		b := binding{reg: r, mod: l.mod, stats: l.stats, shadow: l.shadow}
		switch l.dep.Hook {
		case wasm.HookPartitioner:
			t.partitioners[l.dep.Topic] = &partitionerBinding{b}
		case wasm.HookTransform:
			t.transforms[l.dep.Topic] = &transformBinding{b}
		case wasm.HookFilter:
			t.filters[l.dep.Topic] = &filterBinding{b}
		}
	}
	r.table.Store(t)
}

// current is the module bound now to hook on topic, or nil.
func (r *Registry) current(hook wasm.Hook, topic string) *wasm.Module {
	t := r.table.Load()
	switch hook {
	case wasm.HookPartitioner:
		if b := t.partitioners[topic]; b != nil {
			return b.mod
		}
	case wasm.HookTransform:
		if b := t.transforms[topic]; b != nil {
			return b.mod
		}
	case wasm.HookFilter:
		if b := t.filters[topic]; b != nil {
			return b.mod
		}
	}
	return nil
}

// removeFile deletes a replaced module file, logging (not failing) on error.
func (r *Registry) removeFile(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.logger.Warn("plugins: removing old module file", "path", path, "err", err)
	}
}
