package storage

import (
	"errors"
	"fmt"
	"io"
)

// Read returns whole batches starting with the batch that contains offset,
// up to maxBytes, but always at least one whole batch if one is available
// (KIP-74), and only batches whose last offset < maxOffset (the caller's
// high watermark). Reading at NextOffset() or at maxOffset returns an empty
// Chunk and nil. Offsets below LogStartOffset or above NextOffset give
// ErrOffsetOutOfRange. A chunk never spans segments.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (Chunk, error) {
	if err := l.Err(); err != nil {
		return Chunk{}, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Chunk{}, ErrClosed
	}
	if offset < l.logStart.Load() || offset > l.nextOffset.Load() {
		l.mu.RUnlock()
		return Chunk{}, ErrOffsetOutOfRange
	}
	if offset == l.nextOffset.Load() || offset >= maxOffset {
		l.mu.RUnlock()
		return Chunk{}, nil
	}
	seg := l.segs[l.floorSegment(offset)]
	for {
		// Snapshot what the walk needs and pin the segment, then do the
		// I/O without the lock.
		limit, from := seg.size, seg.positionFor(offset)
		f, err := seg.pin()
		l.mu.RUnlock()
		if err != nil {
			return Chunk{}, err
		}

		c, found, err := l.readSegment(seg, f, limit, from, offset, maxBytes, maxOffset)
		if err != nil || c.Size == 0 {
			seg.unpin()
		}
		if err != nil || found {
			return c, err
		}
		// offset lies past this segment's last batch: continue in the
		// next segment, if any.
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return Chunk{}, ErrClosed
		}
		next := l.segmentAfter(seg.base)
		if next == nil {
			l.mu.RUnlock()
			return Chunk{}, nil
		}
		seg = next
	}
}

// readSegment finds the batch holding offset at or after position from and
// extends the chunk over the following batches within the limits. found is
// false when the segment holds no batch at or after offset. The returned
// chunk keeps the caller's pin on seg (f is its file) when it is non-empty.
func (l *Log) readSegment(seg *segment, f File, limit, from, offset int64, maxBytes int, maxOffset int64) (c Chunk, found bool, err error) {
	w := newBatchWalker(f, limit)
	defer w.release()

	pos := from
	var h BatchHeader
	for ; pos < limit; pos += int64(h.Size()) {
		if h, err = w.header(pos); err != nil {
			return Chunk{}, false, err
		}
		if h.LastOffset() >= offset {
			break
		}
	}
	if pos >= limit {
		return Chunk{}, false, nil
	}
	if h.LastOffset() >= maxOffset {
		return Chunk{}, true, nil
	}

	start, end, first, last := pos, pos+int64(h.Size()), h.BaseOffset, h.LastOffset()
	walkFrom := end
	if int64(maxBytes) > end-start && end < limit {
		l.mu.RLock()
		walkFrom = seg.skipTarget(start, end, maxBytes, maxOffset, limit)
		l.mu.RUnlock()
	}
	for {
		added := false
		for p := walkFrom; p < limit; {
			if h, err = w.header(p); err != nil {
				return Chunk{}, false, err
			}
			if h.LastOffset() >= maxOffset || p+int64(h.Size())-start > int64(maxBytes) {
				break
			}
			p += int64(h.Size())
			end, last, added = p, h.LastOffset(), true
		}
		if added || walkFrom == end {
			break
		}
		// The skip promised at least one more batch but the walk found
		// none (a concurrent Truncate): redo it without skipping, so
		// last stays exact.
		walkFrom = end
	}
	return Chunk{
		File:        f,
		Pos:         start,
		Size:        int(end - start),
		FirstOffset: first,
		LastOffset:  last,
		release:     seg.unpinFn,
	}, true, nil
}

// floorSegment returns the index of the last segment with base <= offset
// (0 if none). mu held.
func (l *Log) floorSegment(offset int64) int {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.segs[mid].base <= offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return max(lo-1, 0)
}

// segmentAfter returns the first segment with base > base, or nil. mu held.
func (l *Log) segmentAfter(base int64) *segment {
	for _, s := range l.segs {
		if s.base > base {
			return s
		}
	}
	return nil
}

