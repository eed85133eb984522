package partition

import (
	"io"
	"log/slog"
	"testing"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// BenchmarkTxnAppend: one transaction per iteration, 10 one-record
// batches and a marker (commit or abort: an abort also writes and fsyncs
// the segment's .txnindex entry), against plain idempotent appends of the
// same 10 batches.
func BenchmarkTxnAppend(b *testing.B) {
	for _, mode := range []string{"idempotent", "commit", "abort"} {
		b.Run(mode, func(b *testing.B) {
			p := openBenchPartition(b)
			recs := []records.Record{{Value: make([]byte, 1024)}}
			seq := int32(0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < 10; j++ {
					batch, err := records.Encode(recs, records.EncodeOptions{ProducerID: 1, ProducerEpoch: 0, BaseSequence: seq})
					if err != nil {
						b.Fatal(err)
					}
					seq++
					if mode != "idempotent" {
						markTransactional(batch)
					}
					if _, err := p.Append(batch); err != nil {
						b.Fatal(err)
					}
				}
				if mode != "idempotent" {
					if _, err := p.WriteTxnMarker(TxnMarker{ProducerID: 1, Commit: mode == "commit"}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func openBenchPartition(b *testing.B) *Partition {
	b.Helper()
	cfg := Config{
		Log:               storage.Config{SegmentBytes: 1 << 30, SegmentMs: -1, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
	}
	p, err := Open("t", 0, b.TempDir(), cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}
