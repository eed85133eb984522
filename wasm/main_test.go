package wasm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// plugin paths by name: the examples plus the test modules in testdata.
var pluginPaths map[string]string

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "plugin-compile" {
		os.Exit(RunCompileChild(os.Args[2:], os.Stdin, os.Stderr))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-wasm-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginPaths, err = wasmtest.BuildExamples(dir)
	if err == nil {
		pluginPaths["misbehave"] = filepath.Join(dir, "misbehave.wasm")
		err = wasmtest.WAT(filepath.Join("testdata", "misbehave.wat"), pluginPaths["misbehave"])
	}
	if err == nil {
		pluginPaths["keyhash"] = filepath.Join(dir, "keyhash.wasm")
		err = wasmtest.GoPlugin(filepath.Join("testdata", "keyhash"), pluginPaths["keyhash"])
	}
	for _, name := range []string{"allocating", "sdkkeep", "sdkwrite", "gospin", "gopanic"} {
		if err == nil {
			pluginPaths[name] = filepath.Join(dir, name+".wasm")
			err = wasmtest.GoPlugin(filepath.Join("testdata", name), pluginPaths[name])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "building test plugins:", err)
		return 1
	}
	cacheDir = wasmcache.Dir()
	if cacheDir == "" {
		cacheDir = filepath.Join(dir, "cache")
	}
	shared, err = NewSharedCache(cacheDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.Close()
	return m.Run()
}

// shared is the engines' cache for load: a module loaded by several
// tests is read from cacheDir (and instrumented) once per run instead of
// once per test.
var shared *SharedCache

// cacheDir is shared by every engine of the test binary (and by the
// repository's other test binaries, between runs too: see package
// wasmcache), so each module compiles once. Tests of the cache itself
// (limits_test.go) use a directory of their own.
var cacheDir string

func load(t testing.TB, name string, hook Hook, config map[string]string, cfg Config) *Module {
	t.Helper()
	code, err := os.ReadFile(pluginPaths[name])
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CacheDir == "" && cfg.Shared == nil {
		cfg.Shared = shared
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(context.Background(), Spec{Name: name, Hook: hook, Config: config, Wasm: code})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() {
		m.Close()
		e.Close()
	})
	return m
}

// compileChildCommand makes this test binary the compile child: TestMain
// runs RunCompileChild when called with "plugin-compile" first, as
// `sluice plugin-compile` does.
func compileChildCommand() []string { return []string{os.Args[0], "plugin-compile"} }
