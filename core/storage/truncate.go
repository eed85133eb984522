package storage

import (
	"errors"

	"time"
)

// Truncate removes every batch with base offset >= offset (replication:
// follower truncation). Truncating inside a batch removes that whole batch.
// NextOffset becomes offset, or the base offset of the batch holding it.
// Truncating below the first segment empties the log and restarts it at
// offset.
func (l *Log) Truncate(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.Err(); err != nil {
		return err
	}
	if offset < 0 {
		return ErrOffsetOutOfRange
	}
	if offset >= l.nextOffset.Load() {
		return nil
	}
	l.truncations.Add(1)
	if l.cleanerOffset.Load() > offset {
		l.cleanerOffset.Store(offset)
	}
	// appendMu+syncMu exclude every other writer of segs and of the
	// segments' fields, so they can be read here without mu.
	if offset < l.segs[0].base {
		return l.truncateFully(offset)
	}
	i := l.floorSegment(offset)
	seg := l.segs[i]
	later := append([]*segment(nil), l.segs[i+1:]...)

	// seg becomes the active segment: its file stays open for appends.
	// (Should the truncation fail first, the next flush drops the pin.)
	f, err := seg.pinForLog()
	if err != nil {
		return err
	}
	cut, newNext, err := findCut(seg, f, offset)
	if err != nil {
		return err
	}
	keepIdx := 0
	for keepIdx < len(seg.index) && int64(seg.index[keepIdx].pos) < cut {
		keepIdx++
	}
	keepTime := 0
	for keepTime < len(seg.timeIndex) && seg.base+int64(seg.timeIndex[keepTime].rel) < newNext {
		keepTime++
	}
	// The kept time index covers every batch up to the last kept offset
	// index entry; walk the rest to recompute the segment's newest
	// timestamp.
	tailPos := int64(0)
	if keepIdx > 0 {
		tailPos = int64(seg.index[keepIdx-1].pos)
	}
	maxTs := int64(-1)
	if keepTime > 0 {
		maxTs = seg.timeIndex[keepTime-1].ts
	}
	tailMax, err := maxTimestampBetween(f, tailPos, cut)
	if err != nil {
		return err
	}

	l.mu.Lock()
	seg.size, seg.end = cut, newNext
	seg.maxTs = max(maxTs, tailMax)
	seg.index = seg.index[:keepIdx]
	seg.timeIndex = seg.timeIndex[:keepTime]
	// Aborts whose marker is cut go with it.
	keepTxn := 0
	for keepTxn < len(seg.aborted) && seg.aborted[keepTxn].LastOffset < newNext {
		keepTxn++
	}
	txnCut := keepTxn < len(seg.aborted)
	seg.aborted = seg.aborted[:keepTxn:keepTxn]
	seg.bytesSinceIndex = cut - tailPos
	l.segs = l.segs[:i+1]
	l.active = seg
	l.nextOffset.Store(newNext)
	lowerStart := l.logStart.Load() > newNext
	if lowerStart {
		l.logStart.Store(newNext)
	}
	rpSeg := l.segs[l.floorSegment(min(l.recoveryPoint.Load(), newNext))].base
	l.mu.Unlock()
	if cut == 0 {
		seg.rollStart = time.Time{}
	}
	l.logger.Info("storage: truncated log", "offset", offset, "next_offset", newNext, "segment", seg.base, "position", cut, "segments_removed", len(later))

	// Writes go to the tracked position, so the in-memory state above is
	// already consistent even if cutting the file fails below.
	var errs []error
	if err := f.Truncate(cut); err != nil {
		errs = append(errs, l.fail("truncate", seg.logPath, err))
	} else if err := f.Sync(); err != nil {
		errs = append(errs, l.fail("fsync", seg.logPath, err))
	}
	errs = append(errs, seg.rewriteIndexes())
	if txnCut {
		errs = append(errs, seg.rewriteTxnIndex())
	}
	for _, s := range later {
		errs = append(errs, s.removeFiles())
		s.retire()
	}
	if lowerStart {
		errs = append(errs, writeCheckpoint(l.dir, logStartOffsetFile, newNext))
	}
	errs = append(errs, l.persistRecoveryPoint(min(l.recoveryPoint.Load(), newNext), rpSeg))
	if err := errors.Join(errs...); err != nil {
		// What the disk holds is unknown now: go offline, recover on restart.
		return l.fail("truncate", l.dir, err)
	}
	return nil
}

// findCut returns the position of the first batch in seg whose last offset
// is >= offset (the segment size if none) and the resulting next offset.
// appendMu held.
func findCut(seg *segment, f File, offset int64) (cut, newNext int64, err error) {
	w := newBatchWalker(f, seg.size)
	defer w.release()
	for pos := seg.positionFor(offset); pos < seg.size; {
		h, err := w.header(pos)
		if err != nil {
			return 0, 0, err
		}
		if h.LastOffset() >= offset {
			return pos, min(offset, h.BaseOffset), nil
		}
		pos += int64(h.Size())
	}
	return seg.size, offset, nil
}

// maxTimestampBetween returns the largest MaxTimestamp of the batches in
// [from, to), -1 if none.
func maxTimestampBetween(f File, from, to int64) (int64, error) {
	w := newBatchWalker(f, to)
	defer w.release()
	maxTs := int64(-1)
	for pos := from; pos < to; {
		h, err := w.header(pos)
		if err != nil {
			return 0, err
		}
		maxTs = max(maxTs, h.MaxTimestamp)
		pos += int64(h.Size())
	}
	return maxTs, nil
}

// truncateFully replaces every segment with an empty one at offset, which
// lies below the first segment. appendMu and syncMu held.
func (l *Log) truncateFully(offset int64) error {
	seg, err := l.createSegment(offset)
	if err != nil {
		return err
	}
	l.dirDirty.Store(true)
	l.mu.Lock()
	old := l.segs
	l.segs = []*segment{seg}
	l.active = seg
	l.nextOffset.Store(offset)
	l.logStart.Store(offset)
	l.mu.Unlock()
	l.logger.Info("storage: truncated whole log", "next_offset", offset, "segments_removed", len(old))

	var errs []error
	for _, s := range old {
		errs = append(errs, s.removeFiles())
		s.retire()
	}
	errs = append(errs,
		seg.rewriteIndexes(),
		writeCheckpoint(l.dir, logStartOffsetFile, offset),
		l.persistRecoveryPoint(offset, offset),
	)
	if err := errors.Join(errs...); err != nil {
		return l.fail("truncate", l.dir, err)
	}
	return nil
}
