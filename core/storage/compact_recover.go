package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// finishSwaps completes the compaction swaps a crash interrupted after
// their commit point: for every <base>.log.swap it renames the index .swap
// files (those still there) and then the .log.swap over the originals (see
// swapCleaned). Uncommitted leftovers (.cleaned, index .swap without a
// .log.swap) are removed afterwards by cleanDir. Runs before the log is
// shared.
func (l *Log) finishSwaps() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("storage: read log dir: %w", err)
	}
	finished := false
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), swapSuffix)
		if !ok || e.IsDir() {
			continue
		}
		base, ok := parseSegmentName(name, logSuffix)
		if !ok {
			continue
		}
		if err := l.finishSwap(base); err != nil {
			return err
		}
		finished = true
	}
	if finished {
		return fsyncDir(l.dir)
	}
	return nil
}

// finishSwap completes one committed swap. A .log.swap that fails
// validation cannot come from a swap that reached its commit point (the
// file was fsynced first): it is dropped and the original kept, with its
// indexes rebuilt since they may already be the cleaned segment's.
func (l *Log) finishSwap(base int64) error {
	logPath := segmentPath(l.dir, base, logSuffix)
	indexes := []string{segmentPath(l.dir, base, indexSuffix), segmentPath(l.dir, base, timeIndexSuffix)}
	if err := validateSegmentFile(logPath + swapSuffix); err != nil {
		if !errors.Is(err, ErrCorruptBatch) {
			return err
		}
		l.logger.Warn("storage: discarding a damaged compaction swap, keeping the original segment", "segment", base, "err", err)
		for _, p := range append(indexes, logPath) {
			if err := removeIfExists(p + swapSuffix); err != nil {
				return err
			}
		}
		for _, p := range indexes {
			if err := removeIfExists(p); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range append(indexes, logPath) {
		// An index .swap already gone was renamed before the crash.
		if err := os.Rename(p+swapSuffix, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("storage: complete compaction swap: %w", err)
		}
	}
	l.logger.Info("storage: completed an interrupted compaction swap", "segment", base)
	return nil
}

// validateSegmentFile checks that the file holds only whole, CRC-valid
// batches with increasing offsets. Returns a *CorruptError if not.
func validateSegmentFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("storage: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: stat %s: %w", path, err)
	}
	br := newBatchReader(f, path, fi.Size())
	next := int64(-1)
	for {
		_, b, pos, err := br.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		h, err := ValidateBatch(b)
		if err != nil {
			return fmt.Errorf("%s at position %d: %w", path, pos, err)
		}
		if h.BaseOffset < next {
			return &CorruptError{Reason: fmt.Sprintf("%s: offsets go backwards at position %d", path, pos)}
		}
		next = h.LastOffset() + 1
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: remove %s: %w", path, err)
	}
	return nil
}
