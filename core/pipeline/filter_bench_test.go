package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// filterRegistry binds one filter to every topic.
type filterRegistry struct{ f hooks.Filter }

func (filterRegistry) Partitioner(string) hooks.Partitioner { return nil }
func (filterRegistry) Transform(string) hooks.Transform     { return nil }
func (r filterRegistry) Filter(string) hooks.Filter         { return r.f }

type moduleFilter struct{ m *wasm.Module }

func (f moduleFilter) Apply(ctx context.Context, topic string, part int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	return f.m.Filter(ctx, topic, part, reader, recs)
}

// benchFetchData is ~1 MiB of stored batches (what one partition's fetch
// reads with kgo's default 1 MiB partition limit) of 200-byte log lines
// without headers, perBatch records each, as an idempotent producer
// writes them.
func benchFetchData(b testing.TB, perBatch int, codec records.Codec) ([]byte, int) {
	line := []byte("2026-01-01T00:00:00Z INFO user=alice@example.com action=login ip=10.0.0.1 session=0123456789abcdef path=/api/v1/items?id=42 status=200 took=12ms agent=Mozilla/5.0 (X11; Linux x86_64) padding-padding-padding")
	line = line[:200]
	var out []byte
	off := int64(0)
	for len(out) < 1<<20 {
		recs := make([]records.Record, perBatch)
		for i := range recs {
			recs[i] = records.Record{Value: line, Timestamp: 1700000000000 + int64(i)}
		}
		batch, err := records.Encode(recs, records.EncodeOptions{Codec: codec, ProducerID: 1, BaseSequence: int32(off)})
		if err != nil {
			b.Fatal(err)
		}
		// Stored batches carry their log offsets.
		putBaseOffset(batch, off)
		off += int64(perBatch)
		out = append(out, batch...)
	}
	return out, int(off)
}

func putBaseOffset(batch []byte, off int64) {
	for i := 0; i < 8; i++ {
		batch[7-i] = byte(off >> (8 * i))
	}
}

// loadExample builds examples/plugins/<name> for wasip1 and loads it as
// hook in an engine of its own, closed with the benchmark.
func loadExample(b *testing.B, name string, hook wasm.Hook, config map[string]string) *wasm.Module {
	b.Helper()
	root, err := wasmtest.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), name+".wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", name), out); err != nil {
		b.Fatal(err)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	e, err := wasm.NewEngine(wasm.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	m, err := e.Load(context.Background(), wasm.Spec{Name: name, Hook: hook, Config: config, Wasm: code})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// BenchmarkFilterBatches: a fetch of one partition through the
// tenant-filter example keeping every record (make bench's keep-all
// consume), host side and guest call together.
func BenchmarkFilterBatches(b *testing.B) {
	m := loadExample(b, "tenant-filter", wasm.HookFilter, map[string]string{"show_untagged": "true"})
	br := openBroker(b, b.TempDir())
	b.Cleanup(func() { br.Close() }) // before its directory goes: the flusher must not outlive it
	p := New(Config{Broker: br, Hooks: filterRegistry{moduleFilter{m}}})
	for _, perBatch := range []int{100, 1000} {
		for _, codec := range []records.Codec{records.None, records.Snappy} {
			data, n := benchFetchData(b, perBatch, codec)
			b.Run(fmt.Sprintf("batch-%d/codec-%d", perBatch, codec), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					got, err := p.FilterBatches(context.Background(), "t", 0, hooks.Reader{Principal: "User:acme"}, data)
					if err != nil || len(got) != len(data) {
						b.Fatal(len(got), err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}
