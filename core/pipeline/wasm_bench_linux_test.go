package pipeline

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/internal/threadcpu"
	"github.com/sluicemq/sluice/wasm"
)

// wasmTransform calls a module directly, as plugins' binding does.
type wasmTransform struct{ m *wasm.Module }

func (w wasmTransform) Apply(ctx context.Context, topic string, part int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	return w.m.Transform(ctx, topic, part, recs)
}

// BenchmarkTransformPlugin measures the broker's whole per-record cost of
// a produce through the mask-pii plugin, short of the network and the
// append: split, CRC check, decode, the plugin call (input encoding,
// guest, answer decoding) and the output batch, on a batch shaped like
// `make bench`'s (2,460 uncompressed 200-byte log lines without keys,
// one e-mail address each). "host" is the same with a Go transform that
// rewrites every value (the pipeline's own share). Variants run
// interleaved and are timed by thread CPU (<variant>-ns/record, medians).
func BenchmarkTransformPlugin(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a plugin")
	}
	m := loadExample(b, "mask-pii", wasm.HookTransform, nil)

	const n = 2460
	recs := make([]records.Record, n)
	for i := range recs {
		line := fmt.Sprintf("2025-03-14T09:%02d:%02d.%03dZ INFO checkout-api req=%08x action=login status=%d client=198.51.100.%d user=jane.doe%d@example.com msg=\"request served\" pad=",
			i/60%60, i%60, i%1000, uint32(i)*2654435761, 200+i%3, i%250, i)
		recs[i] = records.Record{Value: []byte(line + strings.Repeat("-", 200-len(line))), Timestamp: 1700000000000 + int64(i)}
	}
	batch, err := records.Encode(recs, records.EncodeOptions{ProducerID: 1, ProducerEpoch: 0, BaseSequence: 0})
	if err != nil {
		b.Fatal(err)
	}
	rewrite := transformFunc(func(in []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
		out := make([]hooks.Record, len(in))
		for i, r := range in {
			out[i] = r
			v := slices.Clone(r.Value)
			v[0] = 'y'
			out[i].Value = v
		}
		return out, nil, nil
	})
	p, _, _ := newPipeline(b, &registry{})
	cfg := partition.Config{MaxMessageBytes: 1 << 20}
	variants := []struct {
		name string
		tr   hooks.Transform
		ns   []float64
	}{{name: "host", tr: rewrite}, {name: "mask-pii", tr: wasmTransform{m}}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range variants {
			v := &variants[j]
			start := threadcpu.Now()
			if _, err := p.transform(ctx, v.tr, "t", 0, cfg, batch); err != nil {
				b.Fatal(err)
			}
			v.ns = append(v.ns, float64(threadcpu.Now()-start)/n)
		}
	}
	for _, v := range variants {
		slices.Sort(v.ns)
		b.ReportMetric(v.ns[len(v.ns)/2], v.name+"-ns/record")
	}
}
