package wasm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/needs"
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
// fuel global must get the next index and the loop must still stop.
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

func loadWAT(t *testing.T, name string, hook Hook, wat string, cfg Config) *Module {
	t.Helper()
	cfg.Shared = shared
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(context.Background(), Spec{Name: name, Hook: hook, Wasm: assemble(t, wat)})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		e.Close()
	})
	return m
}

func TestDeadlineStopsLoopInModuleWithGlobals(t *testing.T) {
	m := loadWAT(t, "spin", HookPartitioner, spinWithGlobals, Config{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := m.Partition(context.Background(), "t", keyed("a"), 2)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

// Adding the yield import moves every defined function up one index: a
// module using imports, a start function, a table with an element
// segment, call_indirect, ref.func in a global and direct calls must still
// compute the same thing.
const renumbered = `(module
  (import "sluice" "config_get" (func $cfg (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $one $two)
  (global $started (mut i32) (i32.const 0))
  (global $ref funcref (ref.func $two))
  (start $init)
  (func $init (global.set $started (i32.const 1)))
  (func $one (result i32) (i32.const 1))
  (func $two (result i32) (i32.const 2))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 1))
    ;; 1 (start ran) + 2 (table slot 1) + 1 ($one) + 0 (no config "k": -1 + 1)
    (i32.store (i32.const 8)
      (i32.add (i32.add (global.get $started) (call_indirect (result i32) (i32.const 1)))
               (i32.add (call $one) (i32.add (call $cfg (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 1)))))
    (i64.const 12)))`

func TestRewriteKeepsFunctionReferences(t *testing.T) {
	m := loadWAT(t, "renumbered", HookPartitioner, renumbered, Config{})
	parts, err := m.Partition(context.Background(), "t", keyed("a"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if parts[0] != 4 {
		t.Fatalf("partition %d, want 4", parts[0])
	}
}

// The name section is renumbered with the functions: a trap names the
// function it happened in.
func TestRewriteKeepsFunctionNames(t *testing.T) {
	wat2wasm := needs.Wat2wasm(t) // --debug-names: not in the recordings
	dir := t.TempDir()
	src := filepath.Join(dir, "m.wat")
	os.WriteFile(src, []byte(`(module
  (memory (export "memory") 1)
  (func $first (result i32) (i32.const 1))
  (func $boom (unreachable))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64) (call $boom) (i64.const 0)))`), 0o644)
	out, err := exec.Command(wat2wasm, "--debug-names", src, "-o", filepath.Join(dir, "m.wasm")).CombinedOutput()
	if err != nil {
		t.Fatalf("wat2wasm: %v: %s", err, out)
	}
	e, err := NewEngine(Config{Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	m, err := e.Load(context.Background(), Spec{Name: "names", Hook: HookPartitioner, Wasm: mustRead(t, filepath.Join(dir, "m.wasm"))})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Partition(context.Background(), "t", keyed("a"), 2)
	if !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "boom") || strings.Contains(err.Error(), "first") {
		t.Fatalf("err = %v, want a trap in boom", err)
	}
}

// Guest code must not reach the fuel global: in the module as deployed
// its index is out of range, and the rewrite refuses it rather than make
// it valid.
func TestModuleTouchingTheFuelGlobalIsRefused(t *testing.T) {
	code := assemble(t, `(module
  (memory (export "memory") 1)
  (global $g (mut i32) (i32.const 0))
  (func (export "f") (global.set $g (i32.const 1))))`)
	// Point global.set 0 at index 1, the index the fuel global will get.
	i := bytes.Index(code, []byte{0x41, 0x01, 0x24, 0x00})
	if i < 0 {
		t.Fatal("global.set not found")
	}
	code[i+3] = 0x01
	if _, err := addYieldChecks(code); err == nil || !strings.Contains(err.Error(), "global 1 out of range") {
		t.Fatalf("err = %v", err)
	}
}

// appendU32 and appendName build module bytes in tests.
func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
