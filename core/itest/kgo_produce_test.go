package itest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoIdempotentProduceConsume: an idempotent acks=all kgo producer
// writes keyed records over 4 partitions; a direct consumer reads every one
// back exactly once, in produce order, at contiguous offsets from 0.
func TestKgoIdempotentProduceConsume(t *testing.T) {
	t.Parallel()
	const (
		topic      = "kgo-ordered"
		partitions = 4
		numRecords = 2000
		numKeys    = 50
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, partitions, nil)

	producer := newClient(t, b,
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // the default, stated for the reader
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
	)
	produced := make([]*kgo.Record, numRecords)
	for i := range produced {
		produced[i] = &kgo.Record{
			Key:     fmt.Appendf(nil, "key-%02d", i%numKeys),
			Value:   fmt.Appendf(nil, "value-%04d", i),
			Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", i)}},
		}
	}
	produceSync(ctx, t, producer, produced...)

	// What the producer saw: per partition, records in produce order, which
	// the acks must have placed at offsets 0, 1, 2, ...
	want := make(map[int32][]*kgo.Record)
	keyPartition := make(map[string]int32)
	for _, r := range produced {
		if p, ok := keyPartition[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s produced to partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPartition[string(r.Key)] = r.Partition
		if wantOffset := int64(len(want[r.Partition])); r.Offset != wantOffset {
			t.Fatalf("record %s acked at %d[%d], want offset %d", r.Value, r.Partition, r.Offset, wantOffset)
		}
		want[r.Partition] = append(want[r.Partition], r)
	}
	// The murmur2 key hash of 50 keys spreads over all 4 partitions.
	if len(want) != partitions {
		t.Fatalf("records landed in %d partitions, want %d", len(want), partitions)
	}

	got := consumeAll(ctx, t, b, topic)
	total := 0
	for p := range int32(partitions) {
		gotP, wantP := got[p], want[p]
		if len(gotP) != len(wantP) {
			t.Fatalf("partition %d: consumed %d records, want %d", p, len(gotP), len(wantP))
		}
		for i, r := range gotP {
			w := wantP[i]
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d at offset %d, want %d", p, i, r.Offset, i)
			}
			if !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) {
				t.Fatalf("partition %d offset %d: got %s=%s, want %s=%s", p, i, r.Key, r.Value, w.Key, w.Value)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "seq" || !bytes.Equal(r.Headers[0].Value, w.Headers[0].Value) {
				t.Fatalf("partition %d offset %d: headers %v, want %v", p, i, r.Headers, w.Headers)
			}
			if r.ProducerID != w.ProducerID || r.ProducerID < 0 {
				t.Fatalf("partition %d offset %d: producer id %d, want the idempotent producer's %d", p, i, r.ProducerID, w.ProducerID)
			}
			// The wire carries milliseconds.
			if r.Timestamp.UnixMilli() != w.Timestamp.UnixMilli() {
				t.Fatalf("partition %d offset %d: timestamp %d, want %d", p, i, r.Timestamp.UnixMilli(), w.Timestamp.UnixMilli())
			}
		}
		total += len(gotP)
	}
	if total != numRecords {
		t.Fatalf("consumed %d records in total, want %d", total, numRecords)
	}
}
