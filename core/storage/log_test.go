package storage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestAppendReadRoundTrip(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{}, OpenOptions{})
	var specs []batchSpec
	for i := 0; i < 300; i++ {
		spec := batchSpec{records: 1 + i%5, firstTs: 1_000_000 + int64(i), valueLen: 20 + (i*37)%300}
		if i%50 == 7 {
			spec.valueLen = 12_000 // batches larger than the walker's read block
		}
		specs = append(specs, spec)
	}
	bs := appendAll(t, l, 5, specs...)

	next := int64(0)
	for i, b := range bs {
		if b.h.BaseOffset != next || b.h.PartitionLeaderEpoch != 5 {
			t.Fatalf("batch %d stamped base %d epoch %d, want %d and 5", i, b.h.BaseOffset, b.h.PartitionLeaderEpoch, next)
		}
		next = b.h.LastOffset() + 1
	}
	if l.NextOffset() != next || next != 900 {
		t.Fatalf("NextOffset = %d, want %d (=900)", l.NextOffset(), next)
	}

	// One read of everything gives back the exact appended bytes, each
	// batch still CRC-valid with the stamped offset and epoch.
	c, err := l.Read(0, 1<<30, l.NextOffset())
	if err != nil {
		t.Fatal(err)
	}
	if c.FirstOffset != 0 || c.LastOffset != 899 || c.Pos != 0 {
		t.Fatalf("chunk = %+v", c)
	}
	all := readChunk(t, c)
	if !bytes.Equal(all, concat(bs)) {
		t.Fatal("read bytes differ from appended bytes")
	}
	got, err := SplitBatches(all)
	if err != nil || len(got) != 300 {
		t.Fatalf("split: %d batches, %v", len(got), err)
	}
	for i, g := range got {
		h, err := ValidateBatch(g)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if h.BaseOffset != bs[i].h.BaseOffset || h.PartitionLeaderEpoch != 5 {
			t.Fatalf("batch %d on disk: base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
	checkEveryOffset(t, l, bs)
}

func TestReadLimits(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{}, OpenOptions{})
	bs := appendAll(t, l, 0, repeatSpec(10, batchSpec{records: 3, firstTs: 1000, valueLen: 100})...)
	size := len(bs[0].bytes)
	next := l.NextOffset()
	if next != 30 {
		t.Fatalf("next = %d", next)
	}

	cases := []struct {
		name                string
		offset              int64
		maxBytes            int
		maxOffset           int64
		wantFirst, wantLast int // batch indexes; -1 = empty chunk
	}{
		{"maxBytes below one batch gives one batch", 4, 1, next, 1, 1},
		{"maxBytes zero gives one batch", 0, 0, next, 0, 0},
		{"exact fit of two", 3, 2 * size, next, 1, 2},
		{"two and a half", 3, 2*size + size/2, next, 1, 2},
		{"to the end", 7, 1 << 20, next, 2, 9},
		{"maxOffset stops before the batch holding it", 0, 1 << 20, 13, 0, 3},
		{"maxOffset on a batch boundary", 0, 1 << 20, 12, 0, 3},
		{"maxOffset inside the first batch", 6, 1 << 20, 7, -1, -1},
		{"at maxOffset", 12, 1 << 20, 12, -1, -1},
		{"at the end", next, 1 << 20, next, -1, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := l.Read(c.offset, c.maxBytes, c.maxOffset)
			if err != nil {
				t.Fatal(err)
			}
			if c.wantFirst < 0 {
				if ch.Size != 0 || ch.File != nil {
					t.Fatalf("want empty chunk, got %+v", ch)
				}
				return
			}
			want := concat(bs[c.wantFirst : c.wantLast+1])
			if ch.FirstOffset != bs[c.wantFirst].h.BaseOffset || ch.LastOffset != bs[c.wantLast].h.LastOffset() {
				t.Fatalf("offsets [%d,%d], want [%d,%d]", ch.FirstOffset, ch.LastOffset, bs[c.wantFirst].h.BaseOffset, bs[c.wantLast].h.LastOffset())
			}
			if got := readChunk(t, ch); !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(want))
			}
		})
	}

	if _, err := l.Read(next+1, 100, next+10); err != ErrOffsetOutOfRange {
		t.Fatalf("past end: %v", err)
	}
	if err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(9, 100, next); err != ErrOffsetOutOfRange {
		t.Fatalf("below start: %v", err)
	}
	// The start may fall inside a batch: that batch is still returned.
	ch, err := l.Read(10, 1, next)
	if err != nil || ch.FirstOffset != 9 || ch.LastOffset != 11 {
		t.Fatalf("at start: %+v, %v", ch, err)
	}
	ch.Release()
	ch.Release() // twice is safe
}

