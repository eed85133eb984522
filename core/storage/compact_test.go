package storage

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildKeyedLog writes the scenario most compaction tests share:
//
//	seg 0:  [0 a=1, 1 b=1, 2 c=1] [3 a=2, 4 =x1, 5 d=1]
//	seg 6:  [6 b=2, 7 e=1]        [8 a=3, 9 c!]
//	seg 10: [10 d=2, 11 e=2, 12 f=1] [13 a=4]
//	seg 14 (active): [14 b=3, 15 g=1, 16 f!]
func buildKeyedLog(t *testing.T, dir string) *compactLog {
	t.Helper()
	c := newCompactLog(t, dir)
	c.add("a=1", "b=1", "c=1")
	c.add("a=2", "=x1", "d=1")
	c.roll()
	c.add("b=2", "e=1")
	c.add("a=3", "c!")
	c.roll()
	c.add("d=2", "e=2", "f=1")
	c.add("a=4")
	c.roll()
	c.add("b=3", "g=1", "f!")
	if st := c.l.Stats(); st.Segments != 4 || st.NextOffset != 17 {
		t.Fatalf("setup: %+v", st)
	}
	return c
}

var (
	keyedLogAll = []string{
		"0:a=1", "1:b=1", "2:c=1", "3:a=2", "4:=x1", "5:d=1",
		"6:b=2", "7:e=1", "8:a=3", "9:c!",
		"10:d=2", "11:e=2", "12:f=1", "13:a=4",
		"14:b=3", "15:g=1", "16:f!",
	}
	// keyedLogCompacted: the latest record per key, the keyless record and
	// every tombstone (delete retention not yet passed).
	keyedLogCompacted = []string{"4:=x1", "9:c!", "10:d=2", "11:e=2", "13:a=4", "14:b=3", "15:g=1", "16:f!"}
	// keyedLogNoTombstones: after delete retention, the closed segments'
	// tombstone c! is gone; f! stays in the active segment.
	keyedLogNoTombstones = []string{"4:=x1", "10:d=2", "11:e=2", "13:a=4", "14:b=3", "15:g=1", "16:f!"}
)

// retainTombstones keeps tombstones for a day.
var retainTombstones = CompactOptions{DeleteRetentionMs: 24 * time.Hour.Milliseconds()}

func TestCompactKeepsLatestPerKey(t *testing.T) {
	c := buildKeyedLog(t, t.TempDir())
	wantRecords(t, c.l, keyedLogAll...)
	activePath := segmentPath(c.dir, 14, logSuffix)
	activeBefore := readFile2(t, activePath)

	st := c.compact(retainTombstones)
	want := CompactStats{SegmentsCleaned: 3, RecordsRemoved: 9, BytesBefore: st.BytesBefore, BytesAfter: st.BytesAfter}
	if st != want || st.BytesAfter >= st.BytesBefore {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, keyedLogCompacted...)

	// Batches keep their base and last offsets, so the offsets of the
	// removed records are gaps; an emptied batch ([6 b=2, 7 e=1]) is gone.
	type span struct{ base, last int64 }
	var spans []span
	for _, h := range headersOf(t, c.l) {
		spans = append(spans, span{h.BaseOffset, h.LastOffset()})
	}
	if want := []span{{3, 5}, {8, 9}, {10, 12}, {13, 13}, {14, 16}}; !slices.Equal(spans, want) {
		t.Fatalf("batches %v, want %v", spans, want)
	}
	if !bytes.Equal(readFile2(t, activePath), activeBefore) {
		t.Fatal("the active segment was rewritten")
	}
	if st := c.l.Stats(); st.Segments != 4 || st.LogStartOffset != 0 || st.NextOffset != 17 {
		t.Fatalf("stats after compaction: %+v", st)
	}
	// Reading inside a gap returns the next batch that has data.
	for off, wantFirst := range map[int64]int64{0: 3, 4: 3, 6: 8, 7: 8, 12: 10} {
		ch, err := c.l.Read(off, 1, 17)
		if err != nil || ch.FirstOffset != wantFirst {
			t.Fatalf("read %d: first offset %d, %v; want %d", off, ch.FirstOffset, err, wantFirst)
		}
		ch.Release()
	}

	// Nothing left to remove: a second run changes nothing.
	if st := c.compact(retainTombstones); st != (CompactStats{}) {
		t.Fatalf("second run: %+v", st)
	}

	// A day later the closed segment's tombstone goes; segment 6 is left
	// empty and removed. The active segment's tombstone stays.
	c.clock.Advance(25 * time.Hour)
	st = c.compact(retainTombstones)
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 1 || st.BytesAfter != 0 {
		t.Fatalf("tombstone run: %+v", st)
	}
	wantRecords(t, c.l, keyedLogNoTombstones...)
	if got := segmentFiles(t, c.dir, logSuffix); !slices.Equal(got, []string{
		"00000000000000000000.log", "00000000000000000010.log", "00000000000000000014.log",
	}) {
		t.Fatalf("segment files %v", got)
	}
	if !bytes.Equal(readFile2(t, activePath), activeBefore) {
		t.Fatal("the active segment was rewritten")
	}

	// The result survives clean and unclean reopens, and appends go on.
	for _, recover := range []bool{false, true} {
		c.reopen(recover)
		wantRecords(t, c.l, keyedLogNoTombstones...)
		if st := c.l.Stats(); st.Segments != 3 || st.NextOffset != 17 || st.LogStartOffset != 0 {
			t.Fatalf("recover=%v: %+v", recover, st)
		}
	}
	c.add("a=5")
	wantRecords(t, c.l, append(slices.Clone(keyedLogNoTombstones), "17:a=5")...)
}

