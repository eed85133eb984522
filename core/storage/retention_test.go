package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fiveSegments builds a log of 5 segments of 4 batches (3 records each)
// with SegmentBytes fitting exactly 4 batches; batch i has timestamps from
// ts0 + i*1000.
func fiveSegments(t *testing.T, dir string, cfg Config, opts OpenOptions, ts0 int64) (*Log, []appended) {
	t.Helper()
	size := len(makeBatch(t, batchSpec{records: 3, firstTs: 0, valueLen: 50}))
	cfg.SegmentBytes = int64(4 * size)
	l := openLog(t, dir, cfg, opts)
	bs := appendAll(t, l, 0, repeatSpec(20, batchSpec{records: 3, firstTs: ts0, valueLen: 50})...)
	if st := l.Stats(); st.Segments != 5 || st.NextOffset != 60 || st.Size != int64(20*size) {
		t.Fatalf("setup: %+v", st)
	}
	return l, bs
}

func TestRetentionBytes(t *testing.T) {
	dir := t.TempDir()
	l, bs := fiveSegments(t, dir, Config{RetentionMs: -1}, OpenOptions{}, 1000)
	segSize := int64(4 * len(bs[0].bytes))

	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := segmentFiles(t, dir, ".timeindex"); len(got) != 5 {
		t.Fatalf("time index files %v", got)
	}
	// Unlimited by default.
	if n, err := l.EnforceRetention(60); n != 0 || err != nil {
		t.Fatalf("default retention deleted %d, %v", n, err)
	}
	// Whole segments go while the rest stays at or above the limit: with
	// 5 segments and a limit of 2.5, two go (3 remain: removing another
	// would leave 2 < 2.5).
	l.SetConfig(Config{RetentionMs: -1, RetentionBytes: segSize * 5 / 2, SegmentBytes: segSize})
	n, err := l.EnforceRetention(60)
	if err != nil || n != 2 {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	if st := l.Stats(); st.Segments != 3 || st.LogStartOffset != 24 || st.Size != 3*segSize {
		t.Fatalf("after retention: %+v", st)
	}
	// A limit of exactly 2 segments removes one more (3 - 1 >= 2).
	l.SetConfig(Config{RetentionMs: -1, RetentionBytes: 2 * segSize, SegmentBytes: segSize})
	if n, err := l.EnforceRetention(60); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000036.log", "00000000000000000048.log"}) {
		t.Fatalf("files %v", got)
	}
	if got := segmentFiles(t, dir, ".index"); !slices.Equal(got, []string{"00000000000000000036.index", "00000000000000000048.index"}) {
		t.Fatalf("index files %v", got)
	}
	if _, err := l.Read(35, 1, 60); err != ErrOffsetOutOfRange {
		t.Fatalf("read below start: %v", err)
	}
	checkEveryOffset(t, l, bs[12:])

	// Never the active segment, however small the limit.
	l.SetConfig(Config{RetentionMs: -1, RetentionBytes: 1, SegmentBytes: segSize})
	if n, err := l.EnforceRetention(60); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if n, err := l.EnforceRetention(60); n != 0 || err != nil {
		t.Fatalf("deleted %d, %v; want 0", n, err)
	}
	if st := l.Stats(); st.Segments != 1 || st.LogStartOffset != 48 {
		t.Fatalf("after: %+v", st)
	}
}

func TestRetentionRespectsHighWatermark(t *testing.T) {
	l, _ := fiveSegments(t, t.TempDir(), Config{RetentionMs: -1, RetentionBytes: 1}, OpenOptions{}, 1000)
	// Segment 0 holds 0..11, segment 1 12..23: with the high watermark at
	// 23 only segment 0 lies wholly below it.
	if n, err := l.EnforceRetention(23); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if n, err := l.EnforceRetention(24); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if l.LogStartOffset() != 24 {
		t.Fatalf("start %d", l.LogStartOffset())
	}
}

func TestRetentionTime(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(10_000_000)}
	dir := t.TempDir()
	// Batch i has MaxTimestamp 1_000_002 + i*1000, so segment k's newest
	// is 1_000_002 + (4k+3)*1000.
	l, bs := fiveSegments(t, dir, Config{RetentionMs: 5_000}, OpenOptions{Now: clock.Now}, 1_000_000)
	newest := func(seg int) int64 { return bs[4*seg+3].h.MaxTimestamp }

	clock.now = time.UnixMilli(newest(1) + 5_000) // segment 1 exactly at the limit: kept
	if n, err := l.EnforceRetention(60); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	clock.now = time.UnixMilli(newest(1) + 5_001)
	if n, err := l.EnforceRetention(60); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	// Everything expired: all but the active segment go.
	clock.now = time.UnixMilli(newest(4) + 1_000_000)
	if n, err := l.EnforceRetention(60); n != 2 || err != nil {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	if st := l.Stats(); st.Segments != 1 || st.LogStartOffset != 48 {
		t.Fatalf("after: %+v", st)
	}
}

