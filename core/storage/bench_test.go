package storage

import (
	"testing"
)

// BenchmarkAppend appends 1 KiB batches (page cache only, no fsync).
func BenchmarkAppend(b *testing.B) {
	l := openLog(b, b.TempDir(), Config{SegmentBytes: 64 << 20}, OpenOptions{})
	batch := makeBatch(b, batchSpec{records: 10, firstTs: 1, valueLen: 90})
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead fetches up to 64 KiB at spread-out offsets of a 16 MiB log
// (the index lookup, header walk and chunk building, not the copy).
func BenchmarkRead(b *testing.B) {
	l := openLog(b, b.TempDir(), Config{SegmentBytes: 4 << 20}, OpenOptions{})
	batch := makeBatch(b, batchSpec{records: 10, firstTs: 1, valueLen: 90})
	for range (16 << 20) / len(batch) {
		if _, err := l.Append(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	end := l.NextOffset()
	b.ReportAllocs()
	off := int64(0)
	for b.Loop() {
		c, err := l.Read(off, 64<<10, end)
		if err != nil || c.Size == 0 {
			b.Fatal(err)
		}
		c.Release()
		off = (off + 7919*10) % end
	}
}
