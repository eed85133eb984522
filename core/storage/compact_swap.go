package storage

import (
	"errors"
	"fmt"
	"os"
)

// swapCleaned replaces the originals of the cleaned segments, on disk and
// in the segment list, and takes ownership of cleaned. The on-disk protocol
// (each step's renames made durable by a directory fsync before the next):
//
//  1. <base>.index.cleaned, <base>.timeindex.cleaned -> .swap
//  2. <base>.log.cleaned -> <base>.log.swap: the commit point. Before it a
//     crash rolls back (open deletes .cleaned and index .swap files); after
//     it open completes the swap (finishSwaps).
//  3. index .swap files -> <base>.index, <base>.timeindex
//  4. <base>.log.swap -> <base>.log; segments where nothing survived are
//     removed instead (their records are all superseded by durable ones).
//
// The segment list changes under syncMu+mu after the renames, in one step,
// so a reader sees either the old or the new segment, never neither; a
// reader that pinned an old segment keeps reading its (now unlinked) file.
func (l *Log) swapCleaned(cleaned []*cleanedSegment, snap *compactSnapshot) (CompactStats, error) {
	pending := cleaned // discarded on return unless committed
	defer func() { l.discardCleaned(pending) }()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()

	live, err := l.stillSwappable(cleaned, snap)
	if err != nil || len(live) == 0 {
		if err == nil && l.truncations.Load() == snap.truncations {
			l.cleanerOffset.Store(snap.limit) // clean already
		}
		return CompactStats{}, err
	}
	// The renames below put new files at the originals' paths: keep the
	// originals' files open until they leave the segment list, so that no
	// reader opens the replacement in their place. (syncMu keeps them in
	// the list meanwhile.)
	for i, c := range live {
		if _, err := c.old.pin(); err != nil {
			for _, p := range live[:i] {
				p.old.unpin()
			}
			return CompactStats{}, err
		}
	}
	l.runCompactHook(stageCleaned)
	if err := commitCleaned(l.dir, live); err != nil {
		// Nothing was replaced yet: the deferred discard rolls back.
		for _, c := range live {
			c.old.unpin()
		}
		return CompactStats{}, err
	}
	l.runCompactHook(stageCommitted)

	// Committed: a failure from here on leaves work for the next open,
	// and the new segments are the truth either way.
	pending = notIn(pending, live)
	errs := installCleaned(l.dir, live, l.runCompactHook)

	var stats CompactStats
	replaced := make(map[*segment]*cleanedSegment, len(live))
	for _, c := range live {
		replaced[c.old] = c
		stats.SegmentsCleaned++
		stats.RecordsRemoved += c.removed
		stats.BytesBefore += c.oldSize
		if !c.drop {
			stats.BytesAfter += c.seg.size
		}
	}
	l.mu.Lock()
	segs := make([]*segment, 0, len(l.segs))
	for _, s := range l.segs {
		c, ok := replaced[s]
		switch {
		case !ok:
			segs = append(segs, s)
		case !c.drop:
			// Compaction keeps control batches (cleanSegment), so
			// the aborted transactions indexed here stay valid; the
			// .txnindex file is not part of the swap and stays put.
			c.seg.aborted, c.seg.txnDirty = s.aborted, s.txnDirty
			segs = append(segs, c.seg)
		}
	}
	l.segs = segs
	l.cleanerOffset.Store(snap.limit)
	l.mu.Unlock()

	for _, c := range live {
		l.logger.Info("storage: compacted segment", "base", c.old.base, "records_removed", c.removed,
			"bytes_before", c.oldSize, "bytes_after", c.seg.size, "removed_segment", c.drop)
		c.old.unpin()
		c.old.retire() // a dropped segment's replacement was discarded by installCleaned
		if !c.drop && len(errs) == 0 {
			// In place under its final name and fsynced: the
			// replacement's file may now be closed and reopened.
			c.seg.dropLogPin()
		}
	}
	if err := errors.Join(errs...); err != nil {
		// A rename or directory fsync failed after the commit point:
		// the next open completes the swap. Until then the log is
		// offline (the replacements stay pinned: their files are open,
		// but a path may still name the original).
		return stats, l.fail("compaction swap", l.dir, err)
	}
	return stats, nil
}

