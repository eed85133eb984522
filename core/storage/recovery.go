package storage

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// leftoverSuffixes mark files of interrupted operations (ours or Kafka's
// layout); they are never needed and are removed on open.
var leftoverSuffixes = []string{tmpSuffix, ".deleted", ".cleaned", ".swap"}

// load builds the in-memory view of the directory: it completes
// compaction swaps that reached their commit point, removes leftovers,
// opens the segments, trusts (after a sanity check) or rebuilds their
// indexes and, after an unclean shutdown, validates the tail from the
// recovery point on. It runs before the log is shared, so it takes no locks.
func (l *Log) load(recover bool) error {
	if err := l.finishSwaps(); err != nil {
		return err
	}
	bases, err := l.cleanDir()
	if err != nil {
		return err
	}
	logStart, haveLogStart := l.checkpoint(logStartOffsetFile)
	rp, haveRP := l.checkpoint(recoveryPointFile)

	if len(bases) == 0 {
		return l.initEmpty(max(logStart, 0))
	}
	for _, base := range bases {
		// Files are opened as they are loaded and closed again (by the
		// FileCache) beyond its budget.
		l.segs = append(l.segs, newSegment(l, base, nil))
	}

	scanFrom := len(l.segs)
	if recover {
		scanFrom = 0
		if haveRP {
			scanFrom = l.floorSegment(rp)
		}
	}
	for i := 0; i < scanFrom; i++ {
		err := l.loadTrusted(l.segs[i])
		if errors.Is(err, ErrCorruptBatch) {
			// The data itself is damaged where it should be sound:
			// validate everything from here on.
			l.logger.Warn("storage: segment failed its sanity check, recovering from it", "segment", l.segs[i].base, "err", err)
			scanFrom = i
			break
		}
		if err != nil {
			return err
		}
	}
	recovered := scanFrom < len(l.segs)
	if recovered {
		if err := l.recoverFrom(scanFrom); err != nil {
			return err
		}
	}

	l.active = l.segs[len(l.segs)-1]
	if _, err := l.active.pinForLog(); err != nil {
		return err
	}
	next := l.active.end
	l.nextOffset.Store(next)
	start := l.segs[0].base
	if haveLogStart {
		start = min(max(start, logStart), next)
	}
	l.logStart.Store(start)
	if err := l.initRollStart(); err != nil {
		return err
	}

	if recovered {
		// recoverFrom fsynced everything it kept.
		return l.persistRecoveryPoint(next, l.active.base)
	}
	if !haveRP {
		rp = l.segs[0].base
	}
	rp = min(rp, next)
	l.recoveryPoint.Store(rp)
	l.checkpointed, l.checkpointedSegBase = rp, l.segs[l.floorSegment(rp)].base
	if !haveRP {
		l.checkpointedSegBase = -1 // write the missing checkpoint on the next flush
	}
	return nil
}

// cleanDir removes leftovers and orphaned index files and returns the
// segment base offsets, ascending.
func (l *Log) cleanDir() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("storage: read log dir: %w", err)
	}
	var bases []int64
	var indexFiles []string
	removed := false
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case slices.ContainsFunc(leftoverSuffixes, func(s string) bool { return strings.HasSuffix(name, s) }):
			if err := l.removeFile(name, "leftover"); err != nil {
				return nil, err
			}
			removed = true
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseSegmentName(name, logSuffix); ok {
				bases = append(bases, base)
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix), strings.HasSuffix(name, txnIndexSuffix):
			indexFiles = append(indexFiles, name)
		}
	}
	slices.Sort(bases)
	for _, name := range indexFiles {
		base, ok := parseSegmentName(name, indexSuffix)
		if !ok {
			base, ok = parseSegmentName(name, timeIndexSuffix)
		}
		if !ok {
			base, ok = parseSegmentName(name, txnIndexSuffix)
		}
		if ok && !slices.Contains(bases, base) {
			if err := l.removeFile(name, "index without segment"); err != nil {
				return nil, err
			}
			removed = true
		}
	}
	if removed {
		if err := fsyncDir(l.dir); err != nil {
			return nil, err
		}
	}
	return bases, nil
}

func (l *Log) removeFile(name, why string) error {
	l.logger.Info("storage: removing stray file", "file", name, "reason", why)
	if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove %s: %w", name, err)
	}
	return nil
}

// parseSegmentName parses "<20 digits><suffix>".
func parseSegmentName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// checkpoint reads a checkpoint file; an unreadable one counts as absent
// (the safe direction: recovery then scans more, retention keeps more).
func (l *Log) checkpoint(name string) (int64, bool) {
	v, ok, err := readCheckpoint(l.dir, name)
	if err != nil {
		l.logger.Warn("storage: ignoring unreadable checkpoint", "file", name, "err", err)
		return 0, false
	}
	return v, ok
}