func TestCompactEmptyFirstSegmentStays(t *testing.T) {
	c := newCompactLog(t, t.TempDir())
	c.add("a=1", "b=1")
	c.roll()
	c.add("a=2", "b=2")
	c.roll()
	c.add("c=1")
	st := c.compact(CompactOptions{})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 2 || st.BytesAfter != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The emptied first segment stays (its base is the log start after a
	// reopen); reads skip it.
	if got := segmentFiles(t, c.dir, logSuffix); len(got) != 3 || fileSize(t, segmentPath(c.dir, 0, logSuffix)) != 0 {
		t.Fatalf("segment files %v", got)
	}
	wantRecords(t, c.l, "2:a=2", "3:b=2", "4:c=1")
	c.reopen(false)
	if c.l.LogStartOffset() != 0 {
		t.Fatalf("log start %d", c.l.LogStartOffset())
	}
	wantRecords(t, c.l, "2:a=2", "3:b=2", "4:c=1")
}

func TestCompactHonoursMaxOffset(t *testing.T) {
	c := newCompactLog(t, t.TempDir())
	c.add("a=1")
	c.add("b=1")
	c.roll()
	c.add("a=2")
	c.add("b=2")
	c.roll()
	c.add("c=1")
	// Offset 3 (b=2) is above the high watermark: it neither supersedes
	// b=1 nor is compacted.
	st := c.compact(CompactOptions{MaxOffset: 3})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, "1:b=1", "2:a=2", "3:b=2", "4:c=1")
	st = c.compact(CompactOptions{MaxOffset: 5})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, "2:a=2", "3:b=2", "4:c=1")
}

func TestCompactHonoursMinCompactionLag(t *testing.T) {
	c := newCompactLog(t, t.TempDir())
	now := c.ts
	at := func(ts int64) { c.ts = ts }
	at(now - 3*time.Hour.Milliseconds())
	c.add("a=1")
	c.roll()
	c.add("a=2")
	at(now - time.Minute.Milliseconds())
	c.add("b=1")
	c.roll()
	c.add("b=2", "a=3")
	c.roll()
	c.add("x=1")
	// With a one-hour lag compaction stops at b=1: a=1 is superseded by
	// a=2 (both old enough), a=2 stays although a=3 is newer.
	st := c.compact(CompactOptions{MinCompactionLagMs: time.Hour.Milliseconds(), Now: func() time.Time { return time.UnixMilli(now) }})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, "1:a=2", "2:b=1", "3:b=2", "4:a=3", "5:x=1")
	// Without the lag the rest goes.
	st = c.compact(CompactOptions{})
	if st.SegmentsCleaned != 1 || st.RecordsRemoved != 2 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, "3:b=2", "4:a=3", "5:x=1")
}

