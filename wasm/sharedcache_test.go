package wasm

import (
	"bytes"
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
)

// TestSharedCacheAcrossEngines: engines on one SharedCache (each closed
// after its module, as a test's node is) load the same module with the
// same behaviour; the instrumented bytes are computed once and equal
// addYieldChecks'; the module stays compiled (pinned) after every engine
// closed; closing an engine leaves the shared cache usable, and Close
// releases the pins.
func TestSharedCacheAcrossEngines(t *testing.T) {
	code, err := os.ReadFile(pluginPaths["mask-pii"])
	if err != nil {
		t.Fatal(err)
	}
	sc, err := NewSharedCache(cacheDir) // a cache object of its own on the shared directory
	if err != nil {
		t.Fatal(err)
	}
	in := []hooks.Record{{Key: []byte("a"), Value: []byte("mail jane.doe@example.com"), Timestamp: 1, Offset: -1}}
	want := []hooks.Record{{Key: []byte("a"), Value: []byte("mail ***@example.com"), Timestamp: 1, Offset: -1}}
	for round := range 3 {
		e, err := NewEngine(Config{Shared: sc})
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.Load(context.Background(), Spec{Name: "mask", Hook: HookTransform, Wasm: code})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		out, _, err := m.Transform(context.Background(), "logs", 0, in)
		if err != nil || !reflect.DeepEqual(out, want) {
			t.Fatalf("round %d: %s, %v", round, dump(out), err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	direct, err := addYieldChecks(code)
	if err != nil {
		t.Fatal(err)
	}
	memo, err := sc.instrument(code)
	if err != nil || !bytes.Equal(memo, direct) {
		t.Fatalf("instrumented bytes differ from addYieldChecks' (%v)", err)
	}
	sc.mu.Lock()
	memos, pins := len(sc.instrumented), len(sc.pinned)
	sc.mu.Unlock()
	if memos != 1 || pins != 1 {
		t.Fatalf("%d instrumented, %d pinned after 3 loads of one module, want 1 and 1", memos, pins)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if len(sc.pinned) != 0 {
		t.Fatalf("%d modules pinned after Close", len(sc.pinned))
	}
}
