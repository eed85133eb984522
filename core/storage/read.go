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
		seg.acquire()
		l.mu.RUnlock()

		c, found, err := l.readSegment(seg, limit, from, offset, maxBytes, maxOffset)
		if err != nil || c.Size == 0 {
			seg.release()
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
// chunk keeps the caller's reference on seg when it is non-empty.
func (l *Log) readSegment(seg *segment, limit, from, offset int64, maxBytes int, maxOffset int64) (c Chunk, found bool, err error) {
	w := newBatchWalker(seg.log, limit)
	defer w.release()

	pos := from
	var h Header
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
		File:        seg.log,
		Pos:         start,
		Size:        int(end - start),
		FirstOffset: first,
		LastOffset:  last,
		release:     seg.releaseFn,
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
// of the log, in order. batch is only valid during the call. from below
// LogStartOffset gives ErrOffsetOutOfRange.
func (l *Log) Scan(from int64, fn func(h Header, batch []byte) error) error {
	type view struct {
		seg         *segment
		limit, from int64
	}
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
	var views []view
	for i := l.floorSegment(from); i < len(l.segs); i++ {
		s := l.segs[i]
		s.acquire()
		views = append(views, view{seg: s, limit: s.size, from: s.positionFor(from)})
	}
	l.mu.RUnlock()
	defer func() {
		for _, v := range views {
			v.seg.release()
		}
	}()

	var buf []byte
	for _, v := range views {
		for pos := v.from; pos < v.limit; {
			var hdr [BatchHeaderLen]byte
			if _, err := v.seg.log.ReadAt(hdr[:], pos); err != nil {
				return readErr(v.seg, pos, err)
			}
			h := parseHeader(hdr[:])
			if h.Length < minBatchLength || pos+int64(h.Size()) > v.limit {
				return &CorruptError{Reason: fmt.Sprintf("%s: bad batch length at position %d", v.seg.logPath, pos)}
			}
			if h.LastOffset() >= from {
				if cap(buf) < h.Size() {
					buf = make([]byte, h.Size())
				}
				b := buf[:h.Size()]
				if _, err := v.seg.log.ReadAt(b, pos); err != nil {
					return readErr(v.seg, pos, err)
				}
				if err := fn(h, b); err != nil {
					return err
				}
			}
			pos += int64(h.Size())
		}
	}
	return nil
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
		s.acquire()
		l.mu.RUnlock()
		c, found, err := findInSegment(s, limit, from, ts, start)
		if err != nil || !found {
			s.release()
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
func findInSegment(seg *segment, limit, from, ts, logStart int64) (Chunk, bool, error) {
	w := newBatchWalker(seg.log, limit)
	defer w.release()
	for pos := from; pos < limit; {
		h, err := w.header(pos)
		if err != nil {
			return Chunk{}, false, err
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= logStart {
			return Chunk{
				File:        seg.log,
				Pos:         pos,
				Size:        h.Size(),
				FirstOffset: h.BaseOffset,
				LastOffset:  h.LastOffset(),
				release:     seg.releaseFn,
			}, true, nil
		}
		pos += int64(h.Size())
	}
	return Chunk{}, false, nil
}
