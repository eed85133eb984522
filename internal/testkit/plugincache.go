package testkit

import (
	"os"
	"path/filepath"
	"sync"
)

// The plugin runtime keeps wazero's compilation cache in
// <data dir>/plugins/cache. A fresh data directory per test means every
// test compiles the same example modules again: a few seconds each on a
// loaded machine, most of the plugins and bridge packages' test time. The
// kit points that directory of each in-process node it starts at one
// cache shared by the test binary (and kept between runs, like the go
// build cache). wazero keys entries by module hash, wazero version and
// platform, and writes them by rename, so sharing is safe; it changes
// nothing but compile time. SLUICE_TESTKIT_PLUGIN_CACHE=off turns it off
// (each node compiles into its own directory again); any other value is
// the directory to use.
const pluginCacheEnv = "SLUICE_TESTKIT_PLUGIN_CACHE"

var sharedCache struct {
	once sync.Once
	dir  string
}

func sharedPluginCache() string {
	sharedCache.once.Do(func() {
		dir := os.Getenv(pluginCacheEnv)
		switch dir {
		case "off":
			return
		case "":
			base, err := os.UserCacheDir()
			if err != nil {
				base = os.TempDir()
			}
			dir = filepath.Join(base, "sluice-testkit", "wazero")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return // no shared cache: each node compiles on its own
		}
		sharedCache.dir = dir
	})
	return sharedCache.dir
}

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
