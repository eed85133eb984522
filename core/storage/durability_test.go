package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWaitDurableGroupCommit(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{SegmentBytes: 16 << 10, FlushMessages: 1}, OpenOptions{})
	const producers, perProducer = 16, 25
	var appendMu sync.Mutex // the partition's lock: one appender at a time
	var wg sync.WaitGroup
	errs := make(chan error, producers*perProducer)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perProducer; i++ {
				b := makeBatch(t, batchSpec{records: 2, firstTs: 1, valueLen: 64})
				appendMu.Lock()
				h, err := l.Append(b, 0)
				appendMu.Unlock()
				if err != nil {
					errs <- err
					return
				}
				if err := l.WaitDurable(h.LastOffset() + 1); err != nil {
					errs <- err
					return
				}
				if rp := l.Stats().RecoveryPoint; rp < h.LastOffset()+1 {
					errs <- fmt.Errorf("WaitDurable(%d) returned with recovery point %d", h.LastOffset()+1, rp)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const total = 2 * producers * perProducer
	if st := l.Stats(); st.NextOffset != total || st.RecoveryPoint != total {
		t.Fatalf("stats %+v", st)
	}
	if n := l.flushes.Load(); n < 1 || n > producers*perProducer {
		t.Fatalf("%d fsync rounds for %d appends", n, producers*perProducer)
	}

	// Covered offsets return without another fsync.
	before := l.flushes.Load()
	for _, off := range []int64{0, 1, total / 2, total, total + 100} {
		if err := l.WaitDurable(off); err != nil {
			t.Fatal(err)
		}
	}
	if l.flushes.Load() != before {
		t.Fatal("WaitDurable fsynced for already durable offsets")
	}
	// The recovery point moved into new segments, so the checkpoint is at
	// least at the last segment's base.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, recoveryPointFile)); got != fmt.Sprint(total) {
		t.Fatalf("checkpoint %q", got)
	}
	if err := l.WaitDurable(total); err != nil {
		t.Fatalf("covered offset after close: %v", err)
	}
}

func TestFlushMessages(t *testing.T) {
	l := openLog(t, t.TempDir(), Config{FlushMessages: 10}, OpenOptions{})
	for i := 1; i <= 25; i++ {
		appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1, valueLen: 1})
		want := int64(i / 10 * 10)
		if rp := l.Stats().RecoveryPoint; rp != want {
			t.Fatalf("after %d appends recovery point %d, want %d", i, rp, want)
		}
	}
	// FlushMessages 1 is WaitDurable's job: Append does not fsync.
	l.SetConfig(Config{FlushMessages: 1})
	appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1, valueLen: 1})
	if rp := l.Stats().RecoveryPoint; rp != 20 {
		t.Fatalf("recovery point %d", rp)
	}
}

func TestFlushPersistsRecoveryPoint(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{}, OpenOptions{})
	appendAll(t, l, 0, repeatSpec(4, batchSpec{records: 5, firstTs: 1, valueLen: 1})...)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, recoveryPointFile)); got != "20" {
		t.Fatalf("checkpoint %q", got)
	}
	if st := l.Stats(); st.RecoveryPoint != 20 {
		t.Fatalf("stats %+v", st)
	}
}

func TestClosedLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, Config{}, OpenOptions{})
	appendAll(t, l, 0, batchSpec{records: 1, firstTs: 1, valueLen: 1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	_, err := l.Append(makeBatch(t, batchSpec{records: 1, firstTs: 1, valueLen: 1}), 0)
	wantErr(t, err, ErrClosed)
	_, err = l.Read(0, 1, 1)
	wantErr(t, err, ErrClosed)
	wantErr(t, l.Flush(), ErrClosed)
	wantErr(t, l.WaitDurable(5), nil)
	wantErr(t, l.Truncate(0), ErrClosed)
	wantErr(t, l.MaybeRoll(), ErrClosed)
	_, err = l.EnforceRetention(1)
	wantErr(t, err, ErrClosed)
	wantErr(t, l.Scan(0, func(BatchHeader, []byte) error { return nil }), ErrClosed)
	_, _, err = l.FindOffsetByTimestamp(0)
	wantErr(t, err, ErrClosed)

	l2 := openLog(t, dir, Config{}, OpenOptions{})
	if err := l2.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir still there: %v", err)
	}
	if err := l2.Delete(); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}
