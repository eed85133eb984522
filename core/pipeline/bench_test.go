package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

// BenchmarkTransformHost measures the pipeline's own cost per record of a
// transform (decode, conversion for the plugin, the unchanged check,
// re-encoding) with Go transforms that cost next to nothing, on batches
// of 100 records of 200 bytes:
//   - pass: returns its input (a filter-like transform that keeps all);
//   - copy: returns equal copies (what a Wasm plugin's answer looks like);
//   - rewrite: changes one byte of every value (re-encoded);
//   - drop-half: keeps every other record (re-encoded, span kept).
func BenchmarkTransformHost(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 200)
	recs := make([]records.Record, 100)
	for i := range recs {
		recs[i] = records.Record{Key: []byte(fmt.Sprintf("key-%d", i)), Value: line, Timestamp: 1700000000000,
			Headers: []records.Header{{Key: "h", Value: []byte("v")}}}
	}
	batch, err := records.Encode(recs, records.EncodeOptions{ProducerID: 1, ProducerEpoch: 0, BaseSequence: 0})
	if err != nil {
		b.Fatal(err)
	}
	cases := map[string]transformFunc{
		"pass": func(in []hooks.Record) ([]hooks.Record, []hooks.Emit, error) { return in, nil, nil },
		"copy": func(in []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
			out := make([]hooks.Record, len(in))
			for i, r := range in {
				out[i] = r
				out[i].Value = bytes.Clone(r.Value)
			}
			return out, nil, nil
		},
		"rewrite": func(in []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
			out := make([]hooks.Record, len(in))
			for i, r := range in {
				out[i] = r
				v := bytes.Clone(r.Value)
				v[0] = 'y'
				out[i].Value = v
			}
			return out, nil, nil
		},
		"drop-half": func(in []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
			out := make([]hooks.Record, 0, len(in)/2)
			for i := 0; i < len(in); i += 2 {
				out = append(out, in[i])
			}
			return out, nil, nil
		},
	}
	p, _, _ := newPipeline(b, &registry{})
	cfg := partition.Config{MaxMessageBytes: 1 << 20}
	for _, name := range []string{"pass", "copy", "rewrite", "drop-half"} {
		tr := cases[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.transform(context.Background(), tr, "t", 0, cfg, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
		})
	}
	// The host path before the pipeline (core/kafka/plugins.go): decode
	// to records.Record, convert, transform, convert back, re-encode
	// whatever the transform returned. For comparison with "rewrite".
	b.Run("before-rewrite", func(b *testing.B) {
		b.ReportAllocs()
		tr := cases["rewrite"]
		for b.Loop() {
			d, err := records.Decode(batch)
			if err != nil {
				b.Fatal(err)
			}
			in := make([]hooks.Record, len(d.Records))
			for i, r := range d.Records {
				hr := hooks.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset}
				for _, h := range r.Headers {
					hr.Headers = append(hr.Headers, hooks.Header{Key: h.Key, Value: h.Value})
				}
				in[i] = hr
			}
			out, _, _ := tr(in)
			rs := make([]records.Record, len(out))
			for i, r := range out {
				// The old path's copy back (hooks and records had
				// separate record types then).
				rs[i] = records.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset,
					Headers: append([]records.Header(nil), r.Headers...)}
			}
			if _, err := records.Encode(rs, records.EncodeOptions{Codec: d.Codec, ProducerID: 1, BaseSequence: 0}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	})
}
