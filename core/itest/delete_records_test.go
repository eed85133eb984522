package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteRecords: DeleteRecords moves the log start offset (low
// watermark); fetching below it is OFFSET_OUT_OF_RANGE, and a consumer that
// resets to the start reads from the new start. The start survives a
// clean restart.
func TestDeleteRecords(t *testing.T) {
	t.Parallel()
	const (
		topic      = "delete-records"
		numRecords = 25
	)
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, topic, 1, nil)
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic))
	for i := range numRecords {
		produceSync(ctx, t, cl, &kgo.Record{Value: fmt.Appendf(nil, "v%02d", i)})
	}

	deleteTo(ctx, t, adm, topic, 10, 10, nil)
	if got := startOffsets(ctx, t, adm, topic)[0]; got != 10 {
		t.Fatalf("start offset after DeleteRecords(10) = %d, want 10", got)
	}
	if got := endOffsets(ctx, t, adm, topic)[0]; got != numRecords {
		t.Fatalf("end offset after DeleteRecords(10) = %d, want %d", got, numRecords)
	}

	fetched := rawFetch(ctx, t, cl, topic, 0, 0)
	wantErrCode(t, "fetch at offset 0 after DeleteRecords(10)", fetched.ErrorCode, kerr.OffsetOutOfRange)
	fetched = rawFetch(ctx, t, cl, topic, 0, 10)
	wantErrCode(t, "fetch at offset 10 after DeleteRecords(10)", fetched.ErrorCode, nil)
	if fetched.LogStartOffset != 10 || fetched.HighWatermark != numRecords {
		t.Fatalf("fetch at 10: log start %d high watermark %d, want 10 %d", fetched.LogStartOffset, fetched.HighWatermark, numRecords)
	}

	checkReadsFromStart := func() {
		t.Helper()
		// Asking for offset 0 gets OFFSET_OUT_OF_RANGE, which this consumer
		// resolves by resetting to the log start.
		got := consumeRange(ctx, t, b, topic,
			map[int32]kgo.Offset{0: kgo.NewOffset().At(0)},
			map[int32]int64{0: numRecords},
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		)[0]
		if len(got) != numRecords-10 {
			t.Fatalf("consumed %d records, want %d (offsets 10-%d)", len(got), numRecords-10, numRecords-1)
		}
		for i, r := range got {
			want := int64(10 + i)
			if r.Offset != want || string(r.Value) != fmt.Sprintf("v%02d", want) {
				t.Fatalf("record %d: offset %d value %s, want offset %d value v%02d", i, r.Offset, r.Value, want, want)
			}
		}
	}
	checkReadsFromStart()

	// Beyond the high watermark: OFFSET_OUT_OF_RANGE, start unchanged.
	deleteTo(ctx, t, adm, topic, numRecords+1, -1, kerr.OffsetOutOfRange)
	if got := startOffsets(ctx, t, adm, topic)[0]; got != 10 {
		t.Fatalf("start offset after a failed DeleteRecords = %d, want 10", got)
	}

	b.Restart()
	adm = newAdmin(t, b)
	if got := startOffsets(ctx, t, adm, topic)[0]; got != 10 {
		t.Fatalf("start offset after restart = %d, want 10", got)
	}
	checkReadsFromStart()

	// -1 means "up to the high watermark".
	deleteTo(ctx, t, adm, topic, -1, numRecords, nil)
	if got := startOffsets(ctx, t, adm, topic)[0]; got != numRecords {
		t.Fatalf("start offset after DeleteRecords(-1) = %d, want %d", got, numRecords)
	}
}

// deleteTo deletes topic[0] below offset and checks the partition's result:
// wantErr, or success with low watermark wantLow.
func deleteTo(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, offset, wantLow int64, wantErr *kerr.Error) {
	t.Helper()
	below := make(kadm.Offsets)
	below.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset})
	resps, err := adm.DeleteRecords(ctx, below)
	if err != nil {
		t.Fatalf("DeleteRecords(%d): %v", offset, err)
	}
	resp, ok := resps.Lookup(topic, 0)
	if !ok {
		t.Fatalf("DeleteRecords(%d): no result for %s[0]", offset, topic)
	}
	if wantErr != nil {
		wantKerr(t, fmt.Sprintf("DeleteRecords(%d)", offset), resp.Err, wantErr)
		return
	}
	if resp.Err != nil || resp.LowWatermark != wantLow {
		t.Fatalf("DeleteRecords(%d): low watermark %d error %v, want %d", offset, resp.LowWatermark, resp.Err, wantLow)
	}
}
