// Package wasmcache is the wazero compilation cache shared by every test
// binary of the repository (and kept between runs, like the go build
// cache), so a plugin module compiles once per machine rather than once
// per test or per run.
//
// Why its own package: internal/testkit links each in-process node's
// plugin cache here, but the tests of package wasm itself cannot import
// internal/testkit (it imports node, which imports wasm); this leaf
// package fits under both.
//
// Sharing is safe: wazero keys entries by module hash, wazero version,
// platform and compiler settings, and writes them by rename. It changes
// nothing but compile time. SLUICE_TESTKIT_PLUGIN_CACHE=off turns it off;
// any other value is the directory to use.
package wasmcache

import (
	"os"
	"path/filepath"
	"sync"
)

// Env names the variable that moves or turns off the shared cache.
const Env = "SLUICE_TESTKIT_PLUGIN_CACHE"

var shared struct {
	once sync.Once
	dir  string
}

// Dir is the shared cache directory, created on first use; "" when it is
// turned off or cannot be created (callers then use a cache of their own).
func Dir() string {
	shared.once.Do(func() {
		dir := os.Getenv(Env)
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
			return
		}
		shared.dir = dir
	})
	return shared.dir
}
