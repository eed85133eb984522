package itest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compactionDeadline bounds how long the log cleaner may take to reach the
// expected survivors (it runs every 200ms here).
const compactionDeadline = 20 * time.Second

// TestCompactedTopic: on a topic with cleanup.policy=compact, the broker's
// log cleaner leaves a consumer reading from the start exactly the latest
// value of every key, at its original offset, with gaps where superseded
// records were; keys whose latest record is a tombstone disappear once
// delete.retention.ms passed (0 here) and the tombstone is out of the active
// segment. The result survives a restart and the idempotent producer's
// partition keeps taking records.
func TestCompactedTopic(t *testing.T) {
	t.Parallel()
	const (
		topic    = "compacted"
		keys     = 40
		versions = 3
		deleted  = 5 // keys k00..k04 end with a tombstone
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--log-cleaner-interval", "200ms"}})
	createTopic(ctx, t, newAdmin(t, b), topic, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("1024"),
		"delete.retention.ms":       kadm.StringPtr("0"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	})
	cl := newClient(t, b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	key := func(i int) []byte { return fmt.Appendf(nil, "k%02d", i) }

	// One record per produce request, so one batch each: many segments of
	// 1024 bytes. The final round writes every surviving key once, after
	// the tombstones, so those end up in closed segments.
	for v := range versions {
		for k := range keys {
			produceSync(ctx, t, cl, &kgo.Record{Key: key(k), Value: fmt.Appendf(nil, "v%d", v)})
		}
	}
	for k := range deleted {
		produceSync(ctx, t, cl, &kgo.Record{Key: key(k)})
	}
	type survivor struct {
		key, value string
		offset     int64
	}
	var want []survivor
	for k := deleted; k < keys; k++ {
		r := &kgo.Record{Key: key(k), Value: []byte("final")}
		produceSync(ctx, t, cl, r)
		want = append(want, survivor{key: string(r.Key), value: "final", offset: r.Offset})
	}
	end := int64(versions*keys + deleted + keys - deleted)
	if got := endOffsets(ctx, t, newAdmin(t, b), topic)[0]; got != end {
		t.Fatalf("end offset %d, want %d", got, end)
	}

	consume := func() []survivor {
		got := consumeRange(ctx, t, b, topic,
			map[int32]kgo.Offset{0: kgo.NewOffset().AtStart()}, map[int32]int64{0: end})[0]
		out := make([]survivor, 0, len(got))
		for _, r := range got {
			if r.Value == nil {
				out = append(out, survivor{key: string(r.Key), value: "<tombstone>", offset: r.Offset})
				continue
			}
			out = append(out, survivor{key: string(r.Key), value: string(r.Value), offset: r.Offset})
		}
		return out
	}
	deadline := time.Now().Add(compactionDeadline)
	var got []survivor
	for {
		got = consume()
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the topic holds %d records, want the %d latest values:\n got %v\nwant %v",
				compactionDeadline, len(got), len(want), got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Offsets kept: the survivors sit at their original, gapped offsets,
	// and the log start and end did not move.
	if got[0].offset != int64(versions*keys+deleted) {
		t.Fatalf("first survivor at offset %d", got[0].offset)
	}
	if start := startOffsets(ctx, t, newAdmin(t, b), topic)[0]; start != 0 {
		t.Fatalf("log start offset %d, want 0", start)
	}

	b.Restart()
	if got := consume(); !slices.Equal(got, want) {
		t.Fatalf("after restart:\n got %v\nwant %v", got, want)
	}
	cl = newClient(t, b, kgo.DefaultProduceTopic(topic))
	r := &kgo.Record{Key: key(0), Value: []byte("back")}
	produceSync(ctx, t, cl, r)
	if r.Offset != end {
		t.Fatalf("record after restart at offset %d, want %d", r.Offset, end)
	}
}
