package storage

import (
	"sync"
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

// BenchmarkAppendDurable is BenchmarkAppend with each append waited on
// until fsynced, as --durability fsync does for acks=1/all produces: with
// one producer every append pays a whole fsync (the worst case); with
// parallel producers the fsyncs are group-committed.
func BenchmarkAppendDurable(b *testing.B) {
	batch := makeBatch(b, batchSpec{records: 1, firstTs: 1, valueLen: 1000})
	b.Run("producers=1", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{SegmentBytes: 64 << 20, FlushMessages: 1}, OpenOptions{})
		b.SetBytes(int64(len(batch)))
		for b.Loop() {
			h, err := l.Append(batch, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.WaitDurable(h.LastOffset() + 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("producers=16", func(b *testing.B) {
		l := openLog(b, b.TempDir(), Config{SegmentBytes: 64 << 20, FlushMessages: 1}, OpenOptions{})
		b.SetBytes(int64(len(batch)))
		b.SetParallelism(8)     // 16 goroutines on 2 CPUs
		var appendMu sync.Mutex // the partition's append lock
		b.RunParallel(func(pb *testing.PB) {
			own := append([]byte(nil), batch...)
			for pb.Next() {
				appendMu.Lock()
				h, err := l.Append(own, 0)
				appendMu.Unlock()
				if err != nil {
					b.Error(err)
					return
				}
				if err := l.WaitDurable(h.LastOffset() + 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(l.flushes.Load())/float64(b.N), "fsyncs/op")
	})
}
