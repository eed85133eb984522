package partition

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// txnHdr is a transactional data batch header.
func txnHdr(pid int64, epoch int16, seq, n int32, base int64) storage.BatchHeader {
	h := hdr(pid, epoch, seq, n, base)
	h.Attributes |= attrTransactional
	return h
}

// TestTxnProducerState walks producer state through transactional
// batches and markers: open transactions, the LSO bound (firstOpen),
// fencing and marker no-ops.
func TestTxnProducerState(t *testing.T) {
	type op struct {
		name string
		// A data batch (marker false) or a marker.
		h          storage.BatchHeader
		marker     bool
		commit     bool
		coordEpoch int32
		wantErr    error // check's (or checkMarker's) answer
		wantWrite  bool  // markers: whether a control batch is written
		wantFirst  int64 // firstOpen afterwards
	}
	for _, tc := range []struct {
		name string
		ops  []op
	}{
		{"commit closes", []op{
			{name: "open A", h: txnHdr(1, 0, 0, 3, 0), wantFirst: 0},
			{name: "more of A", h: txnHdr(1, 0, 3, 2, 3), wantFirst: 0},
			{name: "commit A", h: hdr(1, 0, -1, 1, 5), marker: true, commit: true, wantWrite: true, wantFirst: -1},
			{name: "retried commit", h: hdr(1, 0, -1, 1, 6), marker: true, commit: true, wantFirst: -1},
			{name: "next transaction continues the sequence", h: txnHdr(1, 0, 5, 1, 6), wantFirst: 6},
		}},
		{"LSO is the oldest open", []op{
			{name: "open A", h: txnHdr(1, 0, 0, 1, 0), wantFirst: 0},
			{name: "open B", h: txnHdr(2, 0, 0, 1, 1), wantFirst: 0},
			{name: "abort A", h: hdr(1, 0, -1, 1, 2), marker: true, wantWrite: true, wantFirst: 1},
			{name: "plain batch", h: hdr(-1, -1, -1, 1, 3), wantFirst: 1},
			{name: "commit B", h: hdr(2, 0, -1, 1, 4), marker: true, commit: true, wantWrite: true, wantFirst: -1},
		}},
		{"fencing", []op{
			{name: "open A", h: txnHdr(1, 0, 0, 1, 0), wantFirst: 0},
			{name: "non-transactional in a transaction", h: hdr(1, 0, 1, 1, 1), wantErr: ErrTxnOpen, wantFirst: 0},
			{name: "abort at a bumped epoch", h: hdr(1, 1, -1, 1, 1), marker: true, coordEpoch: 3, wantWrite: true, wantFirst: -1},
			{name: "old epoch data", h: txnHdr(1, 0, 1, 1, 2), wantErr: ErrStaleProducerEpoch, wantFirst: -1},
			{name: "old epoch marker", h: hdr(1, 0, -1, 1, 2), marker: true, coordEpoch: 3, wantErr: ErrStaleProducerEpoch, wantFirst: -1},
			{name: "old coordinator", h: hdr(1, 1, -1, 1, 2), marker: true, coordEpoch: 2, wantErr: ErrCoordinatorFenced, wantFirst: -1},
			{name: "new epoch starts at 0", h: txnHdr(1, 1, 0, 1, 2), wantFirst: 2},
		}},
		{"marker for an unknown producer", []op{
			{name: "first marker", h: hdr(9, 4, -1, 1, 0), marker: true, wantWrite: true, wantFirst: -1},
			{name: "retry", h: hdr(9, 4, -1, 1, 1), marker: true, wantFirst: -1},
			{name: "older epoch", h: txnHdr(9, 3, 0, 1, 1), wantErr: ErrStaleProducerEpoch, wantFirst: -1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProducers()
			for _, o := range tc.ops {
				if o.marker {
					write, err := p.checkMarker(o.h.ProducerID, o.h.ProducerEpoch, o.coordEpoch)
					if !errors.Is(err, o.wantErr) || (err == nil && write != o.wantWrite) {
						t.Fatalf("%s: write %v err %v, want %v %v", o.name, write, err, o.wantWrite, o.wantErr)
					}
					if write {
						o.h.Attributes = attrTransactional | attrControl
						p.recordMarker(o.h, markerInfo{commit: o.commit, coordEpoch: o.coordEpoch})
					}
				} else {
					err := p.check(o.h)
					if !errors.Is(err, o.wantErr) {
						t.Fatalf("%s: check %v, want %v", o.name, err, o.wantErr)
					}
					if err == nil {
						p.record(o.h)
					}
				}
				if got := p.firstOpen(); got != o.wantFirst {
					t.Fatalf("%s: first open %d, want %d", o.name, got, o.wantFirst)
				}
			}
		})
	}
}

func TestMarkerEncoding(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := encodeMarker(7, 3, 11, commit, 1234)
		h, err := storage.ValidateBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.ProducerID != 7 || h.ProducerEpoch != 3 || h.NumRecords != 1 {
			t.Fatalf("header %+v", h)
		}
		m, err := decodeMarker(h, b)
		if err != nil || m.commit != commit || m.coordEpoch != 11 {
			t.Fatalf("decoded %+v %v", m, err)
		}
	}
}