// initEmpty starts a log with no segments at start.
func (l *Log) initEmpty(start int64) error {
	seg, err := l.createSegment(start)
	if err != nil {
		return err
	}
	l.segs = []*segment{seg}
	l.active = seg
	l.nextOffset.Store(start)
	l.logStart.Store(start)
	// Nothing is written or fsynced beyond the segment file itself: an
	// empty log loses nothing in a crash. Its index files are written by
	// the first flush (indexOnDisk is false) and are rebuilt if missing;
	// a missing recovery point means recovering from the start, which
	// for a log never flushed is all of it anyway; the first flush also
	// fsyncs the directory (dirDirty). This keeps creating a partition
	// at a couple of file creations: a topic of 1,000 partitions used to
	// cost some 6,000 fsyncs here.
	l.checkpointed, l.checkpointedSegBase = start, start
	l.recoveryPoint.Store(start)
	l.dirDirty.Store(true)
	return nil
}

// loadTrusted loads a segment written before a clean shutdown (or before
// the recovery point) without validating its data: the index files are
// sanity-checked and, if missing or malformed, rebuilt by walking the batch
// headers; then the batches after the last index entry are walked to find
// the segment's end. Returns a *CorruptError if the batch structure itself
// is broken.
func (l *Log) loadTrusted(s *segment) error {
	f, err := s.pin()
	if err != nil {
		return err
	}
	defer s.unpin()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: stat %s: %w", s.logPath, err)
	}
	size := fi.Size()
	err = l.loadIndexes(s, f, size)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errBadIndex) {
		return err
	}
	l.logger.Info("storage: rebuilding segment index", "segment", s.base, "reason", err)
	end, err := l.scanSegment(s, f, size, false, s.base)
	if err != nil {
		return err
	}
	if end != size {
		return &CorruptError{Reason: fmt.Sprintf("segment %d: unreadable batch at position %d", s.base, end)}
	}
	return s.rewriteIndexes()
}

// loadIndexes reads and checks both index files, then walks the batches
// after the last index entry. errBadIndex means the files cannot be used.
func (l *Log) loadIndexes(s *segment, f File, size int64) error {
	ib, err := os.ReadFile(s.indexPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s missing", errBadIndex, s.indexPath)
		}
		return fmt.Errorf("storage: read index: %w", err)
	}
	tb, err := os.ReadFile(s.timeIndexPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s missing", errBadIndex, s.timeIndexPath)
		}
		return fmt.Errorf("storage: read time index: %w", err)
	}
	index, err := decodeIndex(ib, size)
	if err != nil {
		return err
	}
	timeIndex, err := decodeTimeIndex(tb)
	if err != nil {
		return err
	}
	s.index, s.timeIndex = index, timeIndex
	s.indexSynced, s.timeIndexSynced, s.indexOnDisk = len(index), len(timeIndex), true

	tailPos, tailOffset := s.indexedStart()
	w := newBatchWalker(f, size)
	defer w.release()
	s.size, s.end, s.maxTs = size, s.base, s.lastIndexedTs()
	for pos := tailPos; pos < size; {
		h, err := w.header(pos)
		if err != nil && pos == tailPos && tailPos > 0 {
			// No batch starts where the last entry points.
			return fmt.Errorf("%w: last entry points at no batch: %v", errBadIndex, err)
		}
		if err != nil {
			return err
		}
		// Without entries there is nothing to check: compaction may have
		// removed the segment's first offsets.
		if pos == tailPos && len(index) > 0 && h.BaseOffset != tailOffset {
			return fmt.Errorf("%w: last entry points at offset %d, batch there has %d", errBadIndex, tailOffset, h.BaseOffset)
		}
		if err := checkHeader(h); err != nil {
			return err
		}
		s.end = h.LastOffset() + 1
		s.maxTs = max(s.maxTs, h.MaxTimestamp)
		pos += int64(h.Size())
	}
	if n := len(timeIndex); n > 0 && s.base+int64(timeIndex[n-1].rel) >= s.end {
		return fmt.Errorf("%w: time index points past the segment end", errBadIndex)
	}
	s.bytesSinceIndex = size - tailPos
	return nil
}