// stillSwappable returns the cleaned segments whose originals are still
// closed segments of the log, and decides which are dropped. syncMu held:
// segments are only removed under it, so the answer stays true until it is
// released.
func (l *Log) stillSwappable(cleaned []*cleanedSegment, snap *compactSnapshot) ([]*cleanedSegment, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if l.truncations.Load() != snap.truncations {
		// The truncation may have removed records the key map counts as
		// superseding others; the next run starts over.
		return nil, nil
	}
	present := make(map[*segment]bool, len(l.segs))
	for _, s := range l.segs {
		present[s] = true
	}
	var live []*cleanedSegment
	for _, c := range cleaned {
		if !present[c.old] || c.old == l.active {
			continue // deleted by retention meanwhile
		}
		// The first segment stays even when empty: on open its base
		// bounds the log start offset.
		c.drop = c.seg.size == 0 && c.old != l.segs[0]
		live = append(live, c)
	}
	return live, nil
}

// commitCleaned runs steps 1 and 2 of the swap (see swapCleaned).
func commitCleaned(dir string, live []*cleanedSegment) error {
	for _, c := range live {
		if c.drop {
			continue
		}
		for _, p := range c.files()[:2] {
			if err := os.Rename(p+cleanedSuffix, p+swapSuffix); err != nil {
				return fmt.Errorf("storage: compaction swap: %w", err)
			}
		}
	}
	if err := fsyncDir(dir); err != nil {
		return err
	}
	for _, c := range live {
		if c.drop {
			continue
		}
		if err := os.Rename(c.seg.logPath+cleanedSuffix, c.seg.logPath+swapSuffix); err != nil {
			return fmt.Errorf("storage: compaction swap: %w", err)
		}
	}
	return fsyncDir(dir)
}

// installCleaned runs steps 3 and 4 of the swap (see swapCleaned) and
// removes the dropped segments' files. It carries on past errors: every
// step left undone is completed by the next open.
func installCleaned(dir string, live []*cleanedSegment, hook func(string)) []error {
	var errs []error
	rename := func(p string) {
		if err := os.Rename(p+swapSuffix, p); err != nil {
			errs = append(errs, fmt.Errorf("storage: compaction swap: %w", err))
		}
	}
	for _, c := range live {
		if !c.drop {
			rename(c.seg.indexPath)
			rename(c.seg.timeIndexPath)
		}
	}
	if err := fsyncDir(dir); err != nil {
		errs = append(errs, err)
	}
	hook(stageIndexesSwapped)
	for _, c := range live {
		if c.drop {
			errs = append(errs, c.old.removeFiles(), c.discard())
			continue
		}
		rename(c.seg.logPath)
	}
	if err := fsyncDir(dir); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// notIn returns the elements of all that are not in some.
func notIn(all, some []*cleanedSegment) []*cleanedSegment {
	var out []*cleanedSegment
	for _, c := range all {
		found := false
		for _, s := range some {
			found = found || s == c
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

// discardCleaned discards uncommitted cleaned segments. Leftover files are
// harmless (open removes them), so failures are only logged.
func (l *Log) discardCleaned(cs []*cleanedSegment) {
	for _, c := range cs {
		if err := c.discard(); err != nil {
			l.logger.Warn("storage: cannot remove compaction leftovers", "segment", c.seg.base, "err", err)
		}
	}
}

// runCompactHook calls the test hook, if any.
func (l *Log) runCompactHook(stage string) {
	if l.compactHook != nil {
		l.compactHook(stage)
	}
}
