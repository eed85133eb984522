package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/core/txn"
)

func openOffsetsPartition(t *testing.T, dir string) *partition.Partition {
	t.Helper()
	pcfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          1,
	}
	p, err := partition.Open(OffsetsTopic, 0, dir, pcfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	p.BecomeLeader(1, []int32{1}, []int32{1})
	return p
}

func newTxnCoordinator(t *testing.T, p *partition.Partition) *Coordinator {
	t.Helper()
	c, err := New(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: NewManualClock(time.Unix(1_700_000_000, 0))},
		NewStore(1, func(int32) (*partition.Partition, error) { return p, nil }))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func offsetOf(t *testing.T, c *Coordinator, g string, tp TopicPartition) int64 {
	t.Helper()
	offs, code := c.FetchOffsets(g, []TopicPartition{tp})
	if code != 0 {
		t.Fatalf("fetch offsets: %d", code)
	}
	if o, ok := offs[tp]; ok {
		return o.Offset
	}
	return -1
}

// TestTxnOffsetsVisibleOnCommitMarker: transactional offsets are pending
// (unstable) until the producer's commit marker, dropped on abort, and a
// plain commit written after the transactional one wins.
func TestTxnOffsetsVisibleOnCommitMarker(t *testing.T) {
	p := openOffsetsPartition(t, t.TempDir())
	defer p.Close()
	c := newTxnCoordinator(t, p)
	defer c.Close()
	tp := TopicPartition{"in", 0}
	commit := func(pid int64, epoch int16, off int64) {
		t.Helper()
		codes := c.TxnCommit(TxnCommitRequest{GroupID: "g", ProducerID: pid, ProducerEpoch: epoch, Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: off}}})
		if codes[tp] != 0 {
			t.Fatalf("txn commit %d: code %d", off, codes[tp])
		}
	}
	marker := func(pid int64, epoch int16, ok bool) {
		c.TxnMarker(txn.Marker{Topic: OffsetsTopic, Partition: 0, ProducerID: pid, ProducerEpoch: epoch, Commit: ok})
	}
	commit(7, 0, 10)
	if got := offsetOf(t, c, "g", tp); got != -1 {
		t.Fatalf("visible before the marker: %d", got)
	}
	if !c.PendingTxnOffsets("g")[tp] {
		t.Fatal("not pending before the marker")
	}
	marker(7, 0, true)
	if got := offsetOf(t, c, "g", tp); got != 10 {
		t.Fatalf("after commit marker: %d, want 10", got)
	}
	if len(c.PendingTxnOffsets("g")) != 0 {
		t.Fatal("still pending after the marker")
	}
	marker(7, 0, true) // a retried marker changes nothing
	// Second transaction of the same producer, aborted.
	commit(7, 0, 20)
	marker(7, 1, false)
	if got := offsetOf(t, c, "g", tp); got != 10 {
		t.Fatalf("after abort: %d, want 10", got)
	}
	// The next epoch's transaction, committed after a plain commit.
	commit(7, 1, 30)
	c.Commit(CommitRequest{GroupID: "g", Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: 40}}})
	marker(7, 1, true)
	if got := offsetOf(t, c, "g", tp); got != 40 {
		t.Fatalf("plain commit after the txn one: %d, want 40", got)
	}
}

func TestTxnCommitMemberChecks(t *testing.T) {
	p := openOffsetsPartition(t, t.TempDir())
	defer p.Close()
	c := newTxnCoordinator(t, p)
	defer c.Close()
	tp := TopicPartition{"in", 0}
	for _, tc := range []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"unknown member", "m-1", -1, kerr.UnknownMemberID.Code},
		{"wrong generation", "", 3, kerr.IllegalGeneration.Code},
		{"no member (v0-v2)", "", -1, 0},
		{"generation 0 of a new group", "", 0, 0},
	} {
		codes := c.TxnCommit(TxnCommitRequest{GroupID: "g", ProducerID: 9, ProducerEpoch: 0, MemberID: tc.member, Generation: tc.gen, Offsets: map[TopicPartition]Offset{tp: {Offset: 1}}})
		if codes[tp] != tc.want {
			t.Errorf("%s: code %d, want %d", tc.name, codes[tp], tc.want)
		}
	}
	if codes := c.TxnCommit(TxnCommitRequest{GroupID: "", Offsets: map[TopicPartition]Offset{tp: {}}}); codes[tp] != kerr.InvalidGroupID.Code {
		t.Errorf("empty group: %d", codes[tp])
	}
}

// TestTxnOffsetsReplay: reloading __consumer_offsets honours transactional
// batches and control markers: committed transactions' offsets are back,
// aborted ones are not, and a transaction without its marker yet is
// still pending (and becomes visible when the marker lands).
func TestTxnOffsetsReplay(t *testing.T) {
	dir := t.TempDir()
	p := openOffsetsPartition(t, dir)
	c := newTxnCoordinator(t, p)
	a, b, d := TopicPartition{"in", 0}, TopicPartition{"in", 1}, TopicPartition{"in", 2}
	commit := func(pid int64, tp TopicPartition, off int64) {
		t.Helper()
		codes := c.TxnCommit(TxnCommitRequest{GroupID: "g", ProducerID: pid, ProducerEpoch: 0, Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: off}}})
		if codes[tp] != 0 {
			t.Fatalf("txn commit pid %d: %d", pid, codes[tp])
		}
	}
	mark := func(pid int64, ok bool) {
		t.Helper()
		m := partition.TxnMarker{ProducerID: pid, ProducerEpoch: 0, Commit: ok}
		if _, err := p.WriteTxnMarker(m); err != nil {
			t.Fatalf("marker: %v", err)
		}
		c.TxnMarker(txn.Marker{Topic: OffsetsTopic, Partition: 0, ProducerID: pid, ProducerEpoch: 0, Commit: ok})
	}
	commit(1, a, 11)
	commit(2, b, 22)
	commit(3, d, 33)
	commit(1, a, 12) // same producer, same transaction: the later one counts
	mark(1, true)
	mark(2, false)
	c.Close()
	p.Close()

	p = openOffsetsPartition(t, dir)
	defer p.Close()
	c = newTxnCoordinator(t, p)
	defer c.Close()
	for tp, want := range map[TopicPartition]int64{a: 12, b: -1, d: -1} {
		if got := offsetOf(t, c, "g", tp); got != want {
			t.Errorf("after reload %v: %d, want %d", tp, got, want)
		}
	}
	if pend := c.PendingTxnOffsets("g"); len(pend) != 1 || !pend[d] {
		t.Fatalf("pending after reload: %v", pend)
	}
	// Producer 3 goes on after the reload.
	commit(3, d, 34)
	mark(3, true)
	if got := offsetOf(t, c, "g", d); got != 34 {
		t.Fatalf("after the late commit marker: %d, want 34", got)
	}
	// A marker of a newer epoch fences the producer's older epoch here.
	if _, err := p.WriteTxnMarker(partition.TxnMarker{ProducerID: 3, ProducerEpoch: 1, Commit: false}); err != nil {
		t.Fatal(err)
	}
	codes := c.TxnCommit(TxnCommitRequest{GroupID: "g", ProducerID: 3, ProducerEpoch: 0, Generation: -1, Offsets: map[TopicPartition]Offset{d: {Offset: 99}}})
	if codes[d] != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("zombie txn commit: code %d, want INVALID_PRODUCER_EPOCH", codes[d])
	}
	if pend := c.PendingTxnOffsets("g"); len(pend) != 0 {
		t.Fatalf("a refused commit left pending offsets: %v", pend)
	}
}
