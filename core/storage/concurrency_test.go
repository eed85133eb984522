package storage

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicemq/sluice/internal/needs"
)

// TestConcurrentUse runs one appender against readers, flushers, retention,
// scans and timestamp lookups (run with -race). Every chunk read must hold
// whole CRC-valid batches with contiguous offsets starting at the requested
// one. It runs again with a budget of 3 open segment files, so that files
// are closed and reopened under the readers all the time.
func TestConcurrentUse(t *testing.T) {
	needs.Long(t, "a concurrency stress run, twice")
	t.Run("default", func(t *testing.T) { testConcurrentUse(t, nil) })
	t.Run("budget=3", func(t *testing.T) {
		fc := NewFileCache(3)
		testConcurrentUse(t, fc)
		if fc.opens.Load() < 20 {
			t.Errorf("only %d opens: the budget was not exercised", fc.opens.Load())
		}
	})
}

func testConcurrentUse(t *testing.T, files *FileCache) {
	l := openLog(t, t.TempDir(), Config{SegmentBytes: 8 << 10, IndexIntervalBytes: 512, RetentionMs: -1, RetentionBytes: 64 << 10}, OpenOptions{Files: files})
	const batches = 1500
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	run := func(f func(r *rand.Rand) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(len(errs)), 7))
			for !done.Load() {
				if err := f(r); err != nil {
					fail(err)
					return
				}
			}
		}()
	}

	checkChunk := func(c Chunk, offset int64) error {
		defer c.Release()
		b, err := c.ReadAll()
		if err != nil {
			return err
		}
		parts, err := SplitBatches(b)
		if err != nil {
			return err
		}
		next := int64(-1)
		for _, p := range parts {
			h, err := ValidateBatch(p)
			if err != nil {
				return err
			}
			if next < 0 && (h.BaseOffset > offset || h.LastOffset() < offset) {
				return fmt.Errorf("chunk for %d starts with [%d,%d]", offset, h.BaseOffset, h.LastOffset())
			}
			if next >= 0 && h.BaseOffset != next {
				return fmt.Errorf("gap: batch at %d after %d", h.BaseOffset, next)
			}
			next = h.LastOffset() + 1
		}
		if c.FirstOffset > offset || next-1 != c.LastOffset {
			return fmt.Errorf("chunk offsets [%d,%d], batches end at %d", c.FirstOffset, c.LastOffset, next-1)
		}
		return nil
	}

	for range 3 {
		run(func(r *rand.Rand) error {
			start, end := l.LogStartOffset(), l.NextOffset()
			if end == start {
				return nil
			}
			off := start + r.Int64N(end-start)
			c, err := l.Read(off, 1+r.IntN(20_000), end)
			if errors.Is(err, ErrOffsetOutOfRange) {
				return nil // retention moved the start meanwhile
			}
			if err != nil {
				return err
			}
			if c.Size == 0 {
				return fmt.Errorf("empty read at %d of [%d,%d)", off, start, end)
			}
			return checkChunk(c, off)
		})
	}
	run(func(r *rand.Rand) error {
		_, err := l.EnforceRetention(l.NextOffset())
		return err
	})
	run(func(r *rand.Rand) error { return l.WaitDurable(l.NextOffset()) })
	run(func(r *rand.Rand) error {
		if err := l.Flush(); err != nil {
			return err
		}
		_ = l.Stats()
		return l.MaybeRoll()
	})
	run(func(r *rand.Rand) error {
		c, ok, err := l.FindOffsetByTimestamp(int64(r.IntN(batches * 1000)))
		if err != nil || !ok {
			return err
		}
		return checkChunk(c, c.FirstOffset)
	})
	run(func(r *rand.Rand) error {
		prev := int64(-1)
		err := l.Scan(l.LogStartOffset(), func(h BatchHeader, b []byte) error {
			if prev >= 0 && h.BaseOffset != prev {
				return fmt.Errorf("scan gap at %d after %d", h.BaseOffset, prev)
			}
			prev = h.LastOffset() + 1
			_, err := ValidateBatch(b)
			return err
		})
		if errors.Is(err, ErrOffsetOutOfRange) {
			return nil
		}
		return err
	})

	for i := 0; i < batches; i++ {
		b := makeBatch(t, batchSpec{records: 1 + i%3, firstTs: int64(i) * 1000, valueLen: 50 + i%200})
		if _, err := l.Append(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.NextOffset != 3000 || st.Size > 64<<10+8<<10 || st.LogStartOffset == 0 {
		t.Fatalf("stats %+v", st)
	}
}
