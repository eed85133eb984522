package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

func openPublishBroker(t *testing.T, dir string) *broker.Broker {
	t.Helper()
	b, err := localbroker.Open(broker.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OffsetsTopicPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stored reads every record of a partition with its batch's producer.
type storedRecord struct {
	records.Record
	producerID int64
	sequence   int32
}

func storedRecords(t *testing.T, b *broker.Broker, topic string, part int32) []storedRecord {
	t.Helper()
	p, err := b.Partition(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedRecord
	err = p.Scan(func(batch []byte) error {
		// Scan reuses its buffer; decoded records point into it.
		bt, err := records.Decode(bytes.Clone(batch))
		if err != nil {
			return err
		}
		for i, r := range bt.Records {
			out = append(out, storedRecord{Record: r, producerID: bt.ProducerID, sequence: bt.BaseSequence + int32(i)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rec(key, value string, part int32) PublishRecord {
	r := PublishRecord{Record: hooks.Record{Value: []byte(value), Offset: -1}, Partition: part}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

// goPartitioner sends every record to the partition its value's length
// picks (modulo the partition count), or fails.
type goPartitioner struct{ fail bool }

func (g goPartitioner) Partition(_ context.Context, _ string, recs []hooks.Record, n int32) ([]int32, error) {
	if g.fail {
		return nil, fmt.Errorf("%w: no", hooks.ErrRejected)
	}
	out := make([]int32, len(recs))
	for i, r := range recs {
		out[i] = int32(len(r.Value)) % n
	}
	return out, nil
}

type partitionerRegistry struct {
	hooks.None
	topic string
	p     hooks.Partitioner
}

func (r partitionerRegistry) Partitioner(topic string) hooks.Partitioner {
	if topic == r.topic {
		return r.p
	}
	return nil
}

func TestPublishPlacesAndAnswersOffsets(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 4, nil)
	p := New(Config{Broker: b})
	defer p.closePublish()
	ctx := context.Background()

	var recs []PublishRecord
	for i := 0; i < 40; i++ {
		switch i % 3 {
		case 0:
			recs = append(recs, rec(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), -1))
		case 1:
			recs = append(recs, rec("", fmt.Sprintf("v%d", i), -1))
		default:
			recs = append(recs, rec("", fmt.Sprintf("v%d", i), int32(i%4)))
		}
	}
	placed, err := p.Publish(ctx, "t", recs, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(placed) != len(recs) {
		t.Fatalf("%d results for %d records", len(placed), len(recs))
	}
	perPart := map[int32]int{}
	for i, pl := range placed {
		if pl.Err != nil {
			t.Fatalf("record %d: %v", i, pl.Err)
		}
		switch {
		case recs[i].Partition >= 0 && pl.Partition != recs[i].Partition:
			t.Fatalf("record %d: partition %d, asked %d", i, pl.Partition, recs[i].Partition)
		case recs[i].Key != nil && pl.Partition != records.KeyPartition(recs[i].Key, 4):
			t.Fatalf("record %d: partition %d, murmur2 says %d", i, pl.Partition, records.KeyPartition(recs[i].Key, 4))
		}
		perPart[pl.Partition]++
	}
	// Every answered offset holds exactly that record, and nothing else
	// was written.
	total := 0
	for part := int32(0); part < 4; part++ {
		got := storedRecords(t, b, "t", part)
		total += len(got)
		byOffset := map[int64]storedRecord{}
		for _, r := range got {
			byOffset[r.Offset] = r
		}
		for i, pl := range placed {
			if pl.Partition != part {
				continue
			}
			r, ok := byOffset[pl.Offset]
			if !ok || string(r.Value) != string(recs[i].Value) || string(r.Key) != string(recs[i].Key) {
				t.Fatalf("record %d answered %d@%d, which holds %q", i, pl.Partition, pl.Offset, r.Value)
			}
			if r.producerID < 0 || r.Timestamp <= 0 {
				t.Fatalf("record %d stored with producer %d, timestamp %d", i, r.producerID, r.Timestamp)
			}
		}
	}
	if total != len(recs) {
		t.Fatalf("%d records stored, want %d", total, len(recs))
	}
	// Explicit, keyed and (sticky) unkeyed records together reach every partition.
	if len(perPart) != 4 {
		t.Fatalf("records landed on %d partitions, want 4: %v", len(perPart), perPart)
	}
}

func TestPublishRequestErrorsWriteNothing(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 2, nil)
	createTopic(t, b, "plug", 2, nil)
	createTopic(t, b, "broken", 2, nil)
	ctx := context.Background()

	p := New(Config{Broker: b})
	defer p.closePublish()
	if _, err := p.Publish(ctx, "missing", []PublishRecord{rec("", "x", -1)}, -1); !errors.Is(err, ErrUnknownTopic) || !kerrmap.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, ok := b.Topic("missing"); ok {
		t.Fatal("publish created the topic")
	}
	if _, err := p.Publish(ctx, "t", []PublishRecord{rec("", "ok", 0), rec("", "x", 2)}, -1); !errors.Is(err, ErrBadPartition) {
		t.Fatalf("partition 2 of 2: %v", err)
	}
	if n := len(storedRecords(t, b, "t", 0)); n != 0 {
		t.Fatalf("a refused request wrote %d records", n)
	}

	pp := New(Config{Broker: b, Hooks: partitionerRegistry{topic: "plug", p: goPartitioner{}}})
	defer pp.closePublish()
	placed, err := pp.Publish(ctx, "plug", []PublishRecord{rec("k", "a", -1), rec("k", "bb", -1), rec("", "ccc", 0)}, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int32{1, 0, 0} {
		if placed[i].Partition != want || placed[i].Err != nil {
			t.Fatalf("record %d: %+v, want partition %d", i, placed[i], want)
		}
	}
	pb := New(Config{Broker: b, Hooks: partitionerRegistry{topic: "broken", p: goPartitioner{fail: true}}})
	defer pb.closePublish()
	_, err = pb.Publish(ctx, "broken", []PublishRecord{rec("", "ok", 0), rec("", "x", -1)}, -1)
	var pe *PluginError
	if !errors.As(err, &pe) || pe.Hook != "partitioner" || !errors.Is(err, hooks.ErrRejected) {
		t.Fatalf("failing partitioner: %v", err)
	}
	if n := len(storedRecords(t, b, "broken", 0)); n != 0 {
		t.Fatalf("a request whose partitioner failed wrote %d records", n)
	}
}

// Concurrent publishes to one partition keep consecutive sequences (no
// OUT_OF_ORDER), and every record is stored once at its answered offset.
func TestPublishConcurrentSequences(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 2, nil)
	p := New(Config{Broker: b})
	defer p.closePublish()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	offsets := make([][]Placed, writers)
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				// Two records per request, one per partition.
				placed, err := p.Publish(context.Background(), "t",
					[]PublishRecord{rec("", fmt.Sprintf("w%d-%d-a", w, i), 0), rec("", fmt.Sprintf("w%d-%d-b", w, i), 1)}, 1)
				if err == nil {
					for _, pl := range placed {
						err = errors.Join(err, pl.Err)
					}
				}
				if err != nil {
					errs <- err
					return
				}
				offsets[w] = append(offsets[w], placed...)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for part := int32(0); part < 2; part++ {
		got := storedRecords(t, b, "t", part)
		at := map[int64]string{}
		for _, r := range got {
			at[r.Offset] = string(r.Value)
		}
		// Every answered offset holds the record answered for it (shared
		// appends split offsets between the requests correctly).
		for w := range offsets {
			for i, pl := range offsets[w] {
				want := fmt.Sprintf("w%d-%d-%c", w, i/2, "ab"[pl.Partition])
				if pl.Partition == part && at[pl.Offset] != want {
					t.Fatalf("%s answered %d@%d, which holds %s", want, part, pl.Offset, at[pl.Offset])
				}
			}
		}
		if len(got) != writers*each {
			t.Fatalf("partition %d holds %d records, want %d", part, len(got), writers*each)
		}
		seen := map[string]bool{}
		for i, r := range got {
			if r.sequence != int32(i) || r.producerID != got[0].producerID {
				t.Fatalf("partition %d record %d: producer %d sequence %d", part, i, r.producerID, r.sequence)
			}
			if seen[string(r.Value)] {
				t.Fatalf("duplicate %s", r.Value)
			}
			seen[string(r.Value)] = true
		}
	}
}

// Records past max.message.bytes fail alone; a request bigger than one
// batch is split into several, all stored.
func TestPublishSplitsBatchesAndRefusesHugeRecords(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 1, map[string]string{"max.message.bytes": "2000"})
	p := New(Config{Broker: b})
	defer p.closePublish()
	var recs []PublishRecord
	for i := 0; i < 30; i++ {
		recs = append(recs, rec("", fmt.Sprintf("%03d-%0300d", i, i), 0))
	}
	recs[7] = rec("", string(make([]byte, 3000)), 0)
	placed, err := p.Publish(context.Background(), "t", recs, -1)
	if err != nil {
		t.Fatal(err)
	}
	for i, pl := range placed {
		if i == 7 {
			if !kerrmap.Is(pl.Err, kerr.MessageTooLarge) {
				t.Fatalf("huge record: %v", pl.Err)
			}
			continue
		}
		if pl.Err != nil {
			t.Fatalf("record %d: %v", i, pl.Err)
		}
	}
	got := storedRecords(t, b, "t", 0)
	if len(got) != 29 {
		t.Fatalf("%d records stored, want 29", len(got))
	}
	j := 0
	for i, pl := range placed {
		if i == 7 {
			continue
		}
		if got[j].Offset != pl.Offset || string(got[j].Value) != string(recs[i].Value) {
			t.Fatalf("record %d answered offset %d; stored %d holds %.10q", i, pl.Offset, got[j].Offset, got[j].Value)
		}
		j++
	}
}

// A partition that lost the producer's state refuses the next sequence:
// the pipeline takes a new producer id and the record is stored once.
func TestPublishRenewsIdentityOnOutOfOrder(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 1, nil)
	p := New(Config{Broker: b})
	defer p.closePublish()
	ctx := context.Background()
	if _, err := p.Publish(ctx, "t", []PublishRecord{rec("", "a", 0)}, -1); err != nil {
		t.Fatal(err)
	}
	pub := p.publisher()
	s := pub.seq("t", 0)
	s.mu.Lock()
	s.next = 42 // as if the records between were lost
	s.mu.Unlock()
	placed, err := p.Publish(ctx, "t", []PublishRecord{rec("", "b", 0)}, -1)
	if err != nil || placed[0].Err != nil || placed[0].Offset != 1 {
		t.Fatalf("after a sequence gap: %+v, %v", placed, err)
	}
	got := storedRecords(t, b, "t", 0)
	if len(got) != 2 || got[0].producerID == got[1].producerID || got[1].sequence != 0 {
		t.Fatalf("stored %+v", got)
	}
}

// Across a restart the pipeline writes under a new producer id: nothing
// stored before is refused or duplicated.
func TestPublishAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	b := openPublishBroker(t, dir)
	createTopic(t, b, "t", 1, nil)
	p := New(Config{Broker: b})
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if pl, err := p.Publish(ctx, "t", []PublishRecord{rec("", fmt.Sprint("a", i), 0)}, -1); err != nil || pl[0].Err != nil || pl[0].Offset != int64(i) {
			t.Fatalf("publish %d: %+v %v", i, pl, err)
		}
	}
	p.closePublish()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openPublishBroker(t, dir)
	defer b.Close()
	p = New(Config{Broker: b})
	defer p.closePublish()
	for i := 0; i < 3; i++ {
		if pl, err := p.Publish(ctx, "t", []PublishRecord{rec("", fmt.Sprint("b", i), 0)}, -1); err != nil || pl[0].Err != nil || pl[0].Offset != int64(5+i) {
			t.Fatalf("publish after restart %d: %+v %v", i, pl, err)
		}
	}
	got := storedRecords(t, b, "t", 0)
	if len(got) != 8 || got[0].producerID == got[5].producerID {
		t.Fatalf("stored %d records, producers %d and %d", len(got), got[0].producerID, got[len(got)-1].producerID)
	}
}

// BenchmarkPublishBeacon: one beacon-sized record per publish, the
// bridge's commonest request (page-cache durability: no fsync wait).
func BenchmarkPublishBeacon(b *testing.B) {
	br, err := localbroker.Open(broker.Config{DataDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OffsetsTopicPartitions: 1, Durability: broker.DurabilityPageCache})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "beacons", Partitions: 8, ReplicationFactor: 1}, false); err != nil {
		b.Fatal(err)
	}
	p := New(Config{Broker: br})
	defer p.closePublish()
	value := []byte(`{"type":"page_view","url":"/products/42","ref":"https://example.com/","ts":1700000000000}`)
	hdrs := []hooks.Header{{Key: "sluice.received_at", Value: []byte("2026-12-06T10:00:00.000Z")},
		{Key: "sluice.user_agent", Value: []byte("wrk")}, {Key: "sluice.client_ip", Value: []byte("127.0.0.1")},
		{Key: "content-type", Value: []byte("application/json")}}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			placed, err := p.Publish(ctx, "beacons", []PublishRecord{{Record: hooks.Record{Value: value, Headers: hdrs, Offset: -1}, Partition: -1}}, -1)
			if err != nil || placed[0].Err != nil {
				b.Fatal(err, placed)
			}
		}
	})
}
