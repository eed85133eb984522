package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// uncleanLog writes 20 batches (3 records each) into 5 segments of 4
// batches, flushing after batch 10 (recovery point 30, in segment 2), and
// returns a copy of the directory as an unclean shutdown leaves it.
func uncleanLog(t *testing.T) (dir string, bs []appended, segBytes int64) {
	t.Helper()
	src := t.TempDir()
	l, bs := fiveSegmentsNoCheck(t, src)
	segBytes = l.Config().SegmentBytes
	dir = filepath.Join(t.TempDir(), "copy")
	copyDir(t, src, dir)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, recoveryPointFile)); got != "30" {
		t.Fatalf("recovery point checkpoint %q", got)
	}
	return dir, bs, segBytes
}

func fiveSegmentsNoCheck(t *testing.T, dir string) (*Log, []appended) {
	size := len(makeBatch(t, batchSpec{records: 3, firstTs: 0, valueLen: 50}))
	l, err := Open(dir, Config{SegmentBytes: int64(4 * size)}, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	specs := repeatSpec(20, batchSpec{records: 3, firstTs: 1000, valueLen: 50})
	bs := appendAll(t, l, 3, specs[:10]...)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	bs = append(bs, appendAll(t, l, 3, specs[10:]...)...)
	return l, bs
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// batchPos returns the segment file and position of batch i (4 per segment).
func batchPos(dir string, bs []appended, i int) (string, int64) {
	seg := i / 4
	path := segmentPath(dir, bs[4*seg].h.BaseOffset, logSuffix)
	return path, int64(i%4) * int64(len(bs[0].bytes))
}

// corruptBatch overwrites bytes of batch i on disk and in bs (so a batch
// that survives unscanned is expected with its corrupted bytes).
func corruptBatch(t *testing.T, dir string, bs []appended, i int, at int64, b []byte) {
	t.Helper()
	path, pos := batchPos(dir, bs, i)
	patchFile(t, path, pos+at, b)
	copy(bs[i].bytes[at:], b)
}

func TestRecovery(t *testing.T) {
	cases := []struct {
		name      string
		corrupt   func(t *testing.T, dir string, bs []appended)
		recover   bool
		wantKept  int      // batches that survive
		wantFiles []string // segment bases left
	}{
		{
			name: "torn tail: half a batch appended",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, _ := batchPos(dir, bs, 19)
				appendToFile(t, path, bs[0].bytes[:len(bs[0].bytes)/2])
			},
			recover: true, wantKept: 20, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "torn tail: a few header bytes",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, _ := batchPos(dir, bs, 19)
				appendToFile(t, path, bs[0].bytes[:10])
			},
			recover: true, wantKept: 20, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "bad CRC in the last batch",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 19)
				patchFile(t, path, pos+int64(len(bs[19].bytes))-3, []byte{'X'})
			},
			recover: true, wantKept: 19, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "length field past the end of the file",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 17)
				patchFile(t, path, pos+8, []byte{0, 0, 0x40, 0})
			},
			recover: true, wantKept: 17, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "length field too small",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 18)
				patchFile(t, path, pos+8, []byte{0, 0, 0, 20})
			},
			recover: true, wantKept: 18, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "length field shortened: CRC covers the wrong bytes",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 14)
				patchFile(t, path, pos+8, []byte{0, 0, 0, 100})
			},
			recover: true, wantKept: 14, wantFiles: []string{"0", "12", "24", "36"},
		},
		{
			name: "bad CRC in a middle segment drops later segments",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 13)
				patchFile(t, path, pos+70, []byte{0xff})
			},
			recover: true, wantKept: 13, wantFiles: []string{"0", "12", "24", "36"},
		},
		{
			name: "first batch of a segment corrupt: the emptied segment goes",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 12)
				patchFile(t, path, pos+16, []byte{1}) // magic 1
			},
			recover: true, wantKept: 12, wantFiles: []string{"0", "12", "24"},
		},
		{
			name: "offsets going backwards",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				path, pos := batchPos(dir, bs, 15)
				patchFile(t, path, pos, []byte{0, 0, 0, 0, 0, 0, 0, 5}) // base offset is outside the CRC
			},
			recover: true, wantKept: 15, wantFiles: []string{"0", "12", "24", "36"},
		},
		{
			name: "segments before the recovery point are not scanned",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				corruptBatch(t, dir, bs, 1, 70, []byte{0xff})
			},
			recover: true, wantKept: 20, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
		{
			name: "clean open does not scan",
			corrupt: func(t *testing.T, dir string, bs []appended) {
				corruptBatch(t, dir, bs, 17, 70, []byte{0xff})
			},
			recover: false, wantKept: 20, wantFiles: []string{"0", "12", "24", "36", "48"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, bs, segBytes := uncleanLog(t)
			c.corrupt(t, dir, bs)
			cfg := Config{SegmentBytes: segBytes}
			l := openLog(t, dir, cfg, OpenOptions{Recover: c.recover})

			kept := bs[:c.wantKept]
			next := kept[len(kept)-1].h.LastOffset() + 1
			st := l.Stats()
			if st.NextOffset != next || st.Segments != len(c.wantFiles) || st.LogStartOffset != 0 {
				t.Fatalf("stats %+v, want next %d and %d segments", st, next, len(c.wantFiles))
			}
			var wantLogs []string
			for _, b := range c.wantFiles {
				wantLogs = append(wantLogs, fmt.Sprintf("%020s.log", b))
			}
			if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, wantLogs) {
				t.Fatalf("files %v, want %v", got, wantLogs)
			}
			if c.recover {
				if st.RecoveryPoint != next || readFile(t, filepath.Join(dir, recoveryPointFile)) != fmt.Sprint(next) {
					t.Fatalf("recovery point %d, want %d", st.RecoveryPoint, next)
				}
			}
			lastPath := segmentPath(dir, kept[4*(len(c.wantFiles)-1)].h.BaseOffset, logSuffix)
			if size := fileSize(t, lastPath); size != int64(len(concat(kept[4*(len(c.wantFiles)-1):]))) {
				t.Fatalf("last segment is %d bytes", size)
			}
			checkEveryOffset(t, l, kept)

			// Appends continue right after the surviving prefix and stay
			// readable after another (clean, then recovering) reopen.
			more := appendAll(t, l, 4, batchSpec{records: 2, firstTs: 99_000, valueLen: 7})
			if more[0].h.BaseOffset != next {
				t.Fatalf("append at %d, want %d", more[0].h.BaseOffset, next)
			}
			all := append(slices.Clone(kept), more...)
			checkEveryOffset(t, l, all)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, recover := range []bool{false, true} {
				l2 := openLog(t, dir, cfg, OpenOptions{Recover: recover})
				if l2.NextOffset() != next+2 {
					t.Fatalf("reopen recover=%v: next %d", recover, l2.NextOffset())
				}
				checkEveryOffset(t, l2, all)
				if err := l2.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestRecoveryRebuildsIndexes(t *testing.T) {
	// Many small batches so the segments have index entries; no flush at
	// all, so recovery scans everything and must produce the same index
	// files a clean close writes.
	src := t.TempDir()
	cfg := Config{SegmentBytes: 8192, IndexIntervalBytes: 512}
	l := openLog(t, src, cfg, OpenOptions{})
	var specs []batchSpec
	for i := 0; i < 200; i++ {
		specs = append(specs, batchSpec{records: 1 + i%3, firstTs: int64(5000 - i%7*100 + i*10), valueLen: 30 + i%90})
	}
	bs := appendAll(t, l, 0, specs...)
	unclean := filepath.Join(t.TempDir(), "unclean")
	copyDir(t, src, unclean)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range segmentFiles(t, unclean, "index") {
		if size := fileSize(t, filepath.Join(unclean, name)); size != 0 {
			t.Fatalf("unflushed log already has index entries in %s", name)
		}
	}

	r := openLog(t, unclean, cfg, OpenOptions{Recover: true})
	if r.NextOffset() != bs[len(bs)-1].h.LastOffset()+1 {
		t.Fatalf("next %d", r.NextOffset())
	}
	checkEveryOffset(t, r, bs)
	for _, name := range segmentFiles(t, src, ".log") {
		base := strings.TrimSuffix(name, ".log")
		for _, suffix := range []string{".index", ".timeindex"} {
			want := readFile(t, filepath.Join(src, base+suffix))
			if got := readFile(t, filepath.Join(unclean, base+suffix)); got != want {
				t.Fatalf("%s%s: rebuilt %d bytes, clean close wrote %d", base, suffix, len(got), len(want))
			}
		}
	}
}

func TestCleanOpenRepairsIndexes(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SegmentBytes: 8192, IndexIntervalBytes: 512}
	l := openLog(t, dir, cfg, OpenOptions{})
	bs := appendAll(t, l, 0, repeatSpec(100, batchSpec{records: 2, firstTs: 1, valueLen: 100})...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	first := segmentPath(dir, 0, indexSuffix)
	logs := segmentFiles(t, dir, ".log")
	if len(logs) < 3 {
		t.Fatalf("want at least 3 segments, have %d", len(logs))
	}
	second := filepath.Join(dir, strings.TrimSuffix(logs[1], ".log")+timeIndexSuffix)
	third := filepath.Join(dir, strings.TrimSuffix(logs[2], ".log")+indexSuffix)
	wantFirst, wantSecond, wantThird := readFile(t, first), readFile(t, second), readFile(t, third)

	if err := os.Remove(first); err != nil { // missing
		t.Fatal(err)
	}
	if err := os.WriteFile(second, []byte("garbage"), 0o644); err != nil { // malformed
		t.Fatal(err)
	}
	// The last entry pointing into the middle of a batch.
	b := []byte(wantThird)
	putUint32(b, len(b)-4, binary.BigEndian.Uint32(b[len(b)-4:])+7)
	if err := os.WriteFile(third, b, 0o644); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, cfg, OpenOptions{})
	checkEveryOffset(t, l, bs)
	if readFile(t, first) != wantFirst || readFile(t, second) != wantSecond || readFile(t, third) != wantThird {
		t.Fatal("index files not rebuilt to their original contents")
	}
}

func TestOpenCleansLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 1}, OpenOptions{})
	bs := appendAll(t, l, 0, repeatSpec(3, batchSpec{records: 1, firstTs: 1, valueLen: 1})...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	strays := []string{
		"recovery-point.tmp",
		"00000000000000000000.log.deleted",
		"00000000000000000001.index.cleaned",
		"00000000000000000002.log.swap",
		"00000000000000000077.index",     // index without a segment
		"00000000000000000077.timeindex", // likewise
	}
	for _, s := range strays {
		if err := os.WriteFile(filepath.Join(dir, s), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A zero-length segment after the last one: a roll that crashed
	// before its first write.
	if err := os.WriteFile(segmentPath(dir, 3, logSuffix), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, recover := range []bool{false, true} {
		l = openLog(t, dir, Config{SegmentBytes: 1}, OpenOptions{Recover: recover})
		for _, s := range strays {
			if _, err := os.Stat(filepath.Join(dir, s)); !os.IsNotExist(err) {
				t.Fatalf("%s not removed: %v", s, err)
			}
		}
		if st := l.Stats(); st.NextOffset != 3 || st.Segments != 4 {
			t.Fatalf("recover=%v: %+v", recover, st)
		}
		checkEveryOffset(t, l, bs)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, dir, Config{SegmentBytes: 1}, OpenOptions{})
	more := appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1, valueLen: 1})
	if more[0].h.BaseOffset != 3 || !bytes.Equal(readFile2(t, segmentPath(dir, 3, logSuffix)), more[0].bytes) {
		t.Fatal("append did not go to the empty segment")
	}
}

func readFile2(t *testing.T, path string) []byte { return []byte(readFile(t, path)) }

func TestOpenEmptyDirUsesLogStartOffset(t *testing.T) {
	dir := t.TempDir()
	if err := writeCheckpoint(dir, logStartOffsetFile, 500); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, Config{}, OpenOptions{Recover: true})
	if st := l.Stats(); st.NextOffset != 500 || st.LogStartOffset != 500 || st.Segments != 1 || st.RecoveryPoint != 500 {
		t.Fatalf("stats %+v", st)
	}
	bs := appendAll(t, l, 0, batchSpec{records: 2, firstTs: 1, valueLen: 1})
	if bs[0].h.BaseOffset != 500 {
		t.Fatalf("base %d", bs[0].h.BaseOffset)
	}
	if got := segmentFiles(t, dir, ".log"); !slices.Equal(got, []string{"00000000000000000500.log"}) {
		t.Fatalf("files %v", got)
	}
}