// txnRecords is a transactional batch of values.
func txnRecords(t *testing.T, pid int64, epoch int16, seq int32, values ...string) []byte {
	t.Helper()
	recs := make([]records.Record, len(values))
	for i, v := range values {
		recs[i] = records.Record{Value: []byte(v)}
	}
	b, err := records.Encode(recs, records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	markTransactional(b)
	return b
}

func mustAppend(t *testing.T, p *Partition, b []byte) int64 {
	t.Helper()
	res, err := p.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset
}

func mustMarker(t *testing.T, p *Partition, pid int64, epoch int16, commit bool) int64 {
	t.Helper()
	res, err := p.WriteTxnMarker(TxnMarker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit})
	if err != nil {
		t.Fatal(err)
	}
	return res.BaseOffset
}

// readCommitted returns the last offset read_committed reads from 0 and
// the aborted transactions it is told about.
func readCommitted(t *testing.T, p *Partition) (last int64, lso int64, aborted []storage.AbortedTxn) {
	t.Helper()
	rr, err := p.ReadIsolated(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rr.Chunk.Release()
	last = -1
	if rr.Chunk.Size > 0 {
		last = rr.Chunk.LastOffset
	}
	return last, rr.LastStableOffset, rr.Aborted
}

// TestTxnLSOAndAbortedIndex: the leader's LSO and aborted index, and a
// follower replicating them (FollowerAppend), then truncating a marker
// away (the transaction reopens, its abort entry goes).
func TestTxnLSOAndAbortedIndex(t *testing.T) {
	leader := openReplica(t, 0)
	leader.BecomeLeader(1, []int32{0, 1}, []int32{0})
	mustAppend(t, leader, txnRecords(t, 1, 0, 0, "a0", "a1")) // 0-1
	mustAppend(t, leader, txnRecords(t, 2, 0, 0, "b0"))       // 2
	produce(t, leader, 1, "p")                                // 3
	if lso := leader.LastStableOffset(); lso != 0 {
		t.Fatalf("LSO %d with A open at 0", lso)
	}
	if last, _, _ := readCommitted(t, leader); last != -1 {
		t.Fatalf("read_committed read up to %d with A open at 0", last)
	}
	if off := mustMarker(t, leader, 1, 0, false); off != 4 { // abort A
		t.Fatalf("abort marker at %d", off)
	}
	want := []storage.AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 2}}
	if last, lso, ab := readCommitted(t, leader); last != 1 || lso != 2 || !slices.Equal(ab, want) {
		t.Fatalf("after abort A: last %d lso %d aborted %+v", last, lso, ab)
	}
	if off := mustMarker(t, leader, 2, 0, true); off != 5 { // commit B
		t.Fatalf("commit marker at %d", off)
	}
	if last, lso, ab := readCommitted(t, leader); last != 5 || lso != 6 || !slices.Equal(ab, want) {
		t.Fatalf("after commit B: last %d lso %d aborted %+v", last, lso, ab)
	}
	// A range after the abort's marker has no aborted transactions.
	if ab := leader.AbortedTxns(5, 6); len(ab) != 0 {
		t.Fatalf("aborted in [5,6): %+v", ab)
	}

	follower := openReplica(t, 1)
	follower.BecomeFollower(1, 0, []int32{0, 1})
	data, hw := fetch(t, leader, 1, 0)
	if err := follower.FollowerAppend(1, data, hw); err != nil {
		t.Fatal(err)
	}
	if ab := follower.AbortedTxns(0, 6); !slices.Equal(ab, want) {
		t.Fatalf("follower's aborted index %+v", ab)
	}
	if open := follower.OpenTxns(); len(open) != 0 {
		t.Fatalf("follower's open transactions %v", open)
	}
	// Cut the abort marker (and what follows): A is open again.
	if err := follower.TruncateTo(1, 4); err != nil {
		t.Fatal(err)
	}
	if ab := follower.AbortedTxns(0, 6); len(ab) != 0 {
		t.Fatalf("aborted index after truncating the marker: %+v", ab)
	}
	if open := follower.OpenTxns(); open[1] != 0 || open[2] != 2 || len(open) != 2 {
		t.Fatalf("open transactions after truncation %v", open)
	}
}

