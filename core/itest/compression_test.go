package itest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompressionCodecs produces with each Kafka codec and reads the records
// back unchanged, still in batches of that codec (compression.type defaults
// to "producer": the broker keeps what the producer sent).
func TestCompressionCodecs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)

	codecs := []struct {
		name string
		code uint8 // the batch attributes' codec bits
		opt  kgo.CompressionCodec
	}{
		{"gzip", 1, kgo.GzipCompression()},
		{"snappy", 2, kgo.SnappyCompression()},
		{"lz4", 3, kgo.Lz4Compression()},
		{"zstd", 4, kgo.ZstdCompression()},
	}
	const numRecords = 300
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := "codec-" + c.name
			createTopic(ctx, t, adm, topic, 2, nil)
			producer := newClient(t, b,
				kgo.DefaultProduceTopic(topic),
				kgo.ProducerBatchCompression(c.opt),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
			)
			produced := make([]*kgo.Record, numRecords)
			for i := range produced {
				// Repetitive values compress well even alone, so every
				// batch is smaller compressed and kgo really sends it
				// compressed; every 25th is large enough to span several
				// compression blocks.
				size := 50 + i%7
				if i%25 == 0 {
					size = 20000
				}
				produced[i] = &kgo.Record{
					Partition: int32(i % 2),
					Key:       fmt.Appendf(nil, "k%d", i),
					Value:     []byte(fmt.Sprintf("%s-%04d", strings.Repeat(c.name, size), i)),
				}
			}
			produceSync(ctx, t, producer, produced...)

			got := consumeAll(ctx, t, b, topic)
			for p := range int32(2) {
				var want []*kgo.Record
				for _, r := range produced {
					if r.Partition == p {
						want = append(want, r)
					}
				}
				if len(got[p]) != len(want) {
					t.Fatalf("partition %d: consumed %d records, want %d", p, len(got[p]), len(want))
				}
				for i, r := range got[p] {
					if r.Offset != int64(i) || !bytes.Equal(r.Key, want[i].Key) || !bytes.Equal(r.Value, want[i].Value) {
						t.Fatalf("partition %d record %d: got offset %d %s (%d value bytes), want offset %d %s (%d value bytes)",
							p, i, r.Offset, r.Key, len(r.Value), i, want[i].Key, len(want[i].Value))
					}
					if got := r.Attrs.CompressionType(); got != c.code {
						t.Fatalf("partition %d offset %d: stored with codec %d, want %d (%s)", p, i, got, c.code, c.name)
					}
				}
			}
		})
	}
}
