package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/internal/atomicfile"
)

// Checkpoint files in the log directory.
const (
	recoveryPointFile  = "recovery-point"
	logStartOffsetFile = "log-start-offset"
	tmpSuffix          = atomicfile.TempSuffix
)

// WaitDurable returns once every batch with offsets < offset is fsynced.
// Concurrent callers share fsyncs (group commit): one goroutine fsyncs while
// others wait, and a waiter whose data the running fsync already covers does
// not fsync again.
func (l *Log) WaitDurable(offset int64) error {
	// Offsets past the end cannot become durable by waiting.
	offset = min(offset, l.nextOffset.Load())
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for l.recoveryPoint.Load() < offset {
		if err := l.Err(); err != nil {
			return err
		}
		if l.flushStopped {
			return ErrClosed
		}
		if l.flushing {
			// The running flush covers everything appended before it
			// started; re-check when it finishes.
			l.flushCond.Wait()
			continue
		}
		if err := l.leadFlush(false); err != nil {
			return err
		}
	}
	return nil
}

// Flush fsyncs the active segment and indexes and advances the recovery point
// (persisted so that an unclean restart only scans past it).
func (l *Log) Flush() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for l.flushing {
		l.flushCond.Wait()
	}
	if l.flushStopped {
		return ErrClosed
	}
	return l.leadFlush(true)
}

// leadFlush runs one flush as the group-commit leader. flushMu is held on
// entry and exit but released during the I/O.
func (l *Log) leadFlush(full bool) error {
	l.flushing = true
	l.flushMu.Unlock()
	err := l.flush(full)
	l.flushMu.Lock()
	l.flushing = false
	l.flushCond.Broadcast()
	return err
}

// flushJob is the work one flush does for one segment.
type flushJob struct {
	seg                 *segment
	file                File // pinned when syncData
	syncData            bool
	dropLogPin          bool
	writeIndexes        bool
	index, timeIndex    []byte // encoded entries not yet on disk
	indexAt, timeAt     int64  // file offsets to write them at
	indexLen, timeCount int    // entry counts once written
}

// flush makes everything appended before it started durable and raises the
// recovery point to match.
//
// A quick flush (WaitDurable) fsyncs segment data and the indexes of
// rolled segments only: recovery rebuilds the indexes of the segment holding
// the recovery point and later ones, so fsyncing the active segment's
// indexes on every group commit would triple its fsyncs for nothing. It
// also rewrites the recovery-point checkpoint only when the recovery point
// moved into another segment, since recovery starts at a segment boundary.
// A full flush (Flush, Close) also writes the active segment's indexes and
// the exact recovery point, so a clean open can trust them.
func (l *Log) flush(full bool) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.Err(); err != nil {
		return err
	}

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	target := l.nextOffset.Load()
	rp := l.recoveryPoint.Load()
	activeBase := l.active.base
	var jobs []flushJob
	var txnDirty []*segment
	for _, s := range l.segs {
		if s.txnDirty { // syncMu guards it
			txnDirty = append(txnDirty, s)
		}
		job := flushJob{seg: s, syncData: s.end > rp}
		if s != l.active || full {
			job.writeIndexes = !s.indexOnDisk || s.indexSynced < len(s.index) || s.timeIndexSynced < len(s.timeIndex)
		}
		// A rolled segment's file stays pinned until its data is
		// fsynced; after this flush it may be closed when idle.
		job.dropLogPin = s != l.active && s.logPinned()
		if !job.syncData && !job.writeIndexes && !job.dropLogPin {
			continue
		}
		if job.syncData {
			f, err := s.pin()
			if err != nil {
				l.mu.RUnlock()
				unpinJobs(jobs)
				return err // could not open it: nothing is known to be lost
			}
			job.file = f
		}
		if job.writeIndexes {
			job.index = appendIndexEntries(nil, s.index[s.indexSynced:])
			job.timeIndex = appendTimeEntries(nil, s.timeIndex[s.timeIndexSynced:])
			job.indexAt = int64(s.indexSynced) * indexEntrySize
			job.timeAt = int64(s.timeIndexSynced) * timeEntrySize
			job.indexLen, job.timeCount = len(s.index), len(s.timeIndex)
		}
		jobs = append(jobs, job)
	}
	l.mu.RUnlock()
	defer unpinJobs(jobs)

	dirDirty := l.dirDirty.Swap(false) || len(txnDirty) > 0 // a .txnindex may be new
	if err := l.syncTxnIndexes(txnDirty); err != nil {
		return l.fail("fsync", l.dir, err)
	}
	if err := l.runFlushJobs(jobs, dirDirty); err != nil {
		if dirDirty {
			l.dirDirty.Store(true) // the next flush must still fsync the dir
		}
		return l.fail("fsync", l.dir, err)
	}
	if activeBase != l.checkpointedSegBase || (full && target != l.checkpointed) {
		if err := writeCheckpoint(l.dir, recoveryPointFile, target); err != nil {
			return l.fail("fsync", l.dir, err)
		}
		l.checkpointed, l.checkpointedSegBase = target, activeBase
	}
	l.recoveryPoint.Store(target)
	l.flushes.Add(1)
	for _, j := range jobs {
		if j.dropLogPin {
			j.seg.dropLogPin()
		}
	}
	return nil
}

