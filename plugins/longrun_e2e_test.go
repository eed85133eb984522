package plugins_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// logLine is a 200-byte log line with an e-mail address to mask.
func logLine(i int) []byte {
	line := fmt.Sprintf("2025-03-14T09:%02d:%02d.%03dZ INFO checkout-api req=%08x status=%d user=jane.doe%d@example.com msg=\"request served\" pad=",
		i/60%60, i%60, i%1000, uint32(i)*2654435761, 200+i%3, i)
	return []byte(line + strings.Repeat("-", 200-len(line)))
}

// TestE2EMaskManyBatchesIdempotent produces 300,000 log lines through
// mask-pii with an idempotent acks=all producer keeping several batches of
// varying size in flight per partition, and checks every acked record is
// stored and masked. It used to lose about one batch per partition (the
// SDK decoded a ~1,100-record batch after a much larger one as empty,
// which the broker took for "every record dropped" and acknowledged) and
// to fail with POLICY_VIOLATION once instances ran out of guest memory.
//
// Under -short it produces 60,000 lines: still several batches of varying
// size per partition in flight, in a fifth of the time.
func TestE2EMaskManyBatchesIdempotent(t *testing.T) {
	t.Parallel()
	const partitions = 8
	records := testkit.ShortOr(60_000, 300_000)
	n := startNode(t)
	n.createTopic(t, "masked", partitions)
	n.deploy(t, "mask", "transform", "masked", "mask-pii")
	cl := n.client(t, kgo.DefaultProduceTopic("masked"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedBytes(16<<20), kgo.MaxBufferedRecords(80_000))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var acked [partitions]atomic.Int64
	var firstErr atomic.Pointer[error]
	for i := 0; i < records && firstErr.Load() == nil; i++ {
		cl.Produce(ctx, &kgo.Record{Value: logLine(i)}, func(r *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			acked[r.Partition].Add(1)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if errp := firstErr.Load(); errp != nil {
		t.Fatalf("produce: %v", *errp)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "masked")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for p := range int32(partitions) {
		o, _ := ends.Lookup("masked", p)
		total += acked[p].Load()
		if o.Offset != acked[p].Load() {
			t.Errorf("partition %d: %d records acked, high watermark %d", p, acked[p].Load(), o.Offset)
		}
	}
	if total != int64(records) {
		t.Fatalf("%d records acked, want %d", total, records)
	}
	if t.Failed() {
		return
	}
	got := consumeAll(t, n, "masked", "reader", records)
	if len(got) != records {
		t.Fatalf("consumed %d records, want %d", len(got), records)
	}
	for _, r := range got {
		if !bytes.Contains(r.Value, []byte("user=***@example.com")) {
			t.Fatalf("partition %d offset %d not masked: %q", r.Partition, r.Offset, r.Value)
		}
	}
}
