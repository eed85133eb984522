package storage

import (
	"slices"
	"testing"
)

func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	l, bs := fiveSegments(t, dir, Config{IndexIntervalBytes: 300}, OpenOptions{}, 1000)
	cfg := l.Config()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}

	// No-ops at and past the end.
	if err := l.Truncate(60); err != nil || l.NextOffset() != 60 {
		t.Fatalf("truncate at end: %v, next %d", err, l.NextOffset())
	}
	// Inside batch 14 (42..44), in segment 3: the whole batch goes and so
	// does segment 4.
	if err := l.Truncate(43); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.NextOffset != 42 || st.Segments != 4 || st.RecoveryPoint != 42 || st.Size != int64(len(concat(bs[:14]))) {
		t.Fatalf("stats %+v", st)
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000000.log", "00000000000000000012.log", "00000000000000000024.log", "00000000000000000036.log"}) {
		t.Fatalf("files %v", got)
	}
	if got := segmentFiles(t, dir, ".index"); len(got) != 4 {
		t.Fatalf("index files %v", got)
	}
	if _, err := l.Read(42, 1, 60); err != nil {
		t.Fatalf("read at new end: %v", err)
	}
	if _, err := l.Read(43, 1, 60); err != ErrOffsetOutOfRange {
		t.Fatalf("read past new end: %v", err)
	}
	checkEveryOffset(t, l, bs[:14])

	// Appends continue at the cut; the truncated segment is active again.
	more := appendAll(t, l, 9, batchSpec{records: 2, firstTs: 7, valueLen: 3})
	if more[0].h.BaseOffset != 42 {
		t.Fatalf("append at %d", more[0].h.BaseOffset)
	}
	all := append(slices.Clone(bs[:14]), more...)
	checkEveryOffset(t, l, all)

	// On a batch boundary at a segment start: segment 3 becomes empty.
	if err := l.Truncate(36); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.NextOffset != 36 || st.Segments != 4 || st.Size != int64(len(concat(bs[:12]))) {
		t.Fatalf("stats %+v", st)
	}
	checkEveryOffset(t, l, bs[:12])

	// Survives clean and recovering reopens.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, recover := range []bool{false, true} {
		l = openLog(t, dir, cfg, OpenOptions{Recover: recover})
		if l.NextOffset() != 36 {
			t.Fatalf("recover=%v: next %d", recover, l.NextOffset())
		}
		checkEveryOffset(t, l, bs[:12])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Truncating below the log start restarts the log there.
	l = openLog(t, dir, cfg, OpenOptions{})
	if err := l.DeleteRecordsBefore(30); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(31); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.NextOffset != 30 || st.LogStartOffset != 30 || st.Segments != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := l.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.NextOffset != 5 || st.LogStartOffset != 5 || st.Segments != 1 || st.Size != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000005.log"}) {
		t.Fatalf("files %v", got)
	}
	more = appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1, valueLen: 1})
	if more[0].h.BaseOffset != 5 {
		t.Fatalf("append at %d", more[0].h.BaseOffset)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, OpenOptions{Recover: true})
	if st := l.Stats(); st.NextOffset != 6 || st.LogStartOffset != 5 {
		t.Fatalf("reopened %+v", st)
	}
	checkEveryOffset(t, l, more)
}

func TestTruncateKeepsIndexesConsistent(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{IndexIntervalBytes: 200}
	l := openLog(t, dir, cfg, OpenOptions{})
	bs := appendAll(t, l, 0, repeatSpec(40, batchSpec{records: 2, firstTs: 1000, valueLen: 40})...)
	if err := l.Truncate(bs[25].h.BaseOffset); err != nil {
		t.Fatal(err)
	}
	more := appendAll(t, l, 0, repeatSpec(15, batchSpec{records: 2, firstTs: 500_000, valueLen: 40})...)
	all := append(slices.Clone(bs[:25]), more...)
	checkEveryOffset(t, l, all)
	// The rebuilt in-memory index equals a from-scratch scan's.
	seg := l.segs[0]
	wantIdx, wantTime := slices.Clone(seg.index), slices.Clone(seg.timeIndex)
	wantMax, wantSince := seg.maxTs, seg.bytesSinceIndex
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, OpenOptions{Recover: true})
	seg = l.segs[0]
	if !slices.Equal(seg.index, wantIdx) || !slices.Equal(seg.timeIndex, wantTime) || seg.maxTs != wantMax || seg.bytesSinceIndex != wantSince {
		t.Fatalf("index after truncate+append differs from a rebuild:\n%v %v %d %d\n%v %v %d %d",
			wantIdx, wantTime, wantMax, wantSince, seg.index, seg.timeIndex, seg.maxTs, seg.bytesSinceIndex)
	}
	if seg.maxTs != more[len(more)-1].h.MaxTimestamp {
		t.Fatalf("max timestamp %d", seg.maxTs)
	}
}
