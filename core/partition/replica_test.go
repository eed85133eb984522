package partition

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

func openReplica(t *testing.T, self int32) *Partition {
	t.Helper()
	cfg := Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          self,
	}
	p, err := Open("t", 0, t.TempDir(), cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// produce appends n one-record batches to a leader.
func produce(t *testing.T, p *Partition, n int, tag string) {
	t.Helper()
	for i := 0; i < n; i++ {
		b, err := records.Encode([]records.Record{{Value: []byte(tag + strconv.Itoa(i))}}, records.Plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Append(b); err != nil {
			t.Fatal(err)
		}
	}
}

// fetch is what a follower's fetch from offset gets from leader.
func fetch(t *testing.T, leader *Partition, replica int32, offset int64) ([]byte, int64) {
	t.Helper()
	res, _, err := leader.ReplicaFetch(replica, offset, 1<<20)
	if err != nil {
		t.Fatalf("replica fetch at %d: %v", offset, err)
	}
	if res.Chunk.Size == 0 {
		return nil, res.HighWatermark
	}
	b, err := res.Chunk.ReadAll()
	res.Chunk.Release()
	if err != nil {
		t.Fatal(err)
	}
	return b, res.HighWatermark
}

// TestStaleFetchAnswerNotAppended: the answer to a fetch sent to the old
// leader, arriving after leadership moved and the follower truncated for
// the new epoch, must not land in the log. It used to, leaving the
// follower one record past where the new leader's next batch starts
// ("replicated batch does not start at our log end (batch_base=3365
// log_end=3366)") and unable to catch up again, or, when the batches
// lined up, with a silently different record in its log.
func TestStaleFetchAnswerNotAppended(t *testing.T) {
	oldLeader, newLeader, f := openReplica(t, 1), openReplica(t, 2), openReplica(t, 3)
	replicas := []int32{1, 2, 3}
	oldLeader.BecomeLeader(1, replicas, replicas)
	newLeader.BecomeFollower(1, 1, replicas)
	f.BecomeFollower(1, 1, replicas)

	// Epoch 1: three records replicated everywhere.
	produce(t, oldLeader, 3, "a")
	b, hw := fetch(t, oldLeader, 2, 0)
	if err := newLeader.FollowerAppend(1, b, hw); err != nil {
		t.Fatal(err)
	}
	if err := f.FollowerAppend(1, b, hw); err != nil {
		t.Fatal(err)
	}
	// The old leader appends a fourth record; f's fetch for it is in
	// flight (answered, not yet applied) when leadership moves.
	produce(t, oldLeader, 1, "lost")
	stale, staleHW := fetch(t, oldLeader, 3, 3)

	newLeader.BecomeLeader(2, replicas, []int32{2, 3})
	f.BecomeFollower(2, 2, replicas)
	// f's divergence check against the new leader: nothing to cut.
	if _, end := newLeader.EndOffsetForEpoch(f.LatestEpoch()); end != 3 {
		t.Fatalf("new leader's end of epoch 1 = %d, want 3", end)
	}
	if err := f.TruncateTo(2, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.FollowerAppend(1, stale, staleHW); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale answer: got %v, want ErrStaleEpoch", err)
	}
	if err := f.TruncateTo(1, 0); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale truncation: got %v, want ErrStaleEpoch", err)
	}
	if end := f.LogEndOffset(); end != 3 {
		t.Fatalf("follower log end %d after the stale answer, want 3", end)
	}

	// The new leader's own batch (two records) replicates cleanly.
	b2, err := records.Encode([]records.Record{{Value: []byte("b0")}, {Value: []byte("b1")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newLeader.Append(b2); err != nil {
		t.Fatal(err)
	}
	b, hw = fetch(t, newLeader, 3, 3)
	if err := f.FollowerAppend(2, b, hw); err != nil {
		t.Fatalf("new leader's batch: %v", err)
	}
	if end := f.LogEndOffset(); end != 5 {
		t.Fatalf("follower log end %d, want 5", end)
	}
}

// TestFollowerAppendReplacesDivergedTail: a batch straddling our log end
// means our tail differs from the leader's; the leader's batch replaces it
// (it used to be refused forever: "replicated batch does not start at our
// log end", and the follower never caught up again).
func TestFollowerAppendReplacesDivergedTail(t *testing.T) {
	leader, f := openReplica(t, 1), openReplica(t, 2)
	replicas := []int32{1, 2}
	leader.BecomeLeader(1, replicas, replicas)
	b2, err := records.Encode([]records.Record{{Value: []byte("x")}, {Value: []byte("y")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Append(b2); err != nil {
		t.Fatal(err)
	}
	// f holds one record of its own at offset 0 (an old leader's tail).
	f.BecomeLeader(0, replicas, []int32{2})
	produce(t, f, 1, "own")
	f.BecomeFollower(1, 1, replicas)
	b, hw := fetch(t, leader, 2, 0)
	if err := f.FollowerAppend(1, b, hw); err != nil {
		t.Fatalf("straddling batch: %v", err)
	}
	if end := f.LogEndOffset(); end != 2 {
		t.Fatalf("log end %d, want 2", end)
	}
	got, _ := fetchAs(t, f, 0)
	if string(got) != string(b) {
		t.Fatal("follower log differs from the leader's")
	}
}

// fetchAs reads a follower's whole log as stored.
func fetchAs(t *testing.T, p *Partition, from int64) ([]byte, error) {
	t.Helper()
	c, err := p.log.Read(from, 1<<20, p.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	return c.ReadAll()
}

// TestISRExpandsOnCatchingUpFetch: the fetch that brings an out-of-ISR
// follower up to the high watermark wakes the ISR loop at once, and the
// proposal adds it.
func TestISRExpandsOnCatchingUpFetch(t *testing.T) {
	p := openReplica(t, 1)
	var wakes atomic.Int32
	p.SetISRWaker(func() { wakes.Add(1) })
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1})
	produce(t, p, 5, "r")
	if _, ok := p.ISRProposal(time.Minute); ok {
		t.Fatal("ISR change proposed before any follower fetched")
	}
	fetch(t, p, 2, 2) // behind: no wake
	if n := wakes.Load(); n != 0 {
		t.Fatalf("%d wakes for a follower still behind", n)
	}
	fetch(t, p, 2, 5) // caught up
	if n := wakes.Load(); n != 1 {
		t.Fatalf("%d wakes after the catching-up fetch, want 1", n)
	}
	isr, ok := p.ISRProposal(time.Minute)
	if !ok || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("proposal %v (change %v), want [1 2]", isr, ok)
	}
}

// TestFollowerUnderLoadStaysInSync: a follower that keeps fetching from
// where our log ended at its previous fetch is in sync even though new
// records always arrived in between (steady produce load); it used to
// count as caught up only when a fetch found it exactly at our current
// end, and left the ISR under load with no fault.
func TestFollowerUnderLoadStaysInSync(t *testing.T) {
	p := openReplica(t, 1)
	now := time.Unix(1000, 0)
	p.now = func() time.Time { return now }
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	off := int64(0)
	for i := 0; i < 20; i++ {
		produce(t, p, 1, "r") // new records before every fetch
		fetch(t, p, 2, off)   // from where our log ended at its previous fetch
		off = p.LogEndOffset()
		now = now.Add(time.Second)
	}
	if isr, ok := p.ISRProposal(5 * time.Second); ok {
		t.Fatalf("follower dropped from the ISR under steady load: proposal %v", isr)
	}
}

// TestTruncationDropsProducerSnapshot: a producer snapshot that covers
// batches a truncation cut must not come back: after the log grows past
// the snapshot's offset again, a restart would load it and answer a retry
// of a cut batch as a duplicate, acknowledging it at the offset of some
// other record.
func TestTruncationDropsProducerSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Log:             storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, BrokerID: 2,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := Open("t", 0, dir, cfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	seqBatch := func(seq int32, v string) []byte {
		b, err := records.Encode([]records.Record{{Value: []byte(v)}}, records.EncodeOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// As leader of epoch 1, f takes seq 0..2 at offsets 0..2 and flushes
	// (snapshot as of offset 3).
	f.BecomeLeader(1, []int32{2}, []int32{2})
	for i := int32(0); i < 3; i++ {
		if _, err := f.Append(seqBatch(i, "v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	// A new leader did not have offset 2: f truncates there, then
	// replicates two other records (offsets 2, 3), passing the snapshot.
	other := openReplica(t, 3)
	other.BecomeLeader(2, []int32{2, 3}, []int32{3})
	produce(t, other, 4, "o")
	f.BecomeFollower(2, 3, []int32{2, 3})
	if err := f.TruncateTo(2, 2); err != nil {
		t.Fatal(err)
	}
	b, hw := fetch(t, other, 2, 2)
	if err := f.FollowerAppend(2, b, hw); err != nil {
		t.Fatal(err)
	}
	// kill -9 (no clean close, no final snapshot) and restart; f leads
	// again and the producer retries seq 2.
	crashed := f
	defer crashed.Close()
	f, err = Open("t", 0, dir, cfg, true, logger)
	if err != nil {
		t.Fatal(err)
	}
	f.BecomeLeader(3, []int32{2}, []int32{2})
	res, err := f.Append(seqBatch(2, "retry"))
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 4 {
		t.Fatalf("retried batch answered at offset %d, want appended at 4 (offset 2 holds another record)", res.BaseOffset)
	}
}
