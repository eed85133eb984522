package plugins_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// pluginPaths: the example plugins plus wasm/testdata/misbehave.wat, built
// once for the test binary.
var pluginPaths map[string]string

func TestMain(m *testing.M) {
	flag.Parse()
	testkit.ShortParallel()
	// No test here is about the size of __consumer_offsets: four
	// partitions instead of 50 spare each node start its files and fsyncs.
	testkit.SetNodeDefaults(testkit.WithSmallOffsetsTopic())
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginPaths, err = wasmtest.BuildExamples(dir)
	if err == nil {
		pluginPaths["misbehave"] = filepath.Join(dir, "misbehave.wasm")
		err = wasmtest.WAT(filepath.Join("..", "wasm", "testdata", "misbehave.wat"), pluginPaths["misbehave"])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "building test plugins:", err)
		return 1
	}
	return m.Run()
}

func module(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(pluginPaths[name])
	if err != nil {
		t.Fatal(err)
	}
	return b
}
