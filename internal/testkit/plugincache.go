package testkit

import (
	"os"
	"path/filepath"

	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
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
