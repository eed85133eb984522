package kgowasm

import (
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

func assemble(t *testing.T, src string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "p.wasm")
	if err := wasmtest.WAT(src, out); err != nil {
		t.Fatal(err)
	}
	return out
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

// A failing plugin answers -1, which makes kgo fail the record.
func TestFailureFailsTheRecord(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "trap.wat")
	os.WriteFile(src, []byte(`(module (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64) unreachable))`), 0o644)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := Open(assemble(t, src), Options{Runtime: wasm.Config{Logger: quiet}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.ForTopic("t").Partition(&kgo.Record{Key: []byte("k")}, 3); got != -1 {
		t.Fatalf("partition %d, want -1", got)
	}
}
