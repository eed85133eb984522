package storage

import (
	"errors"
	"fmt"
	"time"
)

// CompactOptions are the per-run settings of log compaction, taken from the
// topic config by the broker's cleaner.
type CompactOptions struct {
	// MaxOffset: only batches whose last offset is below it are compacted
	// or may supersede older records (the caller passes the high
	// watermark). The log's recovery point bounds it too; Compact flushes
	// first, so that is the log end offset at the time of the call.
	MaxOffset int64
	// DeleteRetentionMs: tombstones (null values) in a closed segment whose
	// newest timestamp is older than now-DeleteRetentionMs are removed;
	// younger ones are kept so consumers get to see the delete.
	DeleteRetentionMs int64
	// MinCompactionLagMs: records younger than this are neither removed nor
	// used to remove older ones. Compaction stops at the first batch (in
	// offset order) whose newest timestamp is younger.
	MinCompactionLagMs int64
	// MinCleanableDirtyRatio skips the run while the bytes appended since
	// the last run divided by the compactable bytes is below it. 0 always
	// runs.
	MinCleanableDirtyRatio float64
	// Now is the clock; nil means the log's clock (OpenOptions.Now).
	Now func() time.Time
}

// CompactStats reports one Compact run.
type CompactStats struct {
	// SegmentsCleaned counts closed segments rewritten or, when nothing in
	// them survived, removed.
	SegmentsCleaned int
	// RecordsRemoved counts superseded records and expired tombstones.
	RecordsRemoved int64
	// BytesBefore and BytesAfter are the cleaned segments' sizes before
	// and after the run.
	BytesBefore, BytesAfter int64
}

// Stages at which Compact calls Log.compactHook (tests use it to capture the
// directory as a crash at that moment would leave it, or to race Compact).
const (
	// stageWritten: the .cleaned files are written; the swap has not
	// started (no lock is held: tests change the log here).
	stageWritten = "written"
	// stageCleaned: every .cleaned file is written and fsynced; nothing
	// was renamed yet.
	stageCleaned = "cleaned"
	// stageCommitted: every cleaned segment's .log.swap exists (the
	// commit point); the originals were not replaced yet.
	stageCommitted = "committed"
	// stageIndexesSwapped: the indexes are in place, the .log.swap files
	// not yet.
	stageIndexesSwapped = "indexes-swapped"
)

// Compact runs one log-compaction pass, like Kafka's log cleaner: it maps
// every key to its latest offset over the log (the active segment included)
// below the cleanable limit, then rewrites each closed segment keeping only
// the records that are the latest for their key, plus keyless records, and
// dropping tombstones past DeleteRetentionMs. The active segment is never
// rewritten. Offsets never change: rewritten batches keep their base and
// last offsets and their records' offsets, so the log gets gaps; keeping
// the last offset keeps the batch's producer sequence range too, as Kafka
// does. Batches that lose every record are dropped rather than kept empty:
// the partition rebuilds idempotent producer state from its snapshot and
// accepts producers it no longer knows, so nothing needs their headers. A
// segment that loses every batch is removed, except the log's first (on
// open its base bounds the log start offset).
//
// Control and transactional batches are kept verbatim and their records do
// not supersede others: without tracking aborted transactions a record of
// an aborted transaction could otherwise delete a committed value.
//
// Cleaned segments replace the originals crash-safely (see swapCleaned);
// readers holding chunks of an original keep reading it until they release
// them. One Compact runs at a time per log; appends, reads, flushes and
// retention continue meanwhile (retention and flushes wait only for the
// final swap).
func (l *Log) Compact(opts CompactOptions) (stats CompactStats, err error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	defer func() {
		if errors.Is(err, errSegmentGone) {
			// Retention deleted a segment the run was reading: the
			// next run starts over.
			stats, err = CompactStats{}, nil
		}
	}()
	now := l.now
	if opts.Now != nil {
		now = opts.Now
	}
	if n, err := l.closedSegments(); n == 0 || err != nil {
		return CompactStats{}, err // only the active segment: nothing to rewrite
	}
	// Removing a record is only safe once the record superseding it is
	// durable: a crash must not lose the new value after the old one is
	// gone.
	if err := l.Flush(); err != nil {
		return CompactStats{}, err
	}
	snap, err := l.snapshotForCompaction(opts.MaxOffset)
	if err != nil {
		return CompactStats{}, err
	}
	defer snap.release()

	if !snap.hasCleanable() || !snap.dirtyEnough(opts.MinCleanableDirtyRatio) {
		return CompactStats{}, nil
	}
	t := now()
	lagCutoff := int64(-1)
	if opts.MinCompactionLagMs > 0 {
		lagCutoff = t.UnixMilli() - opts.MinCompactionLagMs
	}
	keys, err := snap.buildKeyMap(lagCutoff)
	if err != nil {
		return CompactStats{}, err
	}
	if !snap.hasCleanable() {
		return CompactStats{}, nil
	}

	var cleaned []*cleanedSegment
	defer func() { l.discardCleaned(cleaned) }()
	for _, v := range snap.closedViews() {
		horizon, err := tombstoneHorizon(v, t, opts.DeleteRetentionMs)
		if err != nil {
			return CompactStats{}, err
		}
		c, err := l.cleanSegment(v, snap, keys, horizon)
		if err != nil {
			return CompactStats{}, err
		}
		if c != nil {
			cleaned = append(cleaned, c)
		}
	}
	l.runCompactHook(stageWritten)
	stats, err = l.swapCleaned(cleaned, snap)
	cleaned = nil // swapCleaned took ownership
	return stats, err
}

// closedSegments counts the segments other than the active one.
func (l *Log) closedSegments() (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	return len(l.segs) - 1, nil
}

// tombstoneHorizon reports whether tombstones in v are past delete
// retention: the segment's newest timestamp (its file's mtime when the
// batches carry none or an absurd one, as retention does) is older than
// now-retention.
func tombstoneHorizon(v segView, now time.Time, retentionMs int64) (bool, error) {
	newest, err := segmentAge(v.seg, v.maxTs, now)
	if err != nil {
		return false, err
	}
	return newest < now.UnixMilli()-max(retentionMs, 0), nil
}

// CompactError is returned when a stored batch cannot be decoded for
// compaction; the log is left unchanged.
type CompactError struct {
	Segment string
	Offset  int64
	Err     error
}

func (e *CompactError) Error() string {
	return fmt.Sprintf("storage: compact %s: batch at offset %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CompactError) Unwrap() error { return e.Err }