func TestRetentionTimeFallsBackToMtime(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	dir := t.TempDir()
	// Batches without timestamps (-1): retention ages segments by mtime.
	l, _ := fiveSegments(t, dir, Config{RetentionMs: 60_000}, OpenOptions{Now: clock.Now}, -1)
	old := clock.now.Add(-2 * time.Minute)
	for _, name := range []string{"00000000000000000000.log", "00000000000000000012.log"} {
		if err := os.Chtimes(filepath.Join(dir, name), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := l.EnforceRetention(60); n != 2 || err != nil {
		t.Fatalf("deleted %d, %v; want 2", n, err)
	}
	if l.LogStartOffset() != 24 {
		t.Fatalf("start %d", l.LogStartOffset())
	}

	// Timestamps far in the future are absurd too.
	dir2 := t.TempDir()
	future := clock.now.Add(48 * time.Hour).UnixMilli()
	l2, _ := fiveSegments(t, dir2, Config{RetentionMs: 60_000}, OpenOptions{Now: clock.Now}, future)
	if err := os.Chtimes(filepath.Join(dir2, "00000000000000000000.log"), old, old); err != nil {
		t.Fatal(err)
	}
	if n, err := l2.EnforceRetention(60); n != 1 || err != nil {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	l, bs := fiveSegments(t, dir, Config{}, OpenOptions{}, 1000)
	if err := l.DeleteRecordsBefore(61); err != ErrOffsetOutOfRange {
		t.Fatalf("past end: %v", err)
	}
	// 25 lies in segment 2 (24..35): segments 0 and 1 go.
	if err := l.DeleteRecordsBefore(25); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.LogStartOffset != 25 || st.Segments != 3 {
		t.Fatalf("stats %+v", st)
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000024.log", "00000000000000000036.log", "00000000000000000048.log"}) {
		t.Fatalf("files %v", got)
	}
	if _, err := l.Read(24, 1, 60); err != ErrOffsetOutOfRange {
		t.Fatalf("read 24: %v", err)
	}
	c, err := l.Read(25, 1, 60)
	if err != nil || c.FirstOffset != 24 {
		t.Fatalf("read 25: %+v %v", c, err)
	}
	c.Release()
	// Lower values are no-ops.
	if err := l.DeleteRecordsBefore(3); err != nil || l.LogStartOffset() != 25 {
		t.Fatalf("lowering: %v, start %d", err, l.LogStartOffset())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Persisted across a reopen (clean and recovering).
	for _, recover := range []bool{false, true} {
		l = openLog(t, dir, Config{SegmentBytes: int64(4 * len(bs[0].bytes))}, OpenOptions{Recover: recover})
		if l.LogStartOffset() != 25 || l.NextOffset() != 60 {
			t.Fatalf("recover=%v: start %d next %d", recover, l.LogStartOffset(), l.NextOffset())
		}
		checkEveryOffset(t, l, bs[9:])
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Up to the end: every closed segment goes, the active stays.
	l = openLog(t, dir, Config{}, OpenOptions{})
	if err := l.DeleteRecordsBefore(60); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments != 1 || st.LogStartOffset != 60 || st.NextOffset != 60 {
		t.Fatalf("stats %+v", st)
	}
	if c, err := l.Read(60, 1, 60); err != nil || c.Size != 0 {
		t.Fatalf("read at end: %+v %v", c, err)
	}
}

func TestChunkOutlivesDeletedSegment(t *testing.T) {
	dir := t.TempDir()
	l, bs := fiveSegments(t, dir, Config{RetentionMs: -1, RetentionBytes: 1}, OpenOptions{}, 1000)
	c, err := l.Read(0, 1<<20, 60)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.EnforceRetention(60); n != 4 || err != nil {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000000.log")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment file still linked: %v", err)
	}
	// The chunk's file is unlinked but open: still readable (twice, with
	// pread semantics).
	for range 2 {
		got, err := c.ReadAll()
		if err != nil || !bytes.Equal(got, concat(bs[:4])) {
			t.Fatalf("read deleted chunk: %v", err)
		}
	}
	f := c.File
	c.Release()
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("file still open after the last release: %v", err)
	}

	// Close keeps outstanding chunks readable too.
	c, err = l.Read(48, 1<<20, 60)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readChunk(t, c); !bytes.Equal(got, concat(bs[16:])) {
		t.Fatal("chunk after close differs")
	}
}
