package storage

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"testing"
)

// faultyFiles opens real segment files whose next writes or fsyncs can be
// made to fail, as a dying disk or a full file system would.
type faultyFiles struct {
	mu         sync.Mutex
	failWrites int   // the next n WriteAt calls fail
	failSyncs  int   // the next n Sync calls fail
	err        error // what they fail with
	syncs      int   // successful fsyncs
}

func (ff *faultyFiles) open(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: f, ff: ff}, nil
}

func (ff *faultyFiles) arm(writes, syncs int, err error) {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.failWrites, ff.failSyncs, ff.err = writes, syncs, err
}

type faultyFile struct {
	*os.File
	ff *faultyFiles
}

func (f *faultyFile) WriteAt(b []byte, off int64) (int, error) {
	f.ff.mu.Lock()
	fail := f.ff.failWrites > 0
	if fail {
		f.ff.failWrites--
	}
	err := f.ff.err
	f.ff.mu.Unlock()
	if fail {
		// A short write: half the batch reached the page cache.
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, err
	}
	return f.File.WriteAt(b, off)
}

func (f *faultyFile) Sync() error {
	f.ff.mu.Lock()
	defer f.ff.mu.Unlock()
	if f.ff.failSyncs > 0 {
		f.ff.failSyncs--
		return f.ff.err
	}
	f.ff.syncs++
	return f.File.Sync()
}

// After one failed fsync the log stays offline although the next fsync
// would succeed: nothing appended after the last good fsync is ever
// acknowledged, every later operation fails with ErrOffline, and a
// reopen (restart) recovers everything fsynced before the fault.
func TestFsyncErrorTakesLogOffline(t *testing.T) {
	dir := t.TempDir()
	ff := &faultyFiles{}
	l, err := Open(dir, Config{FlushMessages: 1}, OpenOptions{OpenFile: ff.open})
	if err != nil {
		t.Fatal(err)
	}
	acked := appendAll(t, l, 0, repeatSpec(3, batchSpec{records: 2, firstTs: 1000, valueLen: 100})...)
	if err := l.WaitDurable(l.NextOffset()); err != nil {
		t.Fatal(err)
	}
	durable := l.NextOffset()

	ff.arm(0, 1, syscall.EIO) // exactly one fsync fails; a retry would succeed
	unacked := appendAll(t, l, 0, batchSpec{records: 2, firstTs: 5000, valueLen: 100})
	err = l.WaitDurable(l.NextOffset())
	if !errors.Is(err, ErrOffline) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("WaitDurable after failed fsync: %v, want ErrOffline wrapping EIO", err)
	}
	var oe *OfflineError
	if !errors.As(err, &oe) || oe.Op != "fsync" {
		t.Fatalf("error %v is not an fsync *OfflineError", err)
	}
	syncsBefore := ff.syncs
	// The retry must not "succeed".
	for i, op := range []func() error{
		func() error { return l.WaitDurable(l.NextOffset()) },
		l.Flush,
		func() error {
			_, err := l.Append(makeBatch(t, batchSpec{records: 1, firstTs: 1, valueLen: 1}), 0)
			return err
		},
		func() error { _, err := l.Read(0, 1<<20, l.NextOffset()); return err },
		func() error { return l.Scan(0, func(BatchHeader, []byte) error { return nil }) },
		func() error { _, err := l.EnforceRetention(l.NextOffset()); return err },
		func() error { return l.Truncate(0) },
		func() error { return l.DeleteRecordsBefore(1) },
		l.MaybeRoll,
	} {
		if err := op(); !errors.Is(err, ErrOffline) {
			t.Fatalf("operation %d on an offline log: %v, want ErrOffline", i, err)
		}
	}
	if ff.syncs != syncsBefore {
		t.Fatalf("offline log fsynced again (%d -> %d)", syncsBefore, ff.syncs)
	}
	if st := l.Stats(); st.RecoveryPoint != durable {
		t.Fatalf("recovery point %d moved past the last good fsync %d", st.RecoveryPoint, durable)
	}
	if err := l.Close(); !errors.Is(err, ErrOffline) {
		t.Fatalf("Close of an offline log: %v, want ErrOffline (no clean shutdown)", err)
	}

	// Restart: recovery from the last good fsync keeps every acknowledged
	// batch; the unacknowledged one may survive (it is whole in the page
	// cache) but nothing else appears.
	l2 := openLog(t, dir, Config{}, OpenOptions{Recover: true})
	if l2.NextOffset() != durable && l2.NextOffset() != unacked[0].h.LastOffset()+1 {
		t.Fatalf("next offset after recovery %d, want %d or %d", l2.NextOffset(), durable, unacked[0].h.LastOffset()+1)
	}
	c, err := l2.Read(0, 1<<20, durable)
	if err != nil {
		t.Fatal(err)
	}
	if got := readChunk(t, c); !bytes.Equal(got, concat(acked)) {
		t.Fatalf("acknowledged data after recovery differs: %d bytes, want %d", len(got), len(concat(acked)))
	}
	appendAll(t, l2, 0, batchSpec{records: 1, firstTs: 9000, valueLen: 10}) // writable again
}

// A failed write (ENOSPC, EIO) takes the log offline too, even if the next
// write would work, and the torn half-batch never becomes readable.
func TestWriteErrorTakesLogOffline(t *testing.T) {
	dir := t.TempDir()
	ff := &faultyFiles{}
	l, err := Open(dir, Config{}, OpenOptions{OpenFile: ff.open})
	if err != nil {
		t.Fatal(err)
	}
	acked := appendAll(t, l, 0, repeatSpec(2, batchSpec{records: 3, firstTs: 1000, valueLen: 50})...)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	end := l.NextOffset()

	ff.arm(1, 0, syscall.ENOSPC)
	_, err = l.Append(makeBatch(t, batchSpec{records: 3, firstTs: 3000, valueLen: 50}), 0)
	if !errors.Is(err, ErrOffline) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append with a failing write: %v", err)
	}
	if _, err := l.Append(makeBatch(t, batchSpec{records: 1, firstTs: 4000, valueLen: 5}), 0); !errors.Is(err, ErrOffline) {
		t.Fatalf("append after a failed write: %v, want ErrOffline", err)
	}
	if l.NextOffset() != end {
		t.Fatalf("next offset %d moved past %d", l.NextOffset(), end)
	}
	if err := l.Close(); !errors.Is(err, ErrOffline) {
		t.Fatalf("Close: %v", err)
	}
	l2 := openLog(t, dir, Config{}, OpenOptions{Recover: true})
	if l2.NextOffset() != end {
		t.Fatalf("next offset after recovery %d, want %d", l2.NextOffset(), end)
	}
	checkEveryOffset(t, l2, acked)
}