func TestCompactDirtyRatio(t *testing.T) {
	c := newCompactLog(t, t.TempDir())
	for i := range 4 {
		c.add("a=1", "b=1", "c=1", "d=1")
		c.add("a=2", "b=2", "c=2", "d=2")
		if i < 3 {
			c.roll()
		}
	}
	half := CompactOptions{MinCleanableDirtyRatio: 0.5}
	if st := c.compact(half); st.SegmentsCleaned != 3 || st.RecordsRemoved != 24 {
		t.Fatalf("first run: %+v", st)
	}
	// Everything compactable is clean now: the ratio is 0.
	if st := c.compact(half); st != (CompactStats{}) {
		t.Fatalf("clean log compacted: %+v", st)
	}
	// A little new data stays below one half...
	c.roll()
	c.add("a=3")
	if st := c.compact(half); st != (CompactStats{}) {
		t.Fatalf("little dirt compacted: %+v", st)
	}
	// ...while ratio 0 always runs: segment 24, active until now, loses
	// its first batch and a=2.
	if st := c.compact(CompactOptions{}); st.SegmentsCleaned != 1 || st.RecordsRemoved != 5 {
		t.Fatalf("ratio 0: %+v", st)
	}
	wantRecords(t, c.l, "29:b=2", "30:c=2", "31:d=2", "32:a=3")
}

func TestCompactedLogIndexes(t *testing.T) {
	// Offset and time lookups work on cleaned segments, before and after
	// a reopen that trusts their index files.
	c := buildKeyedLog(t, t.TempDir())
	c.compact(retainTombstones)
	check := func() {
		t.Helper()
		for _, want := range []int64{4, 9, 10, 11, 13, 14, 15, 16} {
			ch, err := c.l.Read(want, 1, c.l.NextOffset())
			if err != nil {
				t.Fatal(err)
			}
			if ch.FirstOffset > want || ch.LastOffset < want {
				t.Fatalf("read %d: chunk [%d,%d]", want, ch.FirstOffset, ch.LastOffset)
			}
			ch.Release()
		}
		// Record 10 has timestamp t0+10: its batch is the first whose
		// newest timestamp reaches it.
		ch, ok, err := c.l.FindOffsetByTimestamp(compactT0.UnixMilli() + 10)
		if err != nil || !ok || ch.FirstOffset != 10 {
			t.Fatalf("find by timestamp: %+v %v %v", ch, ok, err)
		}
		ch.Release()
	}
	check()
	c.reopen(false)
	check()
	c.reopen(true)
	check()
	// The cleaned segments' index files were trusted, not rebuilt.
	if logs := c.logs.String(); strings.Contains(logs, "rebuilding") {
		t.Fatalf("indexes rebuilt:\n%s", logs)
	}
}

func TestCompactClosedLog(t *testing.T) {
	c := buildKeyedLog(t, t.TempDir())
	if err := c.l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.l.Compact(CompactOptions{MaxOffset: 17})
	wantErr(t, err, ErrClosed)
}

func TestCompactYieldsToTruncateAndRetention(t *testing.T) {
	// A truncation while the cleaned files are written may have removed
	// records the key map counted as superseding others: the run is
	// abandoned and leaves nothing behind.
	c := buildKeyedLog(t, t.TempDir())
	c.l.compactHook = func(stage string) {
		if stage == stageWritten {
			if err := c.l.Truncate(13); err != nil {
				t.Error(err)
			}
		}
	}
	if st := c.compact(retainTombstones); st != (CompactStats{}) {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, keyedLogAll[:13]...)
	for _, suffix := range []string{cleanedSuffix, swapSuffix} {
		if left := segmentFiles(t, c.dir, suffix); len(left) != 0 {
			t.Fatalf("leftovers %v", left)
		}
	}

	// DeleteRecords removing segment 0 meanwhile: the other segments are
	// swapped in, segment 0's cleaned copy is discarded.
	c = buildKeyedLog(t, t.TempDir())
	c.l.compactHook = func(stage string) {
		if stage == stageWritten {
			if err := c.l.DeleteRecordsBefore(6); err != nil {
				t.Error(err)
			}
		}
	}
	if st := c.compact(retainTombstones); st.SegmentsCleaned != 2 || st.RecordsRemoved != 4 {
		t.Fatalf("stats %+v", st)
	}
	wantRecords(t, c.l, keyedLogCompacted[1:]...)
	if got := segmentFiles(t, c.dir, logSuffix); !slices.Equal(got, []string{
		"00000000000000000006.log", "00000000000000000010.log", "00000000000000000014.log",
	}) {
		t.Fatalf("segment files %v", got)
	}
	for _, suffix := range []string{cleanedSuffix, swapSuffix} {
		if left := segmentFiles(t, c.dir, suffix); len(left) != 0 {
			t.Fatalf("leftovers %v", left)
		}
	}
}
