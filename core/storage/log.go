package storage

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Lock discipline. Locks are taken in this order, never the reverse:
//
//	cleanMu   serializes Compact runs. Compact reads pinned segments and
//	          writes its .cleaned files holding only cleanMu, then takes
//	          syncMu (through Flush, and for the swap) and mu.
//	appendMu  serializes changes to the log's tail: Append, roll, MaybeRoll,
//	          Truncate and Close. (The caller already runs one Append at a
//	          time; appendMu orders it against the others.)
//	syncMu    serializes everything that fsyncs, writes index or checkpoint
//	          files, or deletes segments: the flush (one group-commit leader
//	          at a time), EnforceRetention, DeleteRecordsBefore, Truncate,
//	          Compact's swap and Close.
//	mu        (RWMutex) guards the in-memory view: segs, closed and each
//	          segment's size/end/maxTs/index/timeIndex/bytesSinceIndex. It is
//	          held only for memory reads and updates, never across I/O, so
//	          Read's preads and Append's write never wait on each other. The
//	          fields only the tail's writer changes (active, nextOffset,
//	          the segment fields above) are written under appendMu+mu, so an
//	          appendMu holder may read them without mu. segs changes under
//	          appendMu+mu (roll) or syncMu+mu (deletion, compaction's
//	          swap), so a holder of both appendMu and syncMu (Truncate) may
//	          read it without mu.
//	flushMu   guards the group-commit state (flushing, flushStopped) and
//	          flushCond. A leaf lock: never held during I/O or while taking
//	          another lock.
//
// Lock-free reads: nextOffset and logStart (atomics written under the locks
// above), recoveryPoint (stored only under syncMu), cfg (atomic pointer)
// and segment reference counts.

// Log is one partition's segmented log. All methods are safe for concurrent use.
type Log struct {
	dir      string
	now      func() time.Time
	openFile OpenFileFunc
	files    *FileCache
	logger   *slog.Logger
	cfg      atomic.Pointer[Config]

	cleanMu  sync.Mutex
	appendMu sync.Mutex
	syncMu   sync.Mutex
	mu       sync.RWMutex
	flushMu  sync.Mutex

	segs   []*segment // ascending base offsets; the last one is active (mu)
	active *segment   // appendMu+mu
	closed bool       // appendMu+syncMu+mu

	nextOffset    atomic.Int64 // written under appendMu+mu
	logStart      atomic.Int64 // written under mu (plus syncMu or appendMu)
	recoveryPoint atomic.Int64 // written under syncMu

	// Guarded by syncMu: the last recovery-point checkpoint written and
	// the base of the segment it falls in.
	checkpointed        int64
	checkpointedSegBase int64
	// dirDirty: a segment file was created since the directory was
	// last fsynced.
	dirDirty atomic.Bool

	// offline is set by the first failed write, truncate or fsync and
	// never cleared (see Err).
	offline atomic.Pointer[OfflineError]

	// flushes counts completed flushes (for tests of group commit).
	flushes atomic.Int64

	// cleanerOffset: Compact has cleaned everything below it (in memory
	// only: after a restart the first run treats the whole log as dirty).
	// Only the dirty-ratio estimate uses it. Written under syncMu.
	cleanerOffset atomic.Int64
	// truncations counts Truncate calls (under syncMu): Compact abandons a
	// run that a truncation overlapped.
	truncations atomic.Int64
	// compactHook, if set (tests), is called at each compaction stage
	// (see stageWritten).
	compactHook func(stage string)

	flushCond    *sync.Cond // on flushMu
	flushing     bool       // a goroutine is running the flush (flushMu)
	flushStopped bool       // log closed: waiters give up (flushMu)
}

// Open opens (creating if needed) the log in dir. See OpenOptions.Recover.
func Open(dir string, cfg Config, opts OpenOptions) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: create log dir: %w", err)
	}
	l := &Log{dir: dir, now: opts.Now, logger: opts.Logger, openFile: opts.OpenFile}
	if l.openFile == nil {
		l.openFile = osOpenFile
	}
	l.files = opts.Files
	if l.files == nil {
		l.files = defaultFileCache
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.logger == nil {
		l.logger = slog.Default()
	}
	l.logger = l.logger.With("log", dir)
	l.flushCond = sync.NewCond(&l.flushMu)
	l.SetConfig(cfg)
	err := l.load(opts.Recover)
	if err == nil {
		err = l.loadTxnIndexes()
	}
	if err != nil {
		for _, s := range l.segs {
			s.retire()
		}
		return nil, err
	}
	return l, nil
}