// scanSegment rebuilds a segment's in-memory state by reading every batch
// from position 0, stopping at the first invalid one: a torn or oversized
// length, wrong magic, a base offset below expected (offsets must grow), or,
// with checkCRC, a CRC mismatch. It returns the position where valid data
// ends; err (a *CorruptError) says why it ended before size.
func (l *Log) scanSegment(s *segment, f File, size int64, checkCRC bool, expected int64) (validEnd int64, err error) {
	s.index, s.timeIndex = nil, nil
	s.size, s.end, s.maxTs, s.bytesSinceIndex = 0, s.base, -1, 0
	interval := l.cfg.Load().IndexIntervalBytes
	expected = max(expected, s.base)

	w := newBatchWalker(f, size)
	defer w.release()
	var buf []byte
	pos := int64(0)
	for pos < size {
		h, err := w.header(pos)
		if err != nil {
			return pos, err
		}
		if err := checkHeader(h); err != nil {
			return pos, err
		}
		switch {
		case h.BaseOffset < expected:
			return pos, &CorruptError{Reason: fmt.Sprintf("base offset %d below the expected %d", h.BaseOffset, expected)}
		case h.LastOffset()-s.base > math.MaxUint32 || pos+int64(h.Size()) > math.MaxUint32:
			return pos, &CorruptError{Reason: "batch outside the segment's addressable range"}
		}
		if checkCRC {
			buf = slices.Grow(buf[:0], h.Size())[:h.Size()]
			if _, err := f.ReadAt(buf, pos); err != nil {
				return pos, readErr(s, pos, err)
			}
			if crc32.Checksum(buf[offAttributes:], castagnoli) != h.CRC {
				return pos, &CorruptError{Reason: "CRC-32C mismatch"}
			}
		}
		s.trackBatch(h, pos, interval)
		expected = h.LastOffset() + 1
		pos += int64(h.Size())
	}
	return pos, nil
}

// recoverFrom validates segments i.. after an unclean shutdown: at the first
// invalid or torn batch it cuts that segment there and deletes every later
// segment (an emptied segment other than the first goes too, so offsets
// never go backwards). Every kept segment's data and rebuilt indexes are
// fsynced.
func (l *Log) recoverFrom(i int) error {
	expected := int64(-1)
	if i > 0 {
		expected = l.segs[i-1].end
	}
	scanned := i
	for ; scanned < len(l.segs); scanned++ {
		s := l.segs[scanned]
		end, size, bad, err := l.recoverSegment(s, expected)
		if err != nil {
			return err
		}
		if bad == nil {
			expected = s.end
			continue
		}
		dropped := l.segs[scanned+1:]
		l.logger.Warn("storage: recovery truncated the log",
			"segment", s.base, "position", end, "reason", bad,
			"bytes_dropped", size-end, "segments_dropped", len(dropped))
		l.segs = l.segs[:scanned+1]
		if end == 0 && scanned > 0 {
			dropped = append([]*segment{s}, dropped...)
			l.segs = l.segs[:scanned]
		}
		for _, d := range dropped {
			if err := d.removeFiles(); err != nil {
				return fmt.Errorf("storage: delete segment: %w", err)
			}
			d.retire()
		}
		break
	}
	for _, s := range l.segs[i:] {
		if err := syncSegment(s); err != nil {
			return err
		}
		if err := s.rewriteIndexes(); err != nil {
			return err
		}
	}
	return fsyncDir(l.dir)
}

// recoverSegment validates one segment (see recoverFrom) and cuts its file
// at the first invalid batch. bad says why it ended early (nil if valid);
// size is the file size before the cut.
func (l *Log) recoverSegment(s *segment, expected int64) (end, size int64, bad, err error) {
	f, err := s.pin()
	if err != nil {
		return 0, 0, nil, err
	}
	defer s.unpin()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, nil, fmt.Errorf("storage: stat %s: %w", s.logPath, err)
	}
	size = fi.Size()
	if s.base < expected {
		bad = &CorruptError{Reason: fmt.Sprintf("segment base %d below the previous segment's end %d", s.base, expected)}
	} else {
		end, bad = l.scanSegment(s, f, size, true, expected)
		if bad != nil && !errors.Is(bad, ErrCorruptBatch) {
			return 0, 0, nil, bad
		}
	}
	if bad != nil {
		if err := f.Truncate(end); err != nil {
			return 0, 0, nil, fmt.Errorf("storage: truncate %s: %w", s.logPath, err)
		}
	}
	return end, size, bad, nil
}

// syncSegment fsyncs a segment's data file.
func syncSegment(s *segment) error {
	f, err := s.pin()
	if err != nil {
		return err
	}
	defer s.unpin()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("storage: fsync %s: %w", s.logPath, err)
	}
	return nil
}

// initRollStart starts the active segment's age: like Kafka, from its first
// batch's timestamp when that is plausible, else from now.
func (l *Log) initRollStart() error {
	s := l.active
	if s.size == 0 {
		return nil
	}
	now := l.now()
	s.rollStart = now
	w := newBatchWalker(s.file, s.size) // pinned for the log
	defer w.release()
	h, err := w.header(0)
	if err != nil {
		return err
	}
	if ts := h.MaxTimestamp; ts > 0 && ts <= now.UnixMilli() {
		s.rollStart = time.UnixMilli(ts)
	}
	return nil
}
