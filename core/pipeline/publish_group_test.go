package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

// holdAppends takes topic/part's sequence lock (as an append in flight
// does) and returns a function that waits until n publishes are queued
// behind it, then releases it: the publishes then share appends.
func holdAppends(t *testing.T, p *Pipeline, topic string, part int32, n int) (release func()) {
	t.Helper()
	s := p.publisher().seq(topic, part)
	s.mu.Lock()
	return func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.qmu.Lock()
			queued := len(s.queue)
			s.qmu.Unlock()
			if queued == n {
				break
			}
			if time.Now().After(deadline) {
				s.mu.Unlock()
				t.Fatalf("%d publishes queued, want %d", queued, n)
			}
			time.Sleep(time.Millisecond)
		}
		s.mu.Unlock()
	}
}

// countBatches counts a partition's stored batches.
func countBatches(t *testing.T, p *Pipeline, topic string, part int32) int {
	t.Helper()
	pp, err := p.b.Partition(topic, part)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := pp.Scan(func([]byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// Group commit: N one-record publishes (beacons) that arrive while an
// append is in flight are appended together — one batch, one write — and
// each is answered with its own offset, which holds exactly its record.
func TestPublishGroupCommitSharesOneAppend(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 2, nil)
	p := New(Config{Broker: b})
	defer p.closePublish()
	const n = 16
	pp, err := b.Partition("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !pp.Durable() {
		t.Fatal("the single-node default should fsync before acknowledging")
	}
	release := holdAppends(t, p, "t", 1, n)
	placed := make([]Placed, n)
	errs := make([]error, n)
	committed := make([]bool, n) // the record was below the high watermark when answered
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rec("", fmt.Sprintf("beacon-%02d", i), 1)
			r.Headers = []hooks.Header{{Key: "i", Value: []byte{byte(i)}}}
			var out []Placed
			out, errs[i] = p.Publish(context.Background(), "t", []PublishRecord{r}, -1)
			if errs[i] == nil {
				placed[i] = out[0]
				// fsync mode: the high watermark passes a record only
				// once it is fsynced.
				committed[i] = pp.HighWatermark() > out[0].Offset
			}
		}()
	}
	release()
	wg.Wait()
	offsets := map[int64]int{}
	for i := range n {
		if errs[i] != nil || placed[i].Err != nil {
			t.Fatalf("publish %d: %v %v", i, errs[i], placed[i].Err)
		}
		if placed[i].Partition != 1 || placed[i].Records != 1 || !committed[i] {
			t.Fatalf("publish %d answered %+v", i, placed[i])
		}
		if j, dup := offsets[placed[i].Offset]; dup {
			t.Fatalf("publishes %d and %d both answered offset %d", j, i, placed[i].Offset)
		}
		offsets[placed[i].Offset] = i
	}
	got := storedRecords(t, b, "t", 1)
	if len(got) != n {
		t.Fatalf("stored %d records, want %d", len(got), n)
	}
	for _, r := range got {
		i, ok := offsets[r.Offset]
		if !ok {
			t.Fatalf("offset %d holds %q, answered to nobody", r.Offset, r.Value)
		}
		want := fmt.Sprintf("beacon-%02d", i)
		if string(r.Value) != want || len(r.Headers) != 1 || r.Headers[0].Key != "i" || !bytes.Equal(r.Headers[0].Value, []byte{byte(i)}) {
			t.Fatalf("offset %d holds %q %v, want %s with header i=%d", r.Offset, r.Value, r.Headers, want, i)
		}
		if r.Timestamp <= 0 {
			t.Fatalf("offset %d has timestamp %d", r.Offset, r.Timestamp)
		}
	}
	// One batch for all of them: they shared one append.
	if nb := countBatches(t, p, "t", 1); nb != 1 {
		t.Fatalf("%d batches for %d grouped publishes, want 1", nb, n)
	}
	if got := storedRecords(t, b, "t", 0); len(got) != 0 {
		t.Fatalf("partition 0 holds %d records", len(got))
	}
	// The next publish continues the sequence after the group's.
	out, err := p.Publish(context.Background(), "t", []PublishRecord{rec("", "after", 1)}, -1)
	if err != nil || out[0].Err != nil || out[0].Offset != n {
		t.Fatalf("publish after the group: %v %+v", err, out)
	}
	all := storedRecords(t, b, "t", 1)
	if last := all[len(all)-1]; last.sequence != n || last.producerID != all[0].producerID {
		t.Fatalf("record after the group: producer %d sequence %d", last.producerID, last.sequence)
	}
}