// Append stamps BaseOffset = NextOffset() and PartitionLeaderEpoch into the
// batch in place (both lie outside the CRC), writes it to the active segment
// (rolling first if SegmentBytes/SegmentMs says so), updates the indexes and
// returns the stamped header. The caller validated the batch. Data is in the
// page cache when Append returns; use WaitDurable for fsync.
//
// With FlushMessages > 1, Append fsyncs once that many messages are not yet
// durable. FlushMessages == 1 is left to WaitDurable, which callers invoke
// outside their own locks so that concurrent producers share fsyncs.
func (l *Log) Append(batch []byte, leaderEpoch int32) (BatchHeader, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return BatchHeader{}, err
	}
	if h.Size() != len(batch) {
		return BatchHeader{}, &CorruptError{Reason: fmt.Sprintf("length field says %d bytes, batch has %d", h.Size(), len(batch))}
	}
	cfg := l.cfg.Load()

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return BatchHeader{}, ErrClosed
	}
	if err := l.Err(); err != nil {
		return BatchHeader{}, err
	}
	base := l.nextOffset.Load()
	var now time.Time
	if l.active.size == 0 || cfg.SegmentMs > 0 {
		now = l.now()
	}
	if l.shouldRoll(cfg, h, base, now) {
		if err := l.roll(); err != nil {
			return BatchHeader{}, err
		}
		if l.files.overBudget() {
			// Rolled segments keep their files open until fsynced (see
			// FileCache); when they crowd the budget (tiny segments),
			// fsync now so that they can be closed.
			if err := l.Flush(); err != nil {
				return BatchHeader{}, err
			}
		}
	}
	seg := l.active

	stampBatch(batch, base, leaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, leaderEpoch
	pos := seg.size
	// The active segment is pinned for the log, so its file is open and
	// only changes under appendMu.
	f := seg.file
	if _, err := f.WriteAt(batch, pos); err != nil {
		// The next append overwrites whatever part was written (writes
		// go to the tracked position); cut it now so a crash before
		// then does not leave a torn batch for recovery to find.
		if terr := f.Truncate(pos); terr != nil {
			l.logger.Error("storage: cannot cut failed append", "segment", seg.logPath, "err", terr)
		}
		return BatchHeader{}, l.fail("write", seg.logPath, err)
	}

	l.mu.Lock()
	seg.trackBatch(h, pos, cfg.IndexIntervalBytes)
	l.nextOffset.Store(h.LastOffset() + 1)
	l.mu.Unlock()
	if seg.rollStart.IsZero() {
		seg.rollStart = now
	}

	if cfg.FlushMessages > 1 && l.nextOffset.Load()-l.recoveryPoint.Load() >= cfg.FlushMessages {
		// The batch is appended either way (Append promises the page
		// cache only); a failing fsync surfaces on the next
		// WaitDurable/Flush.
		if err := l.Flush(); err != nil {
			l.logger.Error("storage: flush after FlushMessages failed", "err", err)
		}
	}
	return h, nil
}

// shouldRoll reports whether h must go to a new segment. An empty segment
// accepts any batch. appendMu held.
func (l *Log) shouldRoll(cfg *Config, h BatchHeader, base int64, now time.Time) bool {
	seg := l.active
	if seg.size == 0 {
		return false
	}
	size := seg.size + int64(h.Size())
	switch {
	case size > cfg.SegmentBytes:
		return true
	case size > math.MaxUint32, base+int64(h.LastOffsetDelta)-seg.base > math.MaxUint32:
		// Index entries hold uint32 positions and relative offsets.
		return true
	}
	return l.segmentExpired(cfg, now)
}

// segmentExpired: SegmentMs elapsed since the active segment's age began.
// appendMu held.
func (l *Log) segmentExpired(cfg *Config, now time.Time) bool {
	seg := l.active
	return cfg.SegmentMs > 0 && seg.size > 0 && !seg.rollStart.IsZero() &&
		now.Sub(seg.rollStart) >= time.Duration(cfg.SegmentMs)*time.Millisecond
}

// roll starts a new active segment at NextOffset. appendMu held. The old
// segment's data and indexes are fsynced by the next flush.
func (l *Log) roll() error {
	next := l.nextOffset.Load()
	seg, err := l.createSegment(next)
	if err != nil {
		return err
	}
	l.dirDirty.Store(true)
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.active = seg
	l.mu.Unlock()
	l.logger.Debug("storage: rolled segment", "base", next)
	return nil
}

// MaybeRoll rolls the active segment if SegmentMs elapsed (for idle logs).
func (l *Log) MaybeRoll() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.Err(); err != nil {
		return err
	}
	if l.segmentExpired(l.cfg.Load(), l.now()) {
		return l.roll()
	}
	return nil
}

// NextOffset is the log end offset: the offset the next appended batch gets.
func (l *Log) NextOffset() int64 { return l.nextOffset.Load() }

// LogStartOffset is the first offset still readable.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// SetConfig applies a new config (topic config changed at runtime).
func (l *Log) SetConfig(cfg Config) {
	c := cfg.withDefaults()
	l.cfg.Store(&c)
}

// Config returns the effective config (defaults filled in).
func (l *Log) Config() Config { return *l.cfg.Load() }

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Stats describes the log.
func (l *Log) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	st := Stats{
		Segments:       len(l.segs),
		LogStartOffset: l.logStart.Load(),
		NextOffset:     l.nextOffset.Load(),
		RecoveryPoint:  l.recoveryPoint.Load(),
	}
	for _, s := range l.segs {
		st.Size += s.size
	}
	return st
}

// Close flushes and closes all files (clean). Chunks still held keep their
// segment files open until released. Closing twice is a no-op.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return nil
	}
	err := l.Flush()

	l.syncMu.Lock()
	l.mu.Lock()
	segs := l.segs
	l.segs = nil
	l.closed = true
	l.mu.Unlock()
	l.syncMu.Unlock()

	l.flushMu.Lock()
	l.flushStopped = true
	l.flushCond.Broadcast()
	l.flushMu.Unlock()

	for _, s := range segs {
		s.retire()
	}
	if oerr := l.Err(); oerr != nil {
		// An offline log never closes cleanly: the broker must not
		// write its clean-shutdown marker, so the next open recovers.
		return oerr
	}
	return err
}

// Delete closes the log and removes its directory. It waits for a running
// compaction (which writes its own files into the directory) to finish
// first, so that nothing is created in the directory while it is removed.
func (l *Log) Delete() error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	closeErr := l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("storage: delete log: %w", err)
	}
	return closeErr
}