// Scan calls fn for every batch from the batch containing from to the end
// of the log as it was when Scan started, in order. batch is only valid
// during the call. from below LogStartOffset gives ErrOffsetOutOfRange.
//
// It pins one segment at a time (a log may have thousands) and finds the
// next one by offset, so a segment replaced by compaction meanwhile is read
// in its new form. If retention deletes records before the scan reached
// them, it returns ErrOffsetOutOfRange (as a fetch there would).
func (l *Log) Scan(from int64, fn func(h BatchHeader, batch []byte) error) error {
	if err := l.Err(); err != nil {
		return err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if from < l.logStart.Load() {
		l.mu.RUnlock()
		return ErrOffsetOutOfRange
	}
	stop := l.nextOffset.Load()
	l.mu.RUnlock()

	next := from // every batch with a last offset below next was passed on
	var buf []byte
	for next < stop {
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return ErrClosed
		}
		if next < l.logStart.Load() {
			// Retention deleted what the scan was about to read.
			l.mu.RUnlock()
			return ErrOffsetOutOfRange
		}
		i := l.floorSegment(next)
		for i < len(l.segs) && l.segs[i].end <= next {
			i++ // next lies past this segment (or in a gap compaction left)
		}
		if i == len(l.segs) {
			l.mu.RUnlock()
			return nil
		}
		seg := l.segs[i]
		limit, end, pos := seg.size, seg.end, seg.positionFor(next)
		f, err := seg.pin()
		l.mu.RUnlock()
		if err != nil {
			return err
		}
		next, buf, err = scanSegment(seg, f, pos, limit, next, stop, buf, fn)
		seg.unpin()
		if err != nil {
			return err
		}
		// The walk reached the end seen under the lock; the max only
		// guards against looping on a segment that yields nothing.
		next = max(next, min(end, stop))
	}
	return nil
}

// scanSegment passes fn the batches of seg in [pos, limit) whose last
// offset is >= next and whose base offset is below stop, and returns the
// new next.
func scanSegment(seg *segment, f File, pos, limit, next, stop int64, buf []byte, fn func(h BatchHeader, batch []byte) error) (int64, []byte, error) {
	for pos < limit {
		var hdr [BatchHeaderLen]byte
		if _, err := f.ReadAt(hdr[:], pos); err != nil {
			return next, buf, readErr(seg, pos, err)
		}
		h := parseHeader(hdr[:])
		if h.Length < minBatchLength || pos+int64(h.Size()) > limit {
			return next, buf, &CorruptError{Reason: fmt.Sprintf("%s: bad batch length at position %d", seg.logPath, pos)}
		}
		if h.BaseOffset >= stop {
			return stop, buf, nil
		}
		if h.LastOffset() >= next {
			if cap(buf) < h.Size() {
				buf = make([]byte, h.Size())
			}
			b := buf[:h.Size()]
			if _, err := f.ReadAt(b, pos); err != nil {
				return next, buf, readErr(seg, pos, err)
			}
			if err := fn(h, b); err != nil {
				return next, buf, err
			}
			next = h.LastOffset() + 1
		}
		pos += int64(h.Size())
	}
	return next, buf, nil
}

func readErr(s *segment, pos int64, err error) error {
	if errors.Is(err, io.EOF) {
		return &CorruptError{Reason: fmt.Sprintf("%s: file ends inside the batch at position %d", s.logPath, pos)}
	}
	return fmt.Errorf("storage: read %s: %w", s.logPath, err)
}

// FindOffsetByTimestamp returns a chunk holding the first batch whose
// MaxTimestamp >= ts (the caller finds the exact record inside); false if
// no batch qualifies.
func (l *Log) FindOffsetByTimestamp(ts int64) (Chunk, bool, error) {
	if err := l.Err(); err != nil {
		return Chunk{}, false, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Chunk{}, false, ErrClosed
	}
	start := l.logStart.Load()
	for i := l.floorSegment(start); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.maxTs < ts {
			continue
		}
		// Every batch up to the last time entry below ts is older than
		// ts; start the walk there.
		from := int64(0)
		if j := lastTimeBelow(s.timeIndex, ts); j >= 0 {
			from = s.positionFor(s.base + int64(s.timeIndex[j].rel))
		}
		limit := s.size
		f, err := s.pin()
		l.mu.RUnlock()
		if err != nil {
			return Chunk{}, false, err
		}
		c, found, err := findInSegment(s, f, limit, from, ts, start)
		if err != nil || !found {
			s.unpin()
		}
		if err != nil || found {
			return c, found, err
		}
		l.mu.RLock()
		if l.closed {
			l.mu.RUnlock()
			return Chunk{}, false, ErrClosed
		}
		// The list may have changed while unlocked; resume after s.
		i = l.floorSegment(s.base)
		if l.segs[i].base > s.base {
			i-- // every segment up to s is gone; the loop resumes at 0
		}
	}
	l.mu.RUnlock()
	return Chunk{}, false, nil
}

// findInSegment walks seg from position from to the first batch with
// MaxTimestamp >= ts that still holds offsets >= logStart.
func findInSegment(seg *segment, f File, limit, from, ts, logStart int64) (Chunk, bool, error) {
	w := newBatchWalker(f, limit)
	defer w.release()
	for pos := from; pos < limit; {
		h, err := w.header(pos)
		if err != nil {
			return Chunk{}, false, err
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= logStart {
			return Chunk{
				File:        f,
				Pos:         pos,
				Size:        h.Size(),
				FirstOffset: h.BaseOffset,
				LastOffset:  h.LastOffset(),
				release:     seg.unpinFn,
			}, true, nil
		}
		pos += int64(h.Size())
	}
	return Chunk{}, false, nil
}
