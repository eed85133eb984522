package wasm

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func loadIn(t *testing.T, e *Engine, name, plugin string) *Module {
	t.Helper()
	code, err := os.ReadFile(pluginPaths[plugin])
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(context.Background(), Spec{Name: name, Hook: HookTransform, Wasm: code})
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMemoryBudgetBoundsGrowth: an instance growing its memory stops at
// the engine-wide budget (well below its own 4 MiB cap) with an
// out-of-memory failure naming the budget; its memory goes back to the
// budget and the plugin keeps serving.
func TestMemoryBudgetBoundsGrowth(t *testing.T) {
	e := newTestEngine(t, Config{Shared: shared, MemoryLimitPages: 64, MemoryBudgetBytes: 1 << 20})
	m := loadIn(t, e, "grower", "misbehave")
	if got := e.BudgetUsed(); got != 65536 {
		t.Fatalf("budget used by one idle instance: %d, want 65536", got)
	}
	_, _, err := m.Transform(context.Background(), "t", 0, keyed("oom", "b"))
	if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "plugin memory budget of 1 MiB is used up") {
		t.Fatalf("err = %v, want out of memory at the budget", err)
	}
	if got := e.BudgetUsed(); got != 0 {
		t.Fatalf("budget used after the failed (and only) instance closed: %d, want 0", got)
	}
	healthy(t, m)
}

// TestMemoryBudgetWaitsThenFails: with the budget held by a busy instance
// a call needing another waits BudgetWait, then fails with ErrBudget; once
// the instance is back, calls succeed.
func TestMemoryBudgetWaitsThenFails(t *testing.T) {
	e := newTestEngine(t, Config{Shared: shared, Timeout: time.Second, MemoryBudgetBytes: 65536, BudgetWait: 100 * time.Millisecond})
	m := loadIn(t, e, "busy", "misbehave")
	busy := make(chan error, 1)
	go func() {
		_, _, err := m.Transform(context.Background(), "t", 0, keyed("loop"))
		busy <- err
	}()
	time.Sleep(200 * time.Millisecond) // the loop holds the only instance
	start := time.Now()
	_, _, err := m.Transform(context.Background(), "t", 0, keyed("fine"))
	waited := time.Since(start)
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "plugin memory budget exhausted: 64 KiB of 64 KiB in use by plugin instances") {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
	if waited < 100*time.Millisecond || waited > 700*time.Millisecond {
		t.Fatalf("failed after %v, want about the 100ms budget wait", waited)
	}
	if err := <-busy; !errors.Is(err, ErrTimeout) {
		t.Fatalf("looping call: %v", err)
	}
	healthy(t, m)
}

// TestMemoryBudgetShedsIdleInstances: idle instances of one plugin do not
// starve another: when the budget is full of them they are closed.
func TestMemoryBudgetShedsIdleInstances(t *testing.T) {
	e := newTestEngine(t, Config{Shared: shared, MemoryBudgetBytes: 65536, BudgetWait: 50 * time.Millisecond})
	a := loadIn(t, e, "a", "misbehave") // its idle instance fills the budget
	b := loadIn(t, e, "b", "misbehave") // sheds a's
	healthy(t, b)
	healthy(t, a) // sheds b's
	healthy(t, b)
	if got := e.BudgetUsed(); got != 65536 {
		t.Fatalf("budget used: %d, want one instance's 65536", got)
	}
}

// TestPluginLogRateLimit: a plugin printing on every call is logged at the
// configured rate; the rest is counted and reported.
func TestPluginLogRateLimit(t *testing.T) {
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	e := newTestEngine(t, Config{Shared: shared, Logger: logger, LogLinesPerSecond: 0.001, LogBurst: 3})
	m := loadIn(t, e, "chatty", "misbehave")
	dropped := func() float64 {
		return metricValue(t, "sluice_plugin_log_lines_dropped_total", map[string]string{"plugin": "chatty"})
	}
	before := dropped()
	for range 20 {
		if _, _, err := m.Transform(context.Background(), "t", 0, keyed("write")); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), `line="hello from wat"`); n != 3 {
		t.Fatalf("%d lines logged, want the burst of 3:\n%s", n, buf.String())
	}
	if got := dropped() - before; got != 17 {
		t.Fatalf("dropped counter +%v, want 17", got)
	}
	// Once the bucket refills the next line carries the count.
	m.logLimit.mu.Lock()
	m.logLimit.tokens = 1
	m.logLimit.mu.Unlock()
	if _, _, err := m.Transform(context.Background(), "t", 0, keyed("write")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "dropped_lines_before=17") {
		t.Fatalf("no dropped count in the log:\n%s", buf.String())
	}
}
