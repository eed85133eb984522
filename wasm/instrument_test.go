package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// assemble builds a WAT source into a module.
func assemble(t *testing.T, wat string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(src, []byte(wat), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := wasmtest.WAT(src, filepath.Join(dir, "m.wasm")); err != nil {
		t.Fatal(err)
	}
	return mustRead(t, filepath.Join(dir, "m.wasm"))
}

// A module with globals of its own and a loop that only reads them: the
// interrupt global must get the next index and still stop the loop.
const spinWithGlobals = `(module
  (memory (export "memory") 1)
  (global $a (mut i32) (i32.const 1))
  (global $b i64 (i64.const 2))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64)
    (loop $spin
      (global.set $a (i32.add (global.get $a) (i32.const 1)))
      (br_if $spin (i32.ne (global.get $a) (i32.const 0))))
    (i64.const 0))
  (export "counter" (global $a)))`

func TestInterruptStopsLoopInModuleWithGlobals(t *testing.T) {
	e, err := NewEngine(Config{CacheDir: cacheDir, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, err := e.Load(context.Background(), Spec{Name: "spin", Hook: HookPartitioner, Wasm: assemble(t, spinWithGlobals)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	start := time.Now()
	_, err = m.Partition(context.Background(), "t", keyed("a"), 2)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

func TestModuleExportingTheInterruptNameIsRefused(t *testing.T) {
	code := assemble(t, `(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (export "sluice_interrupt" (global $g)))`)
	if _, err := addInterruptCheck(code); err == nil || !strings.Contains(err.Error(), `already exports "sluice_interrupt"`) {
		t.Fatalf("err = %v", err)
	}
}
