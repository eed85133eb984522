package storage

import (
	"bytes"
	"os"
	"testing"
)

// openFds counts this process's open file descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// A log of many tiny segments holds at most the budget of segment files
// open (plus those pinned), on open, while being read back in full, and
// after; every read returns the exact bytes.
func TestFileCacheBoundsOpenSegments(t *testing.T) {
	// 600 segments, 150 under -short: each is files and fsyncs, and 150
	// is still many times the budget.
	const budget = 8
	n := 600
	if testing.Short() {
		n = 150
	}
	dir := t.TempDir()
	fc := NewFileCache(budget)
	cfg := Config{SegmentBytes: 100} // every batch rolls a segment
	l := openLog(t, dir, cfg, OpenOptions{Files: fc})
	base := openFds(t)
	var bs []appended
	for i := range n {
		bs = append(bs, appendAll(t, l, 0, batchSpec{records: 2, firstTs: 1000 + int64(i), valueLen: 80})...)
		// Rolled segments stay open until fsynced, but crowding the
		// budget makes Append fsync them (one over: the new active).
		if got := fc.Open(); got > budget+1 {
			t.Fatalf("%d segment files open after %d appends, budget %d", got, i+1, budget)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Segments != n {
		t.Fatalf("%d segments, want %d", st.Segments, n)
	}
	if got := fc.Open(); got > budget {
		t.Fatalf("%d segment files open after appending and flushing, budget %d", got, budget)
	}
	checkEveryOffset(t, l, bs)
	if got := fc.Open(); got > budget {
		t.Fatalf("%d segment files open after reading, budget %d", got, budget)
	}
	if fds := openFds(t); fds > base+budget {
		t.Fatalf("process has %d fds, %d before appending; budget %d", fds, base, budget)
	}
	if err := l.Scan(0, func(BatchHeader, []byte) error {
		if fc.Open() > budget+1 {
			t.Fatalf("%d files open during Scan", fc.Open())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if fc.Open() != 0 {
		t.Fatalf("%d files open after Close", fc.Open())
	}

	// A clean reopen and a recovery both load every segment lazily.
	for _, recover := range []bool{false, true} {
		before := fc.opens.Load()
		l2 := openLog(t, dir, cfg, OpenOptions{Files: fc, Recover: recover})
		if got := fc.Open(); got > budget {
			t.Fatalf("recover=%v: %d files open after open", recover, got)
		}
		t.Logf("recover=%v: %d opens to load %d segments", recover, fc.opens.Load()-before, n)
		checkEveryOffset(t, l2, bs)
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A Chunk keeps its segment's file open (sendfile reads from the fd) while
// the cache is over budget and even after retention deleted the segment.
func TestChunkPinsFileAcrossEvictionAndDeletion(t *testing.T) {
	const budget = 2
	fc := NewFileCache(budget)
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 100, RetentionBytes: 1}, OpenOptions{Files: fc})
	bs := appendAll(t, l, 0, repeatSpec(20, batchSpec{records: 1, firstTs: 1000, valueLen: 80})...)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	chunks := make([]Chunk, 5)
	for i := range chunks {
		c, err := l.Read(bs[i].h.BaseOffset, 1<<20, l.NextOffset())
		if err != nil || c.Size == 0 {
			t.Fatalf("read %d: %v", i, err)
		}
		chunks[i] = c
	}
	if got := fc.Open(); got != len(chunks)+1 {
		t.Fatalf("%d files open, want the %d pinned by chunks plus the active one", got, len(chunks)+1)
	}
	// Read everything else: the pinned files must survive the churn.
	checkEveryOffset(t, l, bs[len(chunks):])
	if n, err := l.EnforceRetention(l.NextOffset()); err != nil || n != 19 {
		t.Fatalf("retention deleted %d segments (%v), want 19", n, err)
	}
	for i, c := range chunks {
		if got := readChunk(t, c); !bytes.Equal(got, bs[i].bytes) {
			t.Fatalf("chunk %d changed after eviction pressure and deletion", i)
		}
	}
	if got := fc.Open(); got != 1 {
		t.Fatalf("%d files open after releasing the chunks of deleted segments, want 1 (active)", got)
	}
}
