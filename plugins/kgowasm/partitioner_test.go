package kgowasm

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/wasm/wasmtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// assemble turns a WAT file into a module in a temporary directory.
func assemble(t testing.TB, src string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "p.wasm")
	if err := wasmtest.WAT(src, out); err != nil {
		if testing.Short() && errors.Is(err, wasmtest.ErrNotRecorded) {
			t.Skip("-short without wat2wasm: this WAT source has no recording")
		}
		t.Fatal(err)
	}
	return out
}

// assembleText assembles WAT source text.
func assembleText(t testing.TB, wat string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "m.wat")
	if err := os.WriteFile(src, []byte(wat), 0o644); err != nil {
		t.Fatal(err)
	}
	return assemble(t, src)
}

func TestPartitionsLikeThePlugin(t *testing.T) {
	p, err := Open(assemble(t, filepath.Join("..", "..", "examples", "plugins", "wat-partitioner", "partitioner.wat")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tp := p.ForTopic("t")
	if !tp.RequiresConsistency(&kgo.Record{}) {
		t.Fatal("a plugin partitioner must require consistency")
	}
	for _, key := range []string{"a", "user-1", "user-2", "another key"} {
		h := fnv.New32a()
		h.Write([]byte(key))
		if got, want := tp.Partition(&kgo.Record{Key: []byte(key)}, 5), int(h.Sum32()%5); got != want {
			t.Fatalf("key %q: partition %d, want %d", key, got, want)
		}
	}
	if got := tp.Partition(&kgo.Record{Value: []byte("no key")}, 5); got != 0 {
		t.Fatalf("no key: partition %d, want 0", got)
	}
}

// answerModule is a partitioner whose sluice_partition runs body, which
// must leave an i64 (ptr<<32|len) on the stack; memory at 0 is free.
func answerModule(body string) string {
	return `(module
  (import "sluice" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "no partition for you")
  (data (i32.const 600) "p")
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param $ptr i32) (param $len i32) (result i64)
    ` + body + `))`
}

// Each failure fails that record (-1 from Partition, an *Error from
// PartitionRecord saying why) and the partitioner keeps working.
func TestFailuresFailTheRecord(t *testing.T) {
	cases := []struct {
		name, body string
		opts       Options
		want       string
		refused    bool
	}{
		{name: "trap", body: `unreachable`, want: "unreachable"},
		{name: "deadline", body: `(loop $l (br $l)) (i64.const 0)`, opts: Options{CallTimeout: 50 * time.Millisecond}, want: "call exceeded 50ms and was stopped"},
		{name: "refusal", refused: true, want: "no partition for you", body: `
    (i32.store (i32.const 0) (i32.const 2))
    (i32.store (i32.const 4) (i32.const 20))
    (memory.copy (i32.const 8) (i32.const 512) (i32.const 20))
    (i64.const 28)`},
		{name: "out of range", want: "partition 7 out of range [0, 3)", body: `
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 1))
    (i32.store (i32.const 8) (i32.const 7))
    (i64.const 12)`},
		{name: "lost input", want: "answer for 0 records, the batch had 1", body: `
    (i64.store (i32.const 0) (i64.const 0))
    (i64.const 8)`},
		{name: "outside memory", want: "outside guest memory", body: `(i64.const 0x0100000000000010)`},
		{name: "memory limit", opts: Options{MemoryLimitPages: 32}, want: "memory limit of 2 MiB reached", body: `
    (loop $g (br_if $g (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.Logger = quiet
			p, err := Open(assembleText(t, answerModule(c.body)), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i := 0; i < 3; i++ { // each time on a fresh or reused instance
				if got := p.ForTopic("t").Partition(&kgo.Record{Key: []byte("k")}, 3); got != -1 {
					t.Fatalf("partition %d, want -1", got)
				}
				_, err = p.PartitionRecord("t", &kgo.Record{Key: []byte("k")}, 3)
				var e *Error
				if !errors.As(err, &e) || e.Refused != c.refused || !strings.Contains(err.Error(), c.want) || e.Topic != "t" {
					t.Fatalf("error %v (refused %v), want one containing %q (refused %v)", err, e != nil && e.Refused, c.want, c.refused)
				}
			}
		})
	}
}

// The plugin reads Options.Config through sluice.config_get: this one
// answers the first byte of key "p" minus '0' as the partition.
func TestConfigReachesThePlugin(t *testing.T) {
	path := assembleText(t, answerModule(`
    (local $n i32)
    (local.set $n (call $config_get (i32.const 600) (i32.const 1) (i32.const 700) (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 0))
    (i32.store (i32.const 4) (i32.const 1))
    (i32.store (i32.const 8)
      (if (result i32) (i32.eq (local.get $n) (i32.const 1))
        (then (i32.sub (i32.load8_u (i32.const 700)) (i32.const 48)))
        (else (i32.const 0))))
    (i64.const 12)`))
	for cfg, want := range map[string]int{"": 0, "2": 2, "4": 4} {
		opts := Options{Logger: quiet}
		if cfg != "" {
			opts.Config = map[string]string{"p": cfg}
		}
		p, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.PartitionRecord("t", &kgo.Record{}, 5)
		p.Close()
		if err != nil || got != want {
			t.Fatalf("config p=%q: partition %d, %v; want %d", cfg, got, err, want)
		}
	}
}

// sluice.yield, which the instrumented module's checks call, answers the
// fuel to run on, as the broker's does (this module imports it itself and
// answers 1 for a positive answer).
func TestYieldImport(t *testing.T) {
	p, err := Open(assembleText(t, `(module
  (import "sluice" "yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 0)) (i32.store (i32.const 4) (i32.const 1))
    (i32.store (i32.const 8) (i32.gt_s (call $yield) (i32.const 0)))
    (i64.const 12)))`), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, err := p.PartitionRecord("t", &kgo.Record{}, 3); got != 1 || err != nil {
		t.Fatalf("partition %d, %v; want 1", got, err)
	}
}

// Modules the broker would refuse at deploy are refused at Open.
func TestOpenRefusesBrokenModules(t *testing.T) {
	cases := map[string]struct{ wat, want string }{
		"command": {`(module (memory (export "memory") 1) (func (export "_start"))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_partition") (param i32 i32) (result i64) (i64.const 0)))`, "-buildmode=c-shared"},
		"transform": {`(module (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_transform") (param i32 i32) (result i64) (i64.const 0)))`, `missing export "sluice_partition"`},
		"import": {`(module (import "env" "now" (func)) (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_partition") (param i32 i32) (result i64) (i64.const 0)))`, `module[env] not instantiated`},
		"signature": {`(module (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_partition") (param i32 i32) (result i32) (i32.const 0)))`, `export "sluice_partition" has the wrong signature`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Open(assembleText(t, c.wat), Options{Logger: quiet})
			if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open: %v, want ErrInvalidModule containing %q", err, c.want)
			}
		})
	}
}

// Concurrent calls (kgo partitions from any producing goroutine) each run
// on an instance of their own and agree with the plugin.
func TestConcurrentCalls(t *testing.T) {
	p, err := Open(assemble(t, filepath.Join("..", "..", "examples", "plugins", "wat-partitioner", "partitioner.wat")), Options{PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			tp := p.ForTopic("t")
			for i := 0; i < 300; i++ {
				key := fmt.Sprintf("g%d-k%d", g, i)
				h := fnv.New32a()
				h.Write([]byte(key))
				if got, want := tp.Partition(&kgo.Record{Key: []byte(key)}, 7), int(h.Sum32()%7); got != want {
					errs <- fmt.Errorf("key %s: partition %d, want %d", key, got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// runaway never finishes: key "l" spins in a loop, any other recurses 2^60
// calls without a loop (only the checks at function entries stop it).
const runaway = `(module
  (memory (export "memory") 1)
  (func $r (param $n i32)
    (if (local.get $n)
      (then
        (call $r (i32.sub (local.get $n) (i32.const 1)))
        (call $r (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param $ptr i32) (param i32) (result i64)
    ;; the first key byte of the record picks: 'l' loop, else recurse
    (if (i32.eq (i32.load8_u offset=24 (i32.add (local.get $ptr) (i32.const 33))) (i32.const 0x6c))
      (then (loop $spin (br $spin))))
    (call $r (i32.const 60))
    (i64.const 0)))`

// A runaway plugin, WAT or Go (gospin, whose every function is a dispatch
// loop), in a loop or in recursion without loops, is stopped within its
// CallTimeout (the instrumented guest checks the deadline when it yields;
// no goroutine watches it), and the partitioner goes on working.
func TestRunawayLoopAndRecursionStopped(t *testing.T) {
	paths := map[string]string{"wat": assembleText(t, runaway)}
	if !testing.Short() {
		root, err := wasmtest.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		paths["gospin"] = filepath.Join(t.TempDir(), "gospin.wasm")
		if err := wasmtest.GoPlugin(filepath.Join(root, "wasm", "testdata", "gospin"), paths["gospin"]); err != nil {
			t.Fatal(err)
		}
	}
	const timeout = 200 * time.Millisecond
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			p, err := Open(path, Options{CallTimeout: timeout, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for _, key := range []string{"loop", "recurse"} {
				start := time.Now()
				_, err := p.PartitionRecord("t", &kgo.Record{Key: []byte(key)}, 3)
				took := time.Since(start)
				var e *Error
				if !errors.As(err, &e) || e.Refused || e.Detail != "call exceeded 200ms and was stopped" {
					t.Fatalf("%s: err = %v, want a timeout", key, err)
				}
				// Stopped at the first yield past the deadline (about a
				// millisecond), but took also counts starting an instance
				// (a Go runtime for gospin, after the first call's was
				// discarded), which a loaded machine stretches past a
				// second: the upper bound only tells a stopped call from
				// one that runs for ever.
				t.Logf("%s: stopped after %v", key, took)
				if took < timeout || took > 30*time.Second {
					t.Fatalf("%s: stopped after %v, want over %v", key, took, timeout)
				}
			}
			if name == "gospin" {
				if part, err := p.PartitionRecord("t", &kgo.Record{Key: []byte("fine")}, 3); part != 0 || err != nil {
					t.Fatalf("a normal call after the timeouts: %d, %v", part, err)
				}
			}
		})
	}
}
