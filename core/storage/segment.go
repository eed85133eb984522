package storage

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File name suffixes of a segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segmentPath names a segment file by its 20-digit zero-padded base offset,
// as Kafka does, so names sort by offset.
func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file plus its in-memory sparse indexes. See the lock
// discipline in log.go for which Log lock guards which field.
type segment struct {
	base          int64
	logPath       string
	indexPath     string
	timeIndexPath string

	// The data file, opened lazily and kept open while pinned (see
	// FileCache). Guarded by fc.mu; pin returns the file to use.
	fc       *FileCache
	openFile OpenFileFunc
	openMu   sync.Mutex    // one opener at a time
	file     File          // nil while closed
	pins     int           // the log's pin (logPin) plus in-flight readers and Chunks
	logPin   bool          // active, or rolled but not yet fsynced
	retired  bool          // left the log: close at the last unpin, never reopen
	elem     *list.Element // in fc.idle while open and unpinned

	// Guarded by Log.mu; written only with Log.appendMu also held (or
	// before the log is shared), so an appendMu holder may read them
	// without mu.
	size            int64 // committed bytes: readers never look past it
	end             int64 // exclusive upper bound of the offsets stored here
	maxTs           int64 // largest MaxTimestamp of any batch, -1 if none
	index           []indexEntry
	timeIndex       []timeEntry
	bytesSinceIndex int64 // bytes appended since the last index entry
	// aborted is the .txnindex (txnindex.go): aborted transactions whose
	// marker is in this segment, by marker offset. Changed under syncMu
	// and mu; readers copy what they need under mu.
	aborted []AbortedTxn

	// rollStart is when the segment's age began (first append, or the
	// first batch's timestamp on open); zero while empty. Guarded by
	// Log.appendMu.
	rollStart time.Time

	// Guarded by Log.syncMu: how many index entries are on disk and
	// whether both index files exist.
	indexSynced     int
	timeIndexSynced int
	indexOnDisk     bool
	// txnDirty: .txnindex entries were written but not fsynced yet.
	txnDirty bool

	unpinFn func() // s.unpin, bound once so Read does not allocate
}

// newSegment makes the segment at base of l's directory. With f (a file
// just created) the segment starts open and pinned for the log; without,
// its file is opened when first pinned.
func newSegment(l *Log, base int64, f File) *segment {
	s := &segment{
		base:          base,
		logPath:       segmentPath(l.dir, base, logSuffix),
		indexPath:     segmentPath(l.dir, base, indexSuffix),
		timeIndexPath: segmentPath(l.dir, base, timeIndexSuffix),
		fc:            l.files,
		openFile:      l.openFile,
		end:           base,
		maxTs:         -1,
	}
	s.unpinFn = s.unpin
	if f != nil {
		s.adopt(f)
	}
	return s
}

// createSegment creates an empty segment file at base. Any file already
// there is garbage (no live segment has that base), so it is truncated.
func (l *Log) createSegment(base int64) (*segment, error) {
	dir := l.dir
	f, err := l.openFile(segmentPath(dir, base, logSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: create segment: %w", err)
	}
	s := newSegment(l, base, f)
	// Stale index files would be trusted by a later clean open.
	for _, p := range []string{s.indexPath, s.timeIndexPath, s.txnIndexPath()} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.retire()
			return nil, fmt.Errorf("storage: remove stale index: %w", err)
		}
	}
	return s, nil
}

// removeFiles unlinks the segment's files; open references keep the data
// readable until they are released. A compaction swap left unfinished by an
// I/O error goes too, or the next open would complete it and bring the
// segment back.
func (s *segment) removeFiles() error {
	var errs []error
	for _, p := range []string{s.logPath, s.indexPath, s.timeIndexPath, s.txnIndexPath(), s.logPath + swapSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// trackBatch records a batch written at pos: sizes, offsets, timestamps and,
// every IndexIntervalBytes, a sparse index entry. Append and index rebuilds
// share it so both produce the same index.
func (s *segment) trackBatch(h BatchHeader, pos int64, indexInterval int32) {
	if s.bytesSinceIndex > int64(indexInterval) {
		rel := uint32(h.BaseOffset - s.base)
		s.index = append(s.index, indexEntry{rel: rel, pos: uint32(pos)})
		if ts := max(s.maxTs, h.MaxTimestamp); ts > s.lastIndexedTs() {
			s.timeIndex = append(s.timeIndex, timeEntry{ts: ts, rel: rel})
		}
		s.bytesSinceIndex = 0
	}
	size := int64(h.Size())
	s.bytesSinceIndex += size
	s.size = pos + size
	s.end = h.LastOffset() + 1
	s.maxTs = max(s.maxTs, h.MaxTimestamp)
}

// lastIndexedTs is the newest time index timestamp, -1 if none (Kafka's "no
// timestamp"), so batches without timestamps never create entries.
func (s *segment) lastIndexedTs() int64 {
	if n := len(s.timeIndex); n > 0 {
		return s.timeIndex[n-1].ts
	}
	return -1
}

// positionFor is where a walk for offset starts: the position of the last
// indexed batch at or below offset.
func (s *segment) positionFor(offset int64) int64 {
	if offset <= s.base {
		return 0
	}
	if i := floorEntry(s.index, relOffset(s.base, offset)); i >= 0 {
		return int64(s.index[i].pos)
	}
	return 0
}

// indexedStart returns the position and offset of the last index entry (0
// and base if none): everything before it is covered by the index.
func (s *segment) indexedStart() (pos, offset int64) {
	if n := len(s.index); n > 0 {
		e := s.index[n-1]
		return int64(e.pos), s.base + int64(e.rel)
	}
	return 0, s.base
}

// skipTarget lets a Read skip whole batches without reading their headers.
// All batches before an index entry e lie below e's position and have
// offsets below e's offset, so if e fits the byte and offset limits they
// all do. It returns the position of the entry before the furthest such e
// (so the walk that follows adds at least one batch and learns the exact
// last offset), or end when the index cannot help.
func (s *segment) skipTarget(start, end int64, maxBytes int, maxOffset, limit int64) int64 {
	bound := limit
	if int64(maxBytes) < limit-start {
		bound = start + int64(maxBytes)
	}
	if bound > math.MaxUint32 {
		bound = math.MaxUint32
	}
	// Last entry with pos <= bound.
	lo, hi := 0, len(s.index)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if int64(s.index[mid].pos) <= bound {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	k := lo - 1
	if maxOffset < s.base {
		return end
	}
	k = min(k, floorEntry(s.index, relOffset(s.base, maxOffset)))
	if k >= 1 && int64(s.index[k-1].pos) > end {
		return int64(s.index[k-1].pos)
	}
	return end
}