// An append that fails fails every publish of its group, and nothing of
// the group is stored.
func TestPublishGroupCommitFailureFailsEveryRequest(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	// acks=all needs 2 in-sync replicas of a 1-replica topic: every
	// append is refused with NOT_ENOUGH_REPLICAS.
	createTopic(t, b, "strict", 1, map[string]string{"min.insync.replicas": "2"})
	p := New(Config{Broker: b})
	defer p.closePublish()
	const n = 8
	release := holdAppends(t, p, "strict", 0, n)
	placed := make([]Placed, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []Placed
			out, errs[i] = p.Publish(context.Background(), "strict", []PublishRecord{rec("", fmt.Sprint(i), -1)}, -1)
			if errs[i] == nil {
				placed[i] = out[0]
			}
		}()
	}
	release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publish %d: request error %v", i, errs[i])
		}
		if !errors.Is(placed[i].Err, partition.ErrNotEnoughReplicas) || placed[i].Offset != -1 || placed[i].Records != 0 {
			t.Fatalf("publish %d answered %+v, want NOT_ENOUGH_REPLICAS", i, placed[i])
		}
	}
	if got := storedRecords(t, b, "strict", 0); len(got) != 0 {
		t.Fatalf("stored %d records of failed publishes", len(got))
	}
	// acks=1 does not need the ISR: the partition takes records again,
	// from sequence 0 (nothing of the failed group was written).
	out, err := p.Publish(context.Background(), "strict", []PublishRecord{rec("", "ok", 0)}, 1)
	if err != nil || out[0].Err != nil || out[0].Offset != 0 {
		t.Fatalf("acks=1 publish: %v %+v", err, out)
	}
	if got := storedRecords(t, b, "strict", 0); len(got) != 1 || got[0].sequence != 0 || string(got[0].Value) != "ok" {
		t.Fatalf("stored %+v", got)
	}
}

// A publish with other acks than the queued ones is not grouped with
// them: both groups are appended, each answered with its own offsets.
func TestPublishGroupCommitKeepsAcksApart(t *testing.T) {
	b := openPublishBroker(t, t.TempDir())
	defer b.Close()
	createTopic(t, b, "t", 1, nil)
	p := New(Config{Broker: b})
	defer p.closePublish()
	const n = 6
	release := holdAppends(t, p, "t", 0, n)
	placed := make([]Placed, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acks := int16(-1)
			if i%2 == 1 {
				acks = 1
			}
			out, err := p.Publish(context.Background(), "t", []PublishRecord{rec("", fmt.Sprint(i), 0)}, acks)
			if err == nil {
				placed[i] = out[0]
			} else {
				placed[i].Err = err
			}
		}()
	}
	release()
	wg.Wait()
	at := map[int64]string{}
	for _, r := range storedRecords(t, b, "t", 0) {
		at[r.Offset] = string(r.Value)
	}
	if len(at) != n {
		t.Fatalf("stored %d records, want %d", len(at), n)
	}
	for i, pl := range placed {
		if pl.Err != nil || at[pl.Offset] != fmt.Sprint(i) {
			t.Fatalf("publish %d answered %+v, offset holds %q", i, pl, at[pl.Offset])
		}
	}
	if nb := countBatches(t, p, "t", 0); nb != 2 {
		t.Fatalf("%d batches, want 2 (one per acks)", nb)
	}
}

// encodeBatches gives the bytes records.Encode gives for the same
// records (the encoder the publish path used before), split the same way
// under the limit.
func TestPublishEncodeMatchesRecordsEncode(t *testing.T) {
	recs := []hooks.Record{
		{Key: []byte("k"), Value: []byte("v1"), Timestamp: 1700000000000, Headers: []hooks.Header{{Key: "h", Value: []byte("x")}, {Key: "nil"}}},
		{Value: []byte("v2"), Timestamp: 1700000000005},
		{Key: []byte{}, Value: nil, Timestamp: 1699999999999},
	}
	bytesSum := 0
	for i := range recs {
		bytesSum += recordSize(&recs[i])
	}
	got, err := encodeBatches(recs, bytesSum, 1<<20, 7, 2, 41)
	if err != nil {
		t.Fatal(err)
	}
	rr := make([]records.Record, len(recs))
	for i, r := range recs {
		rr[i] = records.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			rr[i].Headers = append(rr[i].Headers, records.Header{Key: h.Key, Value: h.Value})
		}
	}
	want, err := records.Encode(rr, records.EncodeOptions{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 41})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeBatches:\n%x\nrecords.Encode:\n%x", got, want)
	}
	// Split: a limit that holds two records per batch.
	limit := batchOverhead + recordSize(&recs[0]) + recordSize(&recs[1])
	got, err = encodeBatches(recs, bytesSum, limit, 7, 2, 41)
	if err != nil {
		t.Fatal(err)
	}
	w1, _ := records.Encode(rr[:2], records.EncodeOptions{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 41})
	w2, _ := records.Encode(rr[2:], records.EncodeOptions{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 43})
	if !bytes.Equal(got, append(w1, w2...)) {
		t.Fatalf("split encodeBatches differs from records.Encode")
	}
}