// TestOffsetGapBetweenSegments: a segment may start above the previous
// segment's end (e.g. data imported from a compacted Kafka log). Reads in
// the gap move on to the next segment; recovery accepts the gap.
func TestOffsetGapBetweenSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{}, OpenOptions{})
	low := appendAll(t, l, 0, repeatSpec(4, batchSpec{records: 3, firstTs: 1, valueLen: 10})...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := writeCheckpoint(other, logStartOffsetFile, 100); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, other, Config{}, OpenOptions{})
	high := appendAll(t, l2, 0, repeatSpec(2, batchSpec{records: 3, firstTs: 1, valueLen: 10})...)
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Rename(segmentPath(other, 100, suffix), segmentPath(dir, 100, suffix)); err != nil {
			t.Fatal(err)
		}
	}
	for _, recover := range []bool{false, true} {
		l = openLog(t, dir, Config{}, OpenOptions{Recover: recover})
		if l.NextOffset() != 106 || l.Stats().Segments != 2 {
			t.Fatalf("recover=%v: %+v", recover, l.Stats())
		}
		checkEveryOffset(t, l, append(slices.Clone(low), high...))
		for _, off := range []int64{12, 50, 99} {
			c, err := l.Read(off, 1<<20, 106)
			if err != nil || c.FirstOffset != 100 || c.LastOffset != 105 {
				t.Fatalf("read in gap at %d: %+v %v", off, c, err)
			}
			if !bytes.Equal(readChunk(t, c), concat(high)) {
				t.Fatal("gap read bytes differ")
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewLogWritesNothingButItsSegment: opening a new log creates its
// segment file and fsyncs nothing (a topic's partitions are created by
// the thousand); whatever a crash then leaves opens as an empty log that
// takes appends, and the first flush writes the indexes and recovery
// point the open skipped.
func TestNewLogWritesNothingButItsSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{}, OpenOptions{})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{filepath.Base(segmentPath("", 0, logSuffix))}; !slices.Equal(names, want) {
		t.Fatalf("new log dir holds %v, want %v", names, want)
	}

	// Crashes right after the open: with and without the segment file.
	for _, keepSegment := range []bool{true, false} {
		img := filepath.Join(t.TempDir(), "img")
		copyDir(t, dir, img)
		if !keepSegment {
			os.Remove(filepath.Join(img, filepath.Base(segmentPath("", 0, logSuffix))))
		}
		c := openLog(t, img, Config{}, OpenOptions{Recover: true})
		if st := c.Stats(); st.NextOffset != 0 || st.LogStartOffset != 0 || st.Segments != 1 {
			t.Fatalf("keepSegment=%v: stats %+v", keepSegment, st)
		}
		appendAll(t, c, 0, batchSpec{records: 2, firstTs: 1, valueLen: 3})
		if n := c.NextOffset(); n != 2 {
			t.Fatalf("keepSegment=%v: next offset %d after appending 2", keepSegment, n)
		}
	}

	appendAll(t, l, 0, repeatSpec(4, batchSpec{records: 5, firstTs: 1, valueLen: 1})...)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{filepath.Base(segmentPath("", 0, indexSuffix)), filepath.Base(segmentPath("", 0, timeIndexSuffix))} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s after the first flush: %v", name, err)
		}
	}
	if got := readFile(t, filepath.Join(dir, recoveryPointFile)); got != "20" {
		t.Fatalf("recovery point after the first flush %q, want 20", got)
	}
	img := filepath.Join(t.TempDir(), "flushed")
	copyDir(t, dir, img)
	c := openLog(t, img, Config{}, OpenOptions{Recover: true})
	if st := c.Stats(); st.NextOffset != 20 || st.RecoveryPoint != 20 {
		t.Fatalf("flushed image: stats %+v", st)
	}
}
