package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sluicemq/sluice/core/records"
)

// Suffixes of a segment file being replaced by compaction: written as
// .cleaned, renamed to .swap (the .log's rename is the commit point), then
// renamed over the original. See swapCleaned and finishSwaps.
const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// cleanedSegment is a rewritten closed segment waiting to be swapped in.
type cleanedSegment struct {
	old     *segment
	oldSize int64
	// seg is the replacement. Its paths are the final names; until the
	// swap its files live under those names plus cleanedSuffix (or
	// swapSuffix).
	seg     *segment
	removed int64
	// drop: nothing survived and the segment is not the log's first, so
	// it is removed instead of replaced.
	drop bool
}

// files are the replacement's final paths, index files first (the order the
// swap renames them in).
func (c *cleanedSegment) files() []string {
	return []string{c.seg.indexPath, c.seg.timeIndexPath, c.seg.logPath}
}

// discard closes the replacement and removes its files under both
// temporary names. Only valid before the swap committed.
func (c *cleanedSegment) discard() error {
	c.seg.retire()
	var errs []error
	for _, p := range c.files() {
		for _, suffix := range []string{cleanedSuffix, swapSuffix} {
			if err := os.Remove(p + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// cleanSegment writes the compacted copy of v as .cleaned files (data and
// indexes fsynced). It returns nil when compaction would remove nothing.
func (l *Log) cleanSegment(v segView, snap *compactSnapshot, keys map[string]int64, dropTombstones bool) (*cleanedSegment, error) {
	path := v.seg.logPath + cleanedSuffix
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", path, err)
	}
	c := &cleanedSegment{old: v.seg, oldSize: v.size, seg: newSegment(l, v.seg.base, f)}
	keep := false
	defer func() {
		if !keep {
			l.discardCleaned([]*cleanedSegment{c})
		}
	}()

	w := bufio.NewWriterSize(f, readBufferSize)
	interval := l.cfg.Load().IndexIntervalBytes
	src, err := snap.pin(v)
	if err != nil {
		return nil, err
	}
	br := newBatchReader(src, v.seg.logPath, v.size)
	for {
		h, b, _, err := br.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		out, removed, err := compactBatch(h, b, snap, keys, dropTombstones)
		if err != nil {
			return nil, &CompactError{Segment: v.seg.logPath, Offset: h.BaseOffset, Err: err}
		}
		c.removed += removed
		if out == nil {
			continue
		}
		if _, err := w.Write(out); err != nil {
			return nil, fmt.Errorf("storage: write %s: %w", path, err)
		}
		c.seg.trackBatch(parseHeader(out), c.seg.size, interval)
	}
	if c.removed == 0 {
		return nil, nil
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("storage: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("storage: fsync %s: %w", path, err)
	}
	s := c.seg
	if err := writeIndexFile(s.indexPath+cleanedSuffix, appendIndexEntries(nil, s.index), 0); err != nil {
		return nil, fmt.Errorf("storage: write %s: %w", s.indexPath+cleanedSuffix, err)
	}
	if err := writeIndexFile(s.timeIndexPath+cleanedSuffix, appendTimeEntries(nil, s.timeIndex), 0); err != nil {
		return nil, fmt.Errorf("storage: write %s: %w", s.timeIndexPath+cleanedSuffix, err)
	}
	s.indexSynced, s.timeIndexSynced, s.indexOnDisk = len(s.index), len(s.timeIndex), true
	keep = true
	return c, nil
}

// compactBatch returns the batch as it should be after compaction: b itself
// when nothing is removed, nil when nothing survives, else a re-encoded
// batch with the survivors (same codec, producer id/epoch, base sequence,
// timestamp type, partition leader epoch, base offset and last offset;
// every survivor keeps its offset and timestamp).
func compactBatch(h BatchHeader, b []byte, snap *compactSnapshot, keys map[string]int64, dropTombstones bool) ([]byte, int64, error) {
	if h.LastOffset() < snap.logStart || h.LastOffset() >= snap.limit || !compactable(h) {
		return b, 0, nil
	}
	batch, err := records.Decode(b)
	if err != nil {
		return nil, 0, err
	}
	var removed int64
	survivors := make([]records.Record, 0, len(batch.Records))
	for _, r := range batch.Records {
		if r.Key != nil {
			if latest, ok := keys[string(r.Key)]; ok && latest != r.Offset {
				removed++ // superseded
				continue
			}
			if r.Value == nil && dropTombstones {
				removed++ // tombstone past delete retention
				continue
			}
		}
		survivors = append(survivors, r)
	}
	switch {
	case removed == 0:
		return b, 0, nil
	case len(survivors) == 0:
		return nil, removed, nil
	}
	out, err := records.Encode(survivors, records.EncodeOptions{
		Codec:           batch.Codec,
		ProducerID:      batch.ProducerID,
		ProducerEpoch:   batch.ProducerEpoch,
		BaseSequence:    batch.BaseSequence,
		BaseOffset:      h.BaseOffset,
		KeepOffsets:     true,
		LastOffsetDelta: h.LastOffsetDelta,
		LogAppendTime:   batch.LogAppendTime,
	})
	if err != nil {
		return nil, 0, err
	}
	stampBatch(out, h.BaseOffset, h.PartitionLeaderEpoch)
	return out, removed, nil
}
