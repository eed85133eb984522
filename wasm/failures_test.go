package wasm

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
)

func keyed(keys ...string) []hooks.Record {
	recs := make([]hooks.Record, len(keys))
	for i, k := range keys {
		recs[i] = hooks.Record{Key: []byte(k), Value: []byte("v" + k), Offset: -1}
	}
	return recs
}

// healthy checks the module still serves a normal batch.
func healthy(t *testing.T, m *Module) {
	t.Helper()
	in := keyed("fine", "also fine")
	out, _, err := m.Transform(context.Background(), "t", 0, in)
	if err != nil {
		t.Fatalf("next call failed: %v", err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("next call: got %s", dump(out))
	}
}

func TestFailureModes(t *testing.T) {
	m := load(t, "misbehave", HookTransform, nil, Config{Timeout: 300 * time.Millisecond, MemoryLimitPages: 64})
	for _, tc := range []struct {
		name, key string
		kind      error
		detail    string
	}{
		{"infinite loop", "loop", ErrTimeout, "call exceeded 300ms and was stopped"},
		{"trap", "trap", ErrTrap, "unreachable"},
		{"memory blow-up", "oom", ErrOutOfMemory, "memory limit of 4 MiB reached"},
		{"unknown status", "garbage", ErrBadOutput, "unknown status 7"},
		{"answer outside memory", "x-out-of-bounds", ErrBadOutput, "lies outside guest memory"},
		// "Everything dropped" is only believed from a plugin that saw the
		// whole batch: one that lost its input fails the call.
		{"answer for a lost input", "zero", ErrBadOutput, "answers for 0 input records, the batch has 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.Transform(context.Background(), "t", 0, keyed(tc.key, "b"))
			var ce *CallError
			if !errors.As(err, &ce) || !errors.Is(err, hooks.ErrPluginFailed) || !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want a %v plugin failure", err, tc.kind)
			}
			if ce.Plugin != "misbehave" || ce.Hook != HookTransform || !strings.Contains(ce.Detail, tc.detail) {
				t.Fatalf("error %+v, want detail containing %q", ce, tc.detail)
			}
			healthy(t, m)
		})
	}
}

func TestRefusals(t *testing.T) {
	m := load(t, "misbehave", HookTransform, nil, Config{})
	_, _, err := m.Transform(context.Background(), "t", 0, keyed("reject"))
	if !errors.Is(err, hooks.ErrRejected) || errors.Is(err, hooks.ErrPluginFailed) || err.Error() != `plugin "misbehave": refused by wat` {
		t.Fatalf("reject: %v", err)
	}
	_, _, err = m.Transform(context.Background(), "t", 0, keyed("policy"))
	if !errors.Is(err, hooks.ErrPolicy) || err.Error() != `plugin "misbehave": refused by wat` {
		t.Fatalf("policy: %v", err)
	}
	healthy(t, m)
}

func TestMissingExportsRefusedAtLoad(t *testing.T) {
	e, err := NewEngine(Config{Shared: shared})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	code := mustRead(t, pluginPaths["wat-partitioner"])
	_, err = e.Load(context.Background(), Spec{Name: "p", Hook: HookTransform, Wasm: code})
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), `missing export "sluice_transform"`) {
		t.Fatalf("err = %v", err)
	}
	_, err = e.Load(context.Background(), Spec{Name: "p", Hook: HookPartitioner, Wasm: []byte("not wasm")})
	if !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("garbage module: err = %v", err)
	}
}

func TestPluginOutputGoesToLog(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	m := load(t, "misbehave", HookTransform, nil, Config{Logger: logger})
	if _, _, err := m.Transform(context.Background(), "t", 0, keyed("write")); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `level=INFO msg="plugin output" plugin=misbehave stream=stdout line="hello from wat"`; !strings.Contains(got, want) {
		t.Fatalf("log %q lacks %q", got, want)
	}
}