// unpinJobs drops the pins flush took for fsyncs.
func unpinJobs(jobs []flushJob) {
	for _, j := range jobs {
		if j.file != nil {
			j.seg.unpin()
		}
	}
}

// runFlushJobs fsyncs segment data, writes pending index entries and, if
// files were created, fsyncs the directory. syncMu held.
func (l *Log) runFlushJobs(jobs []flushJob, syncDir bool) error {
	for _, j := range jobs {
		if j.syncData {
			if err := j.file.Sync(); err != nil {
				return fmt.Errorf("storage: fsync %s: %w", j.seg.logPath, err)
			}
		}
		if j.writeIndexes {
			if err := l.writeIndexes(j); err != nil {
				return err
			}
			syncDir = true // the index files may be new
		}
	}
	if syncDir {
		return fsyncDir(l.dir)
	}
	return nil
}

// writeIndexes appends a job's pending index entries to the index files.
// syncMu held.
func (l *Log) writeIndexes(j flushJob) error {
	s := j.seg
	if err := writeIndexFile(s.indexPath, j.index, j.indexAt); err != nil {
		return fmt.Errorf("storage: write %s: %w", s.indexPath, err)
	}
	if err := writeIndexFile(s.timeIndexPath, j.timeIndex, j.timeAt); err != nil {
		return fmt.Errorf("storage: write %s: %w", s.timeIndexPath, err)
	}
	s.indexSynced, s.timeIndexSynced, s.indexOnDisk = j.indexLen, j.timeCount, true
	return nil
}

// rewriteIndexes replaces a segment's index files with its in-memory
// entries (after a rebuild or truncation). syncMu held, or the log not yet
// shared.
func (s *segment) rewriteIndexes() error {
	if err := writeIndexFile(s.indexPath, appendIndexEntries(nil, s.index), 0); err != nil {
		return fmt.Errorf("storage: write %s: %w", s.indexPath, err)
	}
	if err := writeIndexFile(s.timeIndexPath, appendTimeEntries(nil, s.timeIndex), 0); err != nil {
		return fmt.Errorf("storage: write %s: %w", s.timeIndexPath, err)
	}
	s.indexSynced, s.timeIndexSynced, s.indexOnDisk = len(s.index), len(s.timeIndex), true
	return nil
}

// persistRecoveryPoint writes rp as the checkpoint and adopts it as the
// in-memory recovery point. syncMu held (or the log not yet shared);
// segBase is the base of the segment holding rp.
func (l *Log) persistRecoveryPoint(rp, segBase int64) error {
	if err := writeCheckpoint(l.dir, recoveryPointFile, rp); err != nil {
		return err
	}
	l.checkpointed, l.checkpointedSegBase = rp, segBase
	l.recoveryPoint.Store(rp)
	return nil
}

// writeCheckpoint atomically replaces dir/name with v (internal/atomicfile:
// temp file, fsync, rename, directory fsync).
func writeCheckpoint(dir, name string, v int64) error {
	if err := atomicfile.Write(filepath.Join(dir, name), strconv.AppendInt(nil, v, 10)); err != nil {
		return fmt.Errorf("storage: write %s: %w", name, err)
	}
	return nil
}

// readCheckpoint returns the value in dir/name; ok is false if the file
// does not exist.
func readCheckpoint(dir, name string) (v int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("storage: read %s: %w", name, err)
	}
	v, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("storage: parse %s: %w", name, err)
	}
	return v, true, nil
}

// fsyncDir makes file creations, renames and removals in dir durable.
func fsyncDir(dir string) error {
	if err := atomicfile.SyncDir(dir); err != nil {
		return fmt.Errorf("storage: fsync dir: %w", err)
	}
	return nil
}