// indexedBatches applies the sparse index rule (an entry for a batch that
// starts more than interval bytes after the previous entry's batch) to one
// segment's batch sizes.
func indexedBatches(sizes []int, interval int) []int {
	var out []int
	since := 0
	for i, s := range sizes {
		if since > interval {
			out = append(out, i)
			since = 0
		}
		since += s
	}
	return out
}

func TestIndexAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 4096, IndexIntervalBytes: 300}
	l := openLog(t, dir, cfg, OpenOptions{})
	var specs []batchSpec
	for i := 0; i < 400; i++ {
		specs = append(specs, batchSpec{records: 1 + i%4, firstTs: int64(i) * 10, valueLen: 10 + (i*53)%200})
	}
	bs := appendAll(t, l, 1, specs...)

	sizes := make([]int, len(bs))
	for i, b := range bs {
		sizes[i] = len(b.bytes)
	}
	segs := simulateSegments(sizes, cfg.SegmentBytes)
	if len(segs) < 10 {
		t.Fatalf("only %d segments; the test wants many", len(segs))
	}
	var wantLogs []string
	for _, seg := range segs {
		wantLogs = append(wantLogs, fmt.Sprintf("%020d.log", bs[seg[0]].h.BaseOffset))
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, wantLogs) {
		t.Fatalf("segment files %v, want %v", got, wantLogs)
	}
	if st := l.Stats(); st.Segments != len(segs) || st.NextOffset != l.NextOffset() {
		t.Fatalf("stats %+v", st)
	}

	checkEveryOffset(t, l, bs)

	// A big read from anywhere stops at the end of that offset's segment.
	for _, seg := range segs {
		first, last := bs[seg[0]], bs[seg[len(seg)-1]]
		mid := bs[seg[len(seg)/2]]
		c, err := l.Read(mid.h.BaseOffset, 1<<20, l.NextOffset())
		if err != nil {
			t.Fatal(err)
		}
		if c.FirstOffset != mid.h.BaseOffset || c.LastOffset != last.h.LastOffset() {
			t.Fatalf("segment %d: chunk [%d,%d], want [%d,%d]", first.h.BaseOffset, c.FirstOffset, c.LastOffset, mid.h.BaseOffset, last.h.LastOffset())
		}
		if got := readChunk(t, c); !bytes.Equal(got, concat(bs[seg[len(seg)/2]:seg[len(seg)-1]+1])) {
			t.Fatal("segment read bytes differ")
		}
	}

	// Reads bounded by bytes use the index to skip: check every start
	// offset against every byte budget that matters.
	for _, seg := range segs[:3] {
		for si := seg[0]; si <= seg[len(seg)-1]; si++ {
			for _, budget := range []int{500, 1000, 1777, 3000} {
				want := []int{si}
				total := sizes[si]
				for j := si + 1; j <= seg[len(seg)-1] && total+sizes[j] <= budget; j++ {
					want = append(want, j)
					total += sizes[j]
				}
				c, err := l.Read(bs[si].h.LastOffset(), budget, l.NextOffset())
				if err != nil {
					t.Fatal(err)
				}
				if c.Size != total || c.FirstOffset != bs[si].h.BaseOffset || c.LastOffset != bs[want[len(want)-1]].h.LastOffset() {
					t.Fatalf("start %d budget %d: size %d [%d,%d], want %d [%d,%d]", si, budget, c.Size, c.FirstOffset, c.LastOffset,
						total, bs[si].h.BaseOffset, bs[want[len(want)-1]].h.LastOffset())
				}
				c.Release()
			}
		}
	}
	// maxOffset inside a late batch of the first segment, combined with
	// the index skip: the read ends with the batch before it.
	k := segs[0][len(segs[0])-1]
	for bs[k].h.LastOffsetDelta == 0 {
		k--
	}
	c, err := l.Read(0, 1<<20, bs[k].h.BaseOffset+1)
	if err != nil {
		t.Fatal(err)
	}
	if c.LastOffset != bs[k-1].h.LastOffset() || c.Size != len(concat(bs[:k])) {
		t.Fatalf("maxOffset read ends at %d (%d bytes), want %d", c.LastOffset, c.Size, bs[k-1].h.LastOffset())
	}
	c.Release()

	// Index files hold exactly the entries the interval rule gives.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, seg := range segs {
		segSizes := make([]int, len(seg))
		for i, bi := range seg {
			segSizes[i] = sizes[bi]
		}
		want := indexedBatches(segSizes, int(cfg.IndexIntervalBytes))
		base := bs[seg[0]].h.BaseOffset
		ib, err := os.ReadFile(segmentPath(dir, base, indexSuffix))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := decodeIndex(ib, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(want) {
			t.Fatalf("segment %d: %d index entries, want %d", base, len(entries), len(want))
		}
		for i, e := range entries {
			b := bs[seg[want[i]]]
			pos := 0
			for _, bi := range seg[:want[i]] {
				pos += sizes[bi]
			}
			if int64(e.rel)+base != b.h.BaseOffset || int(e.pos) != pos {
				t.Fatalf("segment %d entry %d = %+v, want offset %d pos %d", base, i, e, b.h.BaseOffset, pos)
			}
		}
		// Timestamps grow with every batch here, so every offset entry
		// has a time entry with the max timestamp so far.
		tb, err := os.ReadFile(segmentPath(dir, base, timeIndexSuffix))
		if err != nil {
			t.Fatal(err)
		}
		tentries, err := decodeTimeIndex(tb)
		if err != nil {
			t.Fatal(err)
		}
		if len(tentries) != len(want) {
			t.Fatalf("segment %d: %d time entries, want %d", base, len(tentries), len(want))
		}
		for i, e := range tentries {
			b := bs[seg[want[i]]]
			if e.ts != b.h.MaxTimestamp || int64(e.rel)+base != b.h.BaseOffset {
				t.Fatalf("time entry %d = %+v, want ts %d offset %d", i, e, b.h.MaxTimestamp, b.h.BaseOffset)
			}
		}
	}

	// A clean reopen trusts those files and serves the same reads.
	l2 := openLog(t, dir, cfg, OpenOptions{})
	if l2.NextOffset() != bs[len(bs)-1].h.LastOffset()+1 || l2.Stats().Segments != len(segs) {
		t.Fatalf("reopened: %+v", l2.Stats())
	}
	checkEveryOffset(t, l2, bs)
	more := appendAll(t, l2, 2, batchSpec{records: 2, firstTs: 1, valueLen: 1})
	if more[0].h.BaseOffset != bs[len(bs)-1].h.LastOffset()+1 {
		t.Fatalf("append after reopen at %d", more[0].h.BaseOffset)
	}
}

