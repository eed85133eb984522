package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func txnCfg() Config {
	return Config{SegmentBytes: 1 << 20, SegmentMs: -1, RetentionMs: -1, RetentionBytes: -1}
}

// TestAbortedTxnsSearch: the range query, its early stop, duplicates and
// entries outside the log.
func TestAbortedTxnsSearch(t *testing.T) {
	l := openLog(t, t.TempDir(), txnCfg(), OpenOptions{})
	appendAll(t, l, 0, repeatSpec(20, batchSpec{records: 1, firstTs: 1000})...)
	entries := []AbortedTxn{
		{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 2},   // B (2) open meanwhile
		{ProducerID: 2, FirstOffset: 2, LastOffset: 6, LastStableOffset: 7},   // nothing open
		{ProducerID: 3, FirstOffset: 8, LastOffset: 10, LastStableOffset: 11}, // nothing open
		{ProducerID: 4, FirstOffset: 12, LastOffset: 15, LastStableOffset: 16},
	}
	// Added out of order (a replay), and twice.
	for _, i := range []int{1, 0, 3, 2, 1} {
		if err := l.AddAbortedTxn(entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AddAbortedTxn(AbortedTxn{ProducerID: 5, FirstOffset: 1, LastOffset: 20}); err == nil {
		t.Fatal("entry past the log end accepted")
	}
	for _, tc := range []struct {
		from, upTo int64
		want       []int
	}{
		{0, 20, []int{0, 1, 2, 3}},
		{0, 2, []int{0}},     // stops at entry 1 (its LSO 7 >= 2)
		{3, 5, []int{0, 1}},  // both overlap [3,5)
		{5, 8, []int{1}},     // A ended at 4
		{7, 8, nil},          // between transactions
		{9, 13, []int{2, 3}}, // D starts at 12
		{16, 20, nil},
	} {
		var want []AbortedTxn
		for _, i := range tc.want {
			want = append(want, entries[i])
		}
		if got := l.AbortedTxns(tc.from, tc.upTo); !slices.Equal(got, want) {
			t.Errorf("[%d,%d): %+v, want %+v", tc.from, tc.upTo, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(l.Dir(), "00000000000000000000.txnindex")); err != nil || fi.Size() != 4*txnEntrySize {
		t.Fatalf("index file: %v %v", fi, err)
	}
}

// TestTxnIndexCutWithLog: truncation and crash recovery drop the entries
// whose marker is cut; what remains survives a reopen.
func TestTxnIndexCutWithLog(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, txnCfg(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bs := appendAll(t, l, 0, repeatSpec(8, batchSpec{records: 1, firstTs: 1000})...)
	for _, e := range []AbortedTxn{{1, 0, 2, 3}, {2, 3, 4, 5}, {3, 5, 6, 7}} {
		if err := l.AddAbortedTxn(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Truncate(6); err != nil { // the third marker goes
		t.Fatal(err)
	}
	if got := l.AbortedTxns(0, 10); len(got) != 2 {
		t.Fatalf("after truncation: %+v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash that tore the log after offset 3 (the second marker at 4
	// is lost; the index file still has it).
	logPath := filepath.Join(dir, "00000000000000000000.log")
	var keep int64
	for _, b := range bs[:4] {
		keep += int64(len(b.bytes))
	}
	if err := os.Truncate(logPath, keep+10); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, txnCfg(), OpenOptions{Recover: true})
	if l.NextOffset() != 4 {
		t.Fatalf("next offset %d after recovery, want 4", l.NextOffset())
	}
	if got, want := l.AbortedTxns(0, 10), []AbortedTxn{{1, 0, 2, 3}}; !slices.Equal(got, want) {
		t.Fatalf("after recovery: %+v", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "00000000000000000000.txnindex")); err != nil || fi.Size() != txnEntrySize {
		t.Fatalf("index file after recovery: %v %v", fi, err)
	}
}

// TestTxnIndexSurvivesCompaction: a cleaned segment keeps its aborted
// transactions (its .txnindex is not part of the swap).
func TestTxnIndexSurvivesCompaction(t *testing.T) {
	dir := t.TempDir()
	cfg := txnCfg()
	cfg.SegmentBytes = 1 // one batch per segment
	l := openLog(t, dir, cfg, OpenOptions{})
	// Keys k0 (0), k0 k1 (1-2), k0 (3), k0 (4, active segment).
	appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1000}, batchSpec{records: 2, firstTs: 1000},
		batchSpec{records: 1, firstTs: 1000}, batchSpec{records: 1, firstTs: 1000})
	e := AbortedTxn{ProducerID: 7, FirstOffset: 0, LastOffset: 2, LastStableOffset: 3}
	if err := l.AddAbortedTxn(e); err != nil {
		t.Fatal(err)
	}
	st, err := l.Compact(CompactOptions{MaxOffset: l.NextOffset(), MinCleanableDirtyRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsRemoved == 0 {
		t.Fatalf("nothing compacted: %+v", st)
	}
	if got := l.AbortedTxns(0, 10); !slices.Equal(got, []AbortedTxn{e}) {
		t.Fatalf("after compaction: %+v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, OpenOptions{})
	if got := l.AbortedTxns(0, 10); !slices.Equal(got, []AbortedTxn{e}) {
		t.Fatalf("after reopening: %+v", got)
	}
}
