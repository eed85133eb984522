package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// txnIndexSuffix names a segment's aborted-transaction index, as in Kafka.
const txnIndexSuffix = ".txnindex"

// txnEntrySize is one .txnindex entry: version int16, producer id, first
// offset, last offset and last stable offset (int64 each), Kafka's layout.
const txnEntrySize = 34

// AbortedTxn is one aborted transaction of a partition: a producer's
// transactional batches from FirstOffset up to its abort marker at
// LastOffset. LastStableOffset is the partition's last stable offset once
// the abort was written (the first offset of the oldest other transaction
// still open, or LastOffset+1): no transaction aborted later started below
// it, which lets a search stop early (AbortedTxns).
//
// The entry lives in the .txnindex of the segment holding the marker, so
// it leaves with that segment (retention, truncation).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func appendTxnEntry(dst []byte, e AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(e.LastStableOffset))
}

// decodeTxnIndex parses a .txnindex file of a segment covering [base, end):
// entries whose marker lies outside (a tail that recovery cut) and a torn
// last entry are dropped; dirty says the file needs rewriting.
func decodeTxnIndex(b []byte, base, end int64) (entries []AbortedTxn, dirty bool) {
	dirty = len(b)%txnEntrySize != 0
	for i := 0; i+txnEntrySize <= len(b); i += txnEntrySize {
		be := binary.BigEndian
		e := AbortedTxn{
			ProducerID:       int64(be.Uint64(b[i+2:])),
			FirstOffset:      int64(be.Uint64(b[i+10:])),
			LastOffset:       int64(be.Uint64(b[i+18:])),
			LastStableOffset: int64(be.Uint64(b[i+26:])),
		}
		if be.Uint16(b[i:]) != 0 || e.LastOffset < base || e.LastOffset >= end || e.FirstOffset > e.LastOffset ||
			(len(entries) > 0 && e.LastOffset <= entries[len(entries)-1].LastOffset) {
			dirty = true
			continue
		}
		entries = append(entries, e)
	}
	return entries, dirty
}

// loadTxnIndexes reads every segment's .txnindex (a missing file is an
// empty index: Kafka only writes the file for segments with aborts). Runs
// in Open before the log is shared. Entries lost to a crash are added
// again by the partition, which replays the log tail (AddAbortedTxn
// ignores those it already has).
func (l *Log) loadTxnIndexes() error {
	for _, s := range l.segs {
		b, err := os.ReadFile(s.txnIndexPath())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("storage: read %s: %w", s.txnIndexPath(), err)
		}
		var dirty bool
		s.aborted, dirty = decodeTxnIndex(b, s.base, s.end)
		if dirty {
			if err := s.rewriteTxnIndex(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *segment) txnIndexPath() string {
	return s.logPath[:len(s.logPath)-len(logSuffix)] + txnIndexSuffix
}

// rewriteTxnIndex replaces the segment's .txnindex with its in-memory
// entries (removing the file when there are none). syncMu held, or the log
// not yet shared.
func (s *segment) rewriteTxnIndex() error {
	s.txnDirty = false // written and fsynced whole below
	if len(s.aborted) == 0 {
		if err := os.Remove(s.txnIndexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("storage: remove %s: %w", s.txnIndexPath(), err)
		}
		return nil
	}
	var b []byte
	for _, e := range s.aborted {
		b = appendTxnEntry(b, e)
	}
	if err := writeIndexFile(s.txnIndexPath(), b, 0); err != nil {
		return fmt.Errorf("storage: write %s: %w", s.txnIndexPath(), err)
	}
	return nil
}

// AddAbortedTxn records an aborted transaction in the index of the segment
// holding its marker (e.LastOffset, already appended) and writes it to the
// .txnindex file, which the next flush fsyncs (like the segment's data):
// the partition's producer snapshot, saved after a flush, covers only
// entries made durable, and the partition replays the log after the
// snapshot on open, adding what a crash lost. An entry already present
// (same marker offset: that replay) is ignored.
func (l *Log) AddAbortedTxn(e AbortedTxn) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	s := l.segs[l.floorSegment(e.LastOffset)]
	if e.LastOffset < s.base || e.LastOffset >= s.end {
		l.mu.Unlock()
		return fmt.Errorf("%w: aborted transaction marker at %d outside the log", ErrOffsetOutOfRange, e.LastOffset)
	}
	i, found := slices.BinarySearchFunc(s.aborted, e.LastOffset, func(a AbortedTxn, off int64) int {
		switch {
		case a.LastOffset < off:
			return -1
		case a.LastOffset > off:
			return 1
		}
		return 0
	})
	if found {
		l.mu.Unlock()
		return nil
	}
	atEnd := i == len(s.aborted)
	s.aborted = slices.Insert(s.aborted, i, e)
	at := int64(len(s.aborted)-1) * txnEntrySize
	l.mu.Unlock()
	// syncMu orders this write with truncation, deletion and other adds.
	var err error
	if atEnd {
		err = writeFileAt(s.txnIndexPath(), appendTxnEntry(nil, e), at)
		s.txnDirty = true
	} else {
		err = s.rewriteTxnIndex()
	}
	if err != nil {
		return l.fail("write", s.txnIndexPath(), err)
	}
	return nil
}

// writeFileAt writes data at byte offset at of the file at path (creating
// it) without fsyncing.
func writeFileAt(path string, data []byte, at int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, at); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncTxnIndexes fsyncs the .txnindex files written since the last flush.
// syncMu held.
func (l *Log) syncTxnIndexes(segs []*segment) error {
	for _, s := range segs {
		if !s.txnDirty {
			continue
		}
		f, err := os.OpenFile(s.txnIndexPath(), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			s.txnDirty = false // removed since (truncation)
			continue
		}
		if err != nil {
			return fmt.Errorf("storage: open %s: %w", s.txnIndexPath(), err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("storage: fsync %s: %w", s.txnIndexPath(), err)
		}
		s.txnDirty = false
	}
	return nil
}

// AbortedTxns returns the aborted transactions that overlap [from, upTo):
// every entry with LastOffset >= from and FirstOffset < upTo, ordered by
// marker offset (a read_committed fetch of that range). The search starts
// at the segment holding from (an entry lives with its marker, which is at
// or after every offset of its transaction) and stops at the first entry
// whose LastStableOffset reaches upTo: every transaction aborted after it
// started at or above that point.
func (l *Log) AbortedTxns(from, upTo int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	if l.closed {
		return nil
	}
	for _, s := range l.segs[l.floorSegment(from):] {
		for _, e := range s.aborted {
			if e.LastOffset >= from && e.FirstOffset < upTo {
				out = append(out, e)
			}
			if e.LastStableOffset >= upTo {
				return out
			}
		}
	}
	return out
}