func TestCloseWaitsForInFlightCalls(t *testing.T) {
	m := load(t, "misbehave", HookTransform, nil, Config{Timeout: 300 * time.Millisecond})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, _, err := m.Transform(context.Background(), "t", 0, keyed("loop"))
		done <- err
	}()
	<-started
	// Wait until the call holds the module (every call holds mu shared,
	// Close takes it exclusively); a fixed sleep lost this race under load
	// and Close then ran before the call, which answered ErrModuleClosed
	// only after Close returned.
	for deadline := time.Now().Add(30 * time.Second); m.mu.TryLock(); {
		m.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the call never started")
		}
		time.Sleep(time.Millisecond)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// The call was in flight when Close began, so Close waited for it: it
	// ran to its own deadline (ErrTimeout), not cut off by the closing
	// runtime and not refused as closed. (Its goroutine reports a moment
	// after the call released the module, hence the wait.)
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("in-flight call: %v, want ErrTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight call never returned")
	}
	if _, _, err := m.Transform(context.Background(), "t", 0, keyed("a")); !errors.Is(err, ErrModuleClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestConcurrentCallsUseSeparateInstances(t *testing.T) {
	m := load(t, "tenant-filter", HookFilter, nil, Config{PoolSize: 2})
	in := []hooks.Record{
		{Value: []byte("a"), Offset: 0, Headers: []hooks.Header{{Key: "tenant", Value: []byte("acme")}}},
		{Value: []byte("b"), Offset: 1, Headers: []hooks.Header{{Key: "tenant", Value: []byte("globex")}}},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		client := []string{"acme", "globex"}[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				out, err := m.Filter(context.Background(), "t", 0, hooks.Reader{Principal: "User:" + client}, in)
				if err != nil || len(out) != 1 || string(out[0].Headers[0].Value) != client {
					errs <- errors.New(client + ": wrong answer")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runaway is a partitioner that never finishes: "loop" spins in a loop,
// "recurse" makes 2^60 calls without any loop (only the checks at function
// entries can stop it).
const runaway = `(module
  (memory (export "memory") 1)
  (func $r (param $n i32)
    (if (local.get $n)
      (then
        (call $r (i32.sub (local.get $n) (i32.const 1)))
        (call $r (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param $ptr i32) (param i32) (result i64)
    ;; the first key byte of the first record picks: 'l' loop, else recurse
    (if (i32.eq (i32.load8_u offset=24 (i32.add (local.get $ptr) (i32.const 33))) (i32.const 0x6c))
      (then (loop $spin (br $spin))))
    (call $r (i32.const 60))
    (i64.const 0)))`

// runawayModules loads the WAT runaway module and gospin, its Go SDK
// twin (Go compiles every function to a dispatch loop: the checks land
// differently).
func runawayModules(t *testing.T, cfg Config) []*Module {
	return []*Module{loadWAT(t, "runaway", HookPartitioner, runaway, cfg), load(t, "gospin", HookPartitioner, nil, cfg)}
}

func TestRunawayLoopAndRecursionTimeOut(t *testing.T) {
	// patient are the same modules with a deadline no loaded machine
	// reaches: the normal calls and the caller's cancel run on them, so a
	// 200 ms deadline cannot overtake either (the cancel fired 50 ms in
	// used to lose to the deadline at 200 ms when the timer ran late).
	patient := runawayModules(t, Config{Timeout: time.Minute})
	for i, m := range runawayModules(t, Config{Timeout: 200 * time.Millisecond}) {
		t.Run(m.Name(), func(t *testing.T) { runawayTimesOut(t, m, patient[i]) })
	}
}

func runawayTimesOut(t *testing.T, m, patient *Module) {
	if m.Name() == "gospin" {
		if parts, err := patient.Partition(context.Background(), "t", keyed("fine"), 2); err != nil || parts[0] != 0 {
			t.Fatalf("a normal call: %v %v", parts, err)
		}
	}
	for _, key := range []string{"loop", "recurse"} {
		start := time.Now()
		_, err := m.Partition(context.Background(), "t", keyed(key), 2)
		var ce *CallError
		if !errors.As(err, &ce) || !errors.Is(err, ErrTimeout) || ce.Detail != "call exceeded 200ms and was stopped" {
			t.Fatalf("%s: err = %v, want a timeout", key, err)
		}
		// Only a bound: a call that is not stopped runs for ever. It
		// includes starting an instance (a Go runtime for gospin), which
		// a loaded machine stretches to seconds.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("%s: stopped after %v", key, d)
		}
	}
	// A caller that gives up stops the call too. On the patient module
	// the cancel is the only thing that can end the call, wherever it
	// lands: before the call (checked after taking an instance) or in the
	// guest's loop. Not in gospin's _initialize: the normal call above
	// left an idle instance (the WAT module has no start code).
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := patient.Partition(ctx, "t", keyed("loop"), 2)
	var ce *CallError
	if !errors.As(err, &ce) || !errors.Is(err, ErrTimeout) || ce.Detail != "call canceled by the caller" {
		t.Fatalf("canceled: err = %v", err)
	}
}

// A spinning plugin must not stall the Go runtime: compiled guest code
// cannot be preempted, so a collection's stop-the-world waits until the
// guest returns to Go. With deadline checks that never leave the guest
// (a global set by a timer) this collection waited for ever: the timer
// could not run while the world was stopping.
func TestSpinningPluginDoesNotStallGC(t *testing.T) {
	// The deadline is out of reach: the caller ends each call by
	// canceling it once the collection is measured, so a slow machine
	// cannot end the call before that.
	for _, m := range runawayModules(t, Config{Timeout: time.Minute}) {
		t.Run(m.Name(), func(t *testing.T) { spinningDoesNotStallGC(t, m) })
	}
}

func spinningDoesNotStallGC(t *testing.T, m *Module) {
	for _, key := range []string{"loop", "recurse"} {
		if m.Name() == "gospin" {
			// An idle instance, so the guest is in its loop and not
			// starting a Go runtime when the collection runs.
			if _, err := m.Partition(context.Background(), "t", keyed("fine"), 2); err != nil {
				t.Fatalf("a normal call: %v", err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := m.Partition(ctx, "t", keyed(key), 2)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // let the guest get spinning
		start := time.Now()
		runtime.GC()
		took := time.Since(start)
		select {
		case err := <-done:
			cancel()
			t.Fatalf("%s: the call ended (%v) before the collection was measured", key, err)
		default:
		}
		cancel()
		// Without yields the collection waits for the call to end, which
		// only the cancel above (or the minute's deadline) does: the call
		// still running when runtime.GC returned is the point. The bound
		// leaves room for a loaded machine (400 ms were seen with a
		// heavily loaded 2-core box).
		t.Logf("%s: runtime.GC took %v while the plugin spun", key, took)
		if took > 10*time.Second {
			t.Fatalf("%s: runtime.GC took %v while a plugin spun", key, took)
		}
		var ce *CallError
		if err := <-done; !errors.As(err, &ce) || !errors.Is(err, ErrTimeout) || ce.Detail != "call canceled by the caller" {
			t.Fatalf("%s: err = %v, want the call canceled", key, err)
		}
	}
}
