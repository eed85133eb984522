package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListOffsets checks earliest, latest and by-timestamp lookups over
// records with explicit increasing timestamps, both one record per batch
// (offsets 0-4) and several records in one batch (offsets 5-9): a lookup
// answers the first offset whose timestamp is >= the target, even inside a
// batch.
func TestListOffsets(t *testing.T) {
	t.Parallel()
	const topic = "list-offsets"
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, topic, 1, nil)

	// An hour ago, so retention and "future timestamp" checks stay out of it.
	base := time.Now().Add(-time.Hour).UnixMilli()
	ts := func(i int) int64 { return base + int64(i)*1000 }

	cl := newClient(t, b, kgo.DefaultProduceTopic(topic))
	for i := range 5 {
		// Sync one at a time: each record is its own batch.
		produceSync(ctx, t, cl, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i), Timestamp: time.UnixMilli(ts(i))})
	}
	var batch []rawRecord
	for i := 5; i < 10; i++ {
		batch = append(batch, rawRecord{Value: fmt.Appendf(nil, "v%d", i), Timestamp: ts(i)})
	}
	resp := rawProduce(ctx, t, cl, topic, 0, encodeBatch(batch))
	wantErrCode(t, "produce 5-record batch", resp.ErrorCode, nil)
	if resp.BaseOffset != 5 {
		t.Fatalf("5-record batch base offset %d, want 5", resp.BaseOffset)
	}

	if got := startOffsets(ctx, t, adm, topic)[0]; got != 0 {
		t.Fatalf("earliest offset %d, want 0", got)
	}
	if got := endOffsets(ctx, t, adm, topic)[0]; got != 10 {
		t.Fatalf("latest offset %d, want 10", got)
	}

	cases := []struct {
		name       string
		target     int64
		wantOffset int64
		wantTs     int64
	}{
		{"before all", base - 5000, 0, ts(0)},
		{"exactly the first", ts(0), 0, ts(0)},
		{"just after the first", ts(0) + 1, 1, ts(1)},
		{"between single batches", ts(2) + 500, 3, ts(3)},
		{"exactly a single batch", ts(4), 4, ts(4)},
		{"just before the multi-record batch", ts(4) + 1, 5, ts(5)},
		{"inside the multi-record batch", ts(6) + 500, 7, ts(7)},
		{"exactly inside the multi-record batch", ts(8), 8, ts(8)},
		{"exactly the last", ts(9), 9, ts(9)},
	}
	for _, c := range cases {
		lo, err := adm.ListOffsetsAfterMilli(ctx, c.target, topic)
		if err != nil {
			t.Fatalf("%s: ListOffsetsAfterMilli(%d): %v", c.name, c.target, err)
		}
		got, ok := lo.Lookup(topic, 0)
		if !ok || got.Err != nil {
			t.Fatalf("%s: ListOffsetsAfterMilli(%d): partition 0 missing or failed: %+v", c.name, c.target, got)
		}
		if got.Offset != c.wantOffset || got.Timestamp != c.wantTs {
			t.Fatalf("%s: ListOffsetsAfterMilli(base%+d) = offset %d timestamp base%+d, want offset %d timestamp base%+d",
				c.name, c.target-base, got.Offset, got.Timestamp-base, c.wantOffset, c.wantTs-base)
		}
	}

	// After every record: Kafka answers offset -1, timestamp -1 ...
	after := ts(9) + 1
	raw := rawListOffset(ctx, t, cl, topic, 0, after)
	wantErrCode(t, "ListOffsets after all records", raw.ErrorCode, nil)
	if raw.Offset != -1 || raw.Timestamp != -1 {
		t.Fatalf("ListOffsets(after all records) = offset %d timestamp %d, want -1 -1", raw.Offset, raw.Timestamp)
	}
	// ... which kadm documents turning into the end offset.
	lo, err := adm.ListOffsetsAfterMilli(ctx, after, topic)
	if err != nil {
		t.Fatalf("ListOffsetsAfterMilli(after all records): %v", err)
	}
	if got, _ := lo.Lookup(topic, 0); got.Err != nil || got.Offset != 10 {
		t.Fatalf("ListOffsetsAfterMilli(after all records) = %+v, want offset 10", got)
	}

	// The special timestamps through the raw request: -2 earliest, -1 latest.
	if got := rawListOffset(ctx, t, cl, topic, 0, -2); got.ErrorCode != 0 || got.Offset != 0 {
		t.Fatalf("ListOffsets(-2 earliest) = offset %d error %d, want 0", got.Offset, got.ErrorCode)
	}
	if got := rawListOffset(ctx, t, cl, topic, 0, -1); got.ErrorCode != 0 || got.Offset != 10 {
		t.Fatalf("ListOffsets(-1 latest) = offset %d error %d, want 10", got.Offset, got.ErrorCode)
	}
}

// rawListOffset issues ListOffsets for one partition and timestamp.
func rawListOffset(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partition int32, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = timestamp
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListOffsets %s[%d] at %d: %v", topic, partition, timestamp, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets %s[%d]: response has %d topics, want 1 with 1 partition", topic, partition, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}
