package storage

import (
	"testing"
)

func TestFindOffsetByTimestamp(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 2000, IndexIntervalBytes: 150}, OpenOptions{})
	// Timestamps mostly grow but step back now and then, as producers'
	// clocks do; batch i covers [ts(i), ts(i)+2].
	ts := func(i int) int64 {
		v := int64(10_000 + i*100)
		if i%7 == 3 {
			v -= 450
		}
		return v
	}
	var specs []batchSpec
	for i := 0; i < 120; i++ {
		specs = append(specs, batchSpec{records: 3, firstTs: ts(i), valueLen: 30})
	}
	bs := appendAll(t, l, 0, specs...)
	if l.Stats().Segments < 5 {
		t.Fatalf("want several segments, have %d", l.Stats().Segments)
	}

	// The reference: the first batch whose MaxTimestamp >= target.
	want := func(target int64) int {
		for i, b := range bs {
			if b.h.MaxTimestamp >= target {
				return i
			}
		}
		return -1
	}
	for target := int64(9_000); target <= ts(119)+200; target += 17 {
		c, ok, err := l.FindOffsetByTimestamp(target)
		if err != nil {
			t.Fatal(err)
		}
		w := want(target)
		if w < 0 {
			if ok {
				t.Fatalf("ts %d: found %+v, want none", target, c)
			}
			continue
		}
		if !ok || c.FirstOffset != bs[w].h.BaseOffset || c.LastOffset != bs[w].h.LastOffset() || c.Size != len(bs[w].bytes) {
			t.Fatalf("ts %d: got %+v ok=%v, want batch %d [%d,%d]", target, c, ok, w, bs[w].h.BaseOffset, bs[w].h.LastOffset())
		}
		c.Release()
	}

	// Batches below the log start are skipped.
	if err := l.DeleteRecordsBefore(bs[50].h.BaseOffset); err != nil {
		t.Fatal(err)
	}
	c, ok, err := l.FindOffsetByTimestamp(0)
	if err != nil || !ok || c.FirstOffset != bs[50].h.BaseOffset {
		t.Fatalf("after delete: %+v %v %v", c, ok, err)
	}
	c.Release()
}