func TestRollByTime(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentMs: 1000}, OpenOptions{Now: clock.Now})
	spec := batchSpec{records: 1, firstTs: 5, valueLen: 1}

	if err := l.MaybeRoll(); err != nil || l.Stats().Segments != 1 {
		t.Fatalf("empty log rolled: %v %d", err, l.Stats().Segments)
	}
	appendAll(t, l, 0, spec) // offset 0 starts the segment's age
	clock.Advance(999 * time.Millisecond)
	appendAll(t, l, 0, spec) // 1: same segment
	clock.Advance(time.Millisecond)
	appendAll(t, l, 0, spec) // 2: 1000ms elapsed, rolls first
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000000.log", "00000000000000000002.log"}) {
		t.Fatalf("segments %v", got)
	}

	// An idle log rolls through MaybeRoll.
	clock.Advance(999 * time.Millisecond)
	if err := l.MaybeRoll(); err != nil || l.Stats().Segments != 2 {
		t.Fatalf("rolled too early: %v %d", err, l.Stats().Segments)
	}
	clock.Advance(time.Millisecond)
	if err := l.MaybeRoll(); err != nil || l.Stats().Segments != 3 {
		t.Fatalf("no roll: %v %d", err, l.Stats().Segments)
	}
	// The new segment is empty: nothing to roll however long it idles.
	clock.Advance(time.Hour)
	if err := l.MaybeRoll(); err != nil || l.Stats().Segments != 3 {
		t.Fatalf("empty segment rolled: %v %d", err, l.Stats().Segments)
	}
	appendAll(t, l, 0, spec)
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000000.log", "00000000000000000002.log", "00000000000000000003.log"}) {
		t.Fatalf("segments %v", got)
	}
	// SegmentMs -1 never rolls.
	l.SetConfig(Config{SegmentMs: -1})
	clock.Advance(24 * time.Hour)
	if err := l.MaybeRoll(); err != nil || l.Stats().Segments != 3 {
		t.Fatalf("rolled with SegmentMs -1: %v %d", err, l.Stats().Segments)
	}
	if c := l.Config(); c.SegmentMs != -1 || c.SegmentBytes != DefaultSegmentBytes || c.IndexIntervalBytes != 4096 || c.RetentionBytes != -1 {
		t.Fatalf("config defaults: %+v", c)
	}
}

func TestRollBySizeKeepsOversizedBatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 100}, OpenOptions{})
	// Each batch exceeds SegmentBytes: an empty segment still takes it.
	bs := appendAll(t, l, 0, repeatSpec(3, batchSpec{records: 2, firstTs: 1, valueLen: 100})...)
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000000.log", "00000000000000000002.log", "00000000000000000004.log"}) {
		t.Fatalf("segments %v", got)
	}
	checkEveryOffset(t, l, bs)
	if fileSize(t, filepath.Join(dir, "00000000000000000002.log")) != int64(len(bs[1].bytes)) {
		t.Fatal("segment holds more than its batch")
	}
}
