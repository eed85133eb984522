package wasm

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func newTestEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	if cfg.CacheDir == "" && cfg.Shared == nil {
		cfg.CacheDir = t.TempDir()
	}
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestModuleLimitsRefuseBeforeCompiling: the 200,000-function module of
// the issue (5.5 s and 2.2 GB to compile) is refused by counting, in
// milliseconds and without growing the heap; so is an oversized module.
func TestModuleLimitsRefuseBeforeCompiling(t *testing.T) {
	mod := manyFunctions(200_000)
	shape, err := scanModule(mod)
	if err != nil || shape.functions != 200_002 || shape.largestBodyBytes != 5 {
		t.Fatalf("scan: %+v, %v", shape, err)
	}
	t.Logf("module: %d bytes, %d functions", len(mod), shape.functions)
	e := newTestEngine(t, Config{})
	before := heapInUse()
	start := time.Now()
	_, err = e.Load(context.Background(), Spec{Name: "many", Hook: HookTransform, Wasm: mod})
	took := time.Since(start)
	grew := int64(heapInUse()) - int64(before)
	if !errors.Is(err, ErrModuleLimit) || !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "200002 functions, over the limit of 50000") {
		t.Fatalf("err = %v, want the function limit", err)
	}
	if took > time.Second || grew > 16<<20 {
		t.Fatalf("refusal took %v and grew the heap by %d bytes", took, grew)
	}
	t.Logf("refused in %v, heap +%d KiB", took, grew>>10)

	small := newTestEngine(t, Config{MaxModuleBytes: 1 << 20})
	_, err = small.Load(context.Background(), Spec{Name: "big", Hook: HookTransform, Wasm: mod})
	if !errors.Is(err, ErrModuleLimit) || !strings.Contains(err.Error(), "over the limit of 1048576") {
		t.Fatalf("err = %v, want the size limit", err)
	}
	// A function count the section's bytes cannot hold is a malformed
	// module, not a big one.
	lie := manyFunctions(10)
	i := strings.Index(string(lie), "\x03\x0d\x0c\x01\x02") // function section: 13 bytes, 12 functions
	if i < 0 {
		t.Fatal("function section not found")
	}
	lie = append(append(append([]byte(nil), lie[:i+2]...), 0xFF, 0xFF, 0xFF, 0x0F), lie[i+3:]...)
	lie[i+1] += 3
	if _, err := scanModule(lie); err == nil || !strings.Contains(err.Error(), "exceeds the section") {
		t.Fatalf("lying count: %v", err)
	}
}

// TestCompileChildBoundsARunawayCompile: with the function limit lifted,
// the same module compiled in the child process under a 64 MiB data limit
// dies there (the Go runtime's out-of-memory) and the load fails cleanly;
// the broker's heap does not grow. A real plugin deploys through the child
// (default limit) and serves.
func TestCompileChildBoundsARunawayCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a 200,000-function module")
	}
	dir := t.TempDir()
	e := newTestEngine(t, Config{CacheDir: dir, MaxFunctions: 1 << 20, CompileCommand: compileChildCommand(), CompileMemoryBytes: 64 << 20})
	before := heapInUse()
	start := time.Now()
	_, err := e.Load(context.Background(), Spec{Name: "many", Hook: HookTransform, Wasm: manyFunctions(200_000)})
	took := time.Since(start)
	grew := int64(heapInUse()) - int64(before)
	t.Logf("child compile: %v after %v, heap +%d KiB", err, took, grew>>10)
	if !errors.Is(err, ErrModuleLimit) || !strings.Contains(err.Error(), "within the 64 MiB") {
		t.Fatalf("err = %v, want the compile memory limit", err)
	}
	if grew > 64<<20 {
		t.Fatalf("the broker's heap grew by %d bytes", grew)
	}

	code, err := os.ReadFile(pluginPaths["mask-pii"])
	if err != nil {
		t.Fatal(err)
	}
	e = newTestEngine(t, Config{CacheDir: dir, CompileCommand: compileChildCommand()})
	m, err := e.Load(context.Background(), Spec{Name: "mask", Hook: HookTransform, Wasm: code})
	if err != nil {
		t.Fatalf("load through the child: %v", err)
	}
	defer m.Close()
	out, _, err := m.Transform(context.Background(), "t", 0, logBatch(3))
	if err != nil || len(out) != 3 || !strings.Contains(string(out[2].Value), "user=***@example.com") {
		t.Fatalf("transform: %v %v", out, err)
	}
}

// TestCompileTimeout: a compile slower than CompileTimeout fails the load
// with ErrModuleLimit, in the child (killed) and in-process (abandoned).
func TestCompileTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a 100,000-function module")
	}
	mod := manyFunctions(100_000)
	for _, child := range []bool{true, false} {
		cfg := Config{MaxFunctions: 1 << 20, CompileTimeout: 50 * time.Millisecond}
		if child {
			cfg.CompileCommand = compileChildCommand()
		}
		e := newTestEngine(t, cfg)
		_, err := e.Load(context.Background(), Spec{Name: "slow", Hook: HookTransform, Wasm: mod})
		if !errors.Is(err, ErrModuleLimit) || !strings.Contains(err.Error(), "compile exceeded 50ms") {
			t.Fatalf("child=%v: err = %v, want the compile timeout", child, err)
		}
	}
}

// TestClosedModulesReleaseCompiledCode: loading and closing a module
// repeatedly (deploy, remove, deploy) leaves no compiled code behind.
func TestClosedModulesReleaseCompiledCode(t *testing.T) {
	e := newTestEngine(t, Config{})
	load := func(i int) {
		// A distinct module each round (another function count), as new
		// plugin versions are.
		m, err := e.Load(context.Background(), Spec{Name: "v", Hook: HookTransform, Wasm: manyFunctions(20_000 + i)})
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	load(0)
	base := heapInUse()
	for i := 1; i <= 5; i++ {
		load(i)
	}
	grew := int64(heapInUse()) - int64(base)
	t.Logf("heap after 5 more load/close rounds: %+d KiB", grew>>10)
	if grew > 8<<20 {
		t.Fatalf("heap grew by %d bytes over 5 load/close rounds: compiled code is kept", grew)
	}
}
