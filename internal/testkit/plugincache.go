package testkit

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
	"github.com/sluicemq/sluice/wasm"
)

// The plugin runtime keeps wazero's compilation cache in
// <data dir>/plugins/cache. A fresh data directory per test means every
// test compiles the same example modules again: a few seconds each on a
// loaded machine, most of the plugins and bridge packages' test time. The
// kit points that directory of each in-process node it starts at the
// repository's shared test cache (package wasmcache: kept between runs,
// SLUICE_TESTKIT_PLUGIN_CACHE=off turns it off).
func sharedPluginCache() string { return wasmcache.Dir() }

// linkPluginCache makes dataDir/plugins/cache a link to the shared cache
// (if there is one and the directory does not exist yet).
func linkPluginCache(dataDir string) {
	shared := sharedPluginCache()
	if shared == "" {
		return
	}
	plugins := filepath.Join(dataDir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return
	}
	_ = os.Symlink(shared, filepath.Join(plugins, "cache"))
}

// LinkPluginCache points dataDir's plugin compilation cache at the shared
// one, for tests that open a plugin registry on a data directory of their
// own rather than through a kit node.
func LinkPluginCache(dataDir string) { linkPluginCache(dataDir) }

var processCache struct {
	once  sync.Once
	cache *wasm.SharedCache
}

// SharedWasmCache is one wasm.SharedCache on the shared cache directory
// for every in-process node of this test binary (nil when the shared
// cache is off). Through the directory alone each node still read and
// deserialized, and instrumented, every module it loaded: a module
// deployed to ten nodes cost ten loads. With one cache object it costs
// one per process. It is never closed: nodes come and go until the
// binary exits.
func SharedWasmCache() *wasm.SharedCache {
	processCache.once.Do(func() {
		dir := sharedPluginCache()
		if dir == "" {
			return
		}
		if c, err := wasm.NewSharedCache(dir); err == nil {
			processCache.cache = c
		}
	})
	return processCache.cache
}