// TestTxnIndexLeavesWithSegment: retention deletes a segment's .txnindex
// with it; a clean reopen keeps the entries of the segments that remain.
func TestTxnIndexLeavesWithSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Log:               storage.Config{SegmentBytes: 1, SegmentMs: -1, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := Open("t", 0, dir, cfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	// One batch per segment: A 0, abort 1, B 2, abort 3, plain 4.
	mustAppend(t, p, txnRecords(t, 1, 0, 0, "a"))
	mustMarker(t, p, 1, 0, false)
	mustAppend(t, p, txnRecords(t, 2, 0, 0, "b"))
	mustMarker(t, p, 2, 0, false)
	produce(t, p, 1, "p")
	idx := func() []string {
		files, _ := filepath.Glob(filepath.Join(dir, "*.txnindex"))
		for i, f := range files {
			files[i] = filepath.Base(f)
		}
		return files
	}
	if got := idx(); !slices.Equal(got, []string{"00000000000000000001.txnindex", "00000000000000000003.txnindex"}) {
		t.Fatalf("index files %v", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if p, err = Open("t", 0, dir, cfg, false, logger); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if ab := p.AbortedTxns(0, 5); len(ab) != 2 || ab[0].ProducerID != 1 || ab[1].ProducerID != 2 {
		t.Fatalf("aborted after reopen %+v", ab)
	}
	// Delete the first three segments (offsets 0-2).
	if _, err := p.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if got := idx(); !slices.Equal(got, []string{"00000000000000000003.txnindex"}) {
		t.Fatalf("index files after deleting segments %v", got)
	}
	if ab := p.AbortedTxns(3, 5); len(ab) != 1 || ab[0].ProducerID != 2 {
		t.Fatalf("aborted after deletion %+v", ab)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000001.log")); !os.IsNotExist(err) {
		t.Fatalf("segment 1 still there: %v", err)
	}
}

// TestTxnConcurrent: producers committing and aborting, read_committed
// reads and flushes at once (run with -race); afterwards every abort is
// indexed and nothing is left open.
func TestTxnConcurrent(t *testing.T) {
	p := openReplica(t, 0)
	const producers, txns = 4, 50
	done := make(chan struct{})
	errs := make(chan error, producers+2)
	for i := 0; i < producers; i++ {
		go func(pid int64) {
			seq := int32(0)
			for n := 0; n < txns; n++ {
				for j := 0; j < 3; j++ {
					recs := []records.Record{{Value: []byte("v")}}
					b, err := records.Encode(recs, records.EncodeOptions{ProducerID: pid, BaseSequence: seq})
					if err != nil {
						errs <- err
						return
					}
					markTransactional(b)
					seq++
					if _, err := p.Append(b); err != nil {
						errs <- err
						return
					}
				}
				if _, err := p.WriteTxnMarker(TxnMarker{ProducerID: pid, Commit: n%2 == 0}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(int64(i + 1))
	}
	for _, fn := range []func() error{
		func() error {
			rr, err := p.ReadIsolated(0, 1<<20, true)
			rr.Chunk.Release()
			return err
		},
		p.Flush,
	} {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if err := fn(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < producers; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := len(p.AbortedTxns(0, p.LogEndOffset())); got != producers*txns/2 {
		t.Fatalf("%d aborts indexed, want %d", got, producers*txns/2)
	}
	if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw || hw != p.LogEndOffset() || len(p.OpenTxns()) != 0 {
		t.Fatalf("lso %d hw %d end %d open %v", lso, hw, p.LogEndOffset(), p.OpenTxns())
	}
}

// TestAppendForProducer: a coordinator's batch for a producer (sequence
// -1) opens its transaction, is fenced by epoch, and leaves the producer's
// own sequence tracking alone.
func TestAppendForProducer(t *testing.T) {
	p := openReplica(t, 0)
	coordBatch := func(pid int64, epoch int16, seq int32) []byte {
		b, err := records.Encode([]records.Record{{Key: []byte("k"), Value: []byte("v")}}, records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
		if err != nil {
			t.Fatal(err)
		}
		markTransactional(b)
		return b
	}
	mustAppend(t, p, txnRecords(t, 5, 1, 0, "own")) // 0: the producer's own batch, seq 0
	res, err := p.AppendForProducer(coordBatch(5, 1, -1))
	if err != nil || res.BaseOffset != 1 {
		t.Fatalf("coordinator batch: %d %v", res.BaseOffset, err)
	}
	if open := p.OpenTxns(); open[5] != 0 {
		t.Fatalf("open %v", open)
	}
	// The producer's next batch still continues its own sequence.
	if _, err := p.Append(txnRecords(t, 5, 1, 1, "own2")); err != nil {
		t.Fatalf("own batch after a coordinator batch: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"stale epoch", coordBatch(5, 0, -1), ErrStaleProducerEpoch},
		{"with a sequence", coordBatch(5, 1, 3), ErrInvalidRecord},
		{"no producer", coordBatch(-1, -1, -1), ErrInvalidRecord},
	} {
		if _, err := p.AppendForProducer(tc.b); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	mustMarker(t, p, 5, 1, true)
	if lso := p.LastStableOffset(); lso != p.LogEndOffset() {
		t.Fatalf("LSO %d after commit, log end %d", lso, p.LogEndOffset())
	}
}
