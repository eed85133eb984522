package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// batchSpec describes a test batch.
type batchSpec struct {
	records  int
	firstTs  int64 // MaxTimestamp = firstTs + records - 1; -1 means no timestamps
	valueLen int
}

// makeBatch encodes a real v2 record batch with kmsg (offsets and leader
// epoch left for Append to stamp).
func makeBatch(t testing.TB, spec batchSpec) []byte {
	t.Helper()
	var records []byte
	for i := 0; i < spec.records; i++ {
		r := kmsg.Record{
			TimestampDelta64: int64(i),
			OffsetDelta:      int32(i),
			Key:              []byte{byte('k'), byte(i)},
			Value:            bytes.Repeat([]byte{byte('a' + i%26)}, spec.valueLen),
		}
		if spec.firstTs < 0 {
			r.TimestampDelta64 = 0
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1) // the zero Length took one varint byte
		records = r.AppendTo(records)
	}
	maxTs := spec.firstTs + int64(spec.records) - 1
	if spec.firstTs < 0 {
		maxTs = -1
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(spec.records - 1),
		FirstTimestamp:       spec.firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(spec.records),
		Records:              records,
	}
	b.Length = int32(BatchHeaderLen - 12 + len(records))
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(raw[:0])
}

// appended is a batch as the log stored it.
type appended struct {
	bytes []byte
	h     BatchHeader
}

// appendAll appends batches, returning the stamped copies.
func appendAll(t testing.TB, l *Log, epoch int32, specs ...batchSpec) []appended {
	t.Helper()
	out := make([]appended, 0, len(specs))
	for _, s := range specs {
		b := makeBatch(t, s)
		h, err := l.Append(b, epoch)
		if err != nil {
			t.Fatalf("append: %v", err)
		}
		out = append(out, appended{bytes: b, h: h})
	}
	return out
}

func repeatSpec(n int, s batchSpec) []batchSpec {
	out := make([]batchSpec, n)
	for i := range out {
		out[i] = s
		if s.firstTs >= 0 {
			out[i].firstTs = s.firstTs + int64(i)*1000
		}
	}
	return out
}

func openLog(t testing.TB, dir string, cfg Config, opts OpenOptions) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// readChunk reads a chunk's bytes and releases it.
func readChunk(t testing.TB, c Chunk) []byte {
	t.Helper()
	defer c.Release()
	b, err := c.ReadAll()
	if err != nil {
		t.Fatalf("read chunk: %v", err)
	}
	return b
}

// batchAt returns the index of the appended batch holding offset.
func batchAt(bs []appended, offset int64) int {
	for i, b := range bs {
		if b.h.BaseOffset <= offset && offset <= b.h.LastOffset() {
			return i
		}
	}
	return -1
}

func concat(bs []appended) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b.bytes...)
	}
	return out
}

// checkEveryOffset reads every offset of bs one batch at a time and checks
// the exact bytes come back.
func checkEveryOffset(t *testing.T, l *Log, bs []appended) {
	t.Helper()
	for i, b := range bs {
		for off := b.h.BaseOffset; off <= b.h.LastOffset(); off++ {
			c, err := l.Read(off, 1, l.NextOffset())
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if c.FirstOffset != b.h.BaseOffset || c.LastOffset != b.h.LastOffset() {
				t.Fatalf("read %d: chunk offsets [%d,%d], want batch %d [%d,%d]", off, c.FirstOffset, c.LastOffset, i, b.h.BaseOffset, b.h.LastOffset())
			}
			if got := readChunk(t, c); !bytes.Equal(got, b.bytes) {
				t.Fatalf("read %d: bytes differ from batch %d", off, i)
			}
		}
	}
}

// simulateSegments applies the roll-by-size rule to batch sizes and
// returns each segment's batch indexes.
func simulateSegments(sizes []int, segmentBytes int64) [][]int {
	var segs [][]int
	var cur int64
	for i, s := range sizes {
		if len(segs) == 0 || (cur > 0 && cur+int64(s) > segmentBytes) {
			segs = append(segs, nil)
			cur = 0
		}
		segs[len(segs)-1] = append(segs[len(segs)-1], i)
		cur += int64(s)
	}
	return segs
}

func segmentFiles(t *testing.T, dir, suffix string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// copyDir copies a log directory's files: the copy is what an unclean
// shutdown would leave (everything written is in the page cache).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

func patchFile(t *testing.T, path string, at int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func appendToFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func putUint32(b []byte, at int, v uint32) { binary.BigEndian.PutUint32(b[at:], v) }

// fakeClock is a settable OpenOptions.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}
