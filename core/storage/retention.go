package storage

import (
	"fmt"
	"os"
	"time"
)

// futureSkew: a segment whose newest timestamp is further ahead of the
// clock than this has an absurd timestamp (a producer with a broken clock);
// retention then ages it by file mtime instead, or it would never expire.
const futureSkew = time.Hour

// EnforceRetention deletes closed segments by RetentionMs/RetentionBytes,
// never the active segment and never a segment holding offsets >= maxOffset
// (the high watermark). Returns the number of segments deleted.
//
// Like Kafka it deletes a prefix of the log: it stops at the first segment
// that is neither expired nor needed to get under RetentionBytes.
func (l *Log) EnforceRetention(maxOffset int64) (int, error) {
	cfg := l.cfg.Load()
	if cfg.RetentionMs < 0 && cfg.RetentionBytes < 0 {
		return 0, nil
	}
	if err := l.Err(); err != nil {
		return 0, err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()

	type candidate struct {
		seg        *segment
		size, end  int64
		newestTime int64
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	var total int64
	for _, s := range l.segs {
		total += s.size
	}
	// syncMu excludes every other deleter, and a concurrent roll only
	// adds segments at the end, so these stay the log's first segments.
	closed := make([]candidate, 0, len(l.segs)-1)
	for _, s := range l.segs[:len(l.segs)-1] {
		closed = append(closed, candidate{seg: s, size: s.size, end: s.end, newestTime: s.maxTs})
	}
	l.mu.RUnlock()

	now := l.now()
	n := 0
	for _, c := range closed {
		if c.end > maxOffset {
			break
		}
		expired := false
		if cfg.RetentionMs >= 0 {
			newest, err := segmentAge(c.seg, c.newestTime, now)
			if err != nil {
				return 0, err
			}
			expired = now.UnixMilli()-newest > cfg.RetentionMs
		}
		oversize := cfg.RetentionBytes >= 0 && total-c.size >= cfg.RetentionBytes
		if !expired && !oversize {
			break
		}
		total -= c.size
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, l.deleteOldestSegments(n, "retention")
}

// segmentAge returns the time (unix ms) retention ages a segment by: its
// newest batch timestamp, or the file's mtime when the batches carry no
// timestamp (-1) or an absurd one.
func segmentAge(s *segment, newest int64, now time.Time) (int64, error) {
	if newest >= 0 && newest <= now.Add(futureSkew).UnixMilli() {
		return newest, nil
	}
	// By path, not fd (the file may be closed): syncMu, held by the
	// caller, keeps the segment in place.
	fi, err := os.Stat(s.logPath)
	if err != nil {
		return 0, fmt.Errorf("storage: stat %s: %w", s.logPath, err)
	}
	return fi.ModTime().UnixMilli(), nil
}

// DeleteRecordsBefore raises the log start offset to offset (persisted) and
// deletes segments wholly below it. offset may not exceed NextOffset.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	if err := l.Err(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	switch {
	case closed:
		return ErrClosed
	case offset > l.nextOffset.Load() || offset < 0:
		return ErrOffsetOutOfRange
	case offset <= l.logStart.Load():
		return nil
	}
	// Persist first: once callers see the new start, a crash must not
	// bring the deleted records back.
	if err := writeCheckpoint(l.dir, logStartOffsetFile, offset); err != nil {
		return err
	}
	l.mu.Lock()
	l.logStart.Store(offset)
	n := 0
	for n < len(l.segs)-1 && l.segs[n].end <= offset {
		n++
	}
	l.mu.Unlock()
	if n == 0 {
		return nil
	}
	return l.deleteOldestSegments(n, "delete-records")
}

// deleteOldestSegments removes the first n segments (never the active one)
// and raises the log start offset to the new first segment. syncMu held.
// Files are unlinked now; the fds close when the last Chunk is released.
func (l *Log) deleteOldestSegments(n int, reason string) error {
	l.mu.Lock()
	n = min(n, len(l.segs)-1)
	victims := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	if first := l.segs[0].base; first > l.logStart.Load() {
		l.logStart.Store(first)
	}
	l.mu.Unlock()

	var firstErr error
	for _, s := range victims {
		if err := s.removeFiles(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("storage: delete segment: %w", err)
		}
		l.logger.Info("storage: deleted segment", "reason", reason, "base", s.base, "end", s.end, "bytes", s.size)
		s.retire()
	}
	return firstErr
}
