package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// HWCheckpointFile is the high-watermark checkpoint in a broker's data
// dir, named and laid out as Kafka's: a version line (0), a count line,
// then one "topic partition high-watermark" line per partition.
const HWCheckpointFile = "replication-offset-checkpoint"

// hwCheckpointVersion is the only layout written and read.
const hwCheckpointVersion = 0

// maxHWCheckpointEntries bounds what a (corrupt) checkpoint may make us
// hold; far above any partition count a broker hosts.
const maxHWCheckpointEntries = 1 << 20

// tp names one partition.
type tp struct {
	topic string
	part  int32
}

// errBadHWCheckpoint: the file is not a checkpoint this code wrote.
var errBadHWCheckpoint = errors.New("cluster: malformed high-watermark checkpoint")

// encodeHWCheckpoint lays entries out sorted, so that an unchanged set
// encodes to the same bytes (the writer skips rewriting those).
func encodeHWCheckpoint(entries map[tp]int64) []byte {
	keys := make([]tp, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b tp) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.part) - int(b.part)
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", hwCheckpointVersion, len(keys))
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d %d\n", k.topic, k.part, entries[k])
	}
	return b.Bytes()
}

// decodeHWCheckpoint parses a checkpoint; any deviation from the layout
// is errBadHWCheckpoint (the caller then trusts none of it).
func decodeHWCheckpoint(data []byte) (map[tp]int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	v, ok := line()
	if !ok || v != strconv.Itoa(hwCheckpointVersion) {
		return nil, fmt.Errorf("%w: version line %q", errBadHWCheckpoint, v)
	}
	c, ok := line()
	n, err := strconv.Atoi(c)
	if !ok || err != nil || n < 0 || n > maxHWCheckpointEntries {
		return nil, fmt.Errorf("%w: count line %q", errBadHWCheckpoint, c)
	}
	out := map[tp]int64{}
	for i := range n {
		l, ok := line()
		if !ok {
			return nil, fmt.Errorf("%w: %d of %d entries", errBadHWCheckpoint, i, n)
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%w: entry %q", errBadHWCheckpoint, l)
		}
		part, perr := strconv.ParseInt(f[1], 10, 32)
		hw, herr := strconv.ParseInt(f[2], 10, 64)
		if perr != nil || herr != nil || part < 0 || hw < 0 {
			return nil, fmt.Errorf("%w: entry %q", errBadHWCheckpoint, l)
		}
		out[tp{f[0], int32(part)}] = hw
	}
	if extra, ok := line(); ok {
		return nil, fmt.Errorf("%w: more lines than its count (%q)", errBadHWCheckpoint, extra)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadHWCheckpoint, err)
	}
	return out, nil
}

// loadHWCheckpoint reads dir's checkpoint. exists is false when there is
// none (a new data dir, or one from before checkpoints were written).
func loadHWCheckpoint(dir string) (entries map[tp]int64, exists bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, HWCheckpointFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	entries, err = decodeHWCheckpoint(data)
	return entries, true, err
}

// loadCheckpoint reads the checkpoint at start. An unreadable or corrupt
// one counts as present and empty: every partition then starts from its
// log start offset, which can only delay what consumers see, never show
// them uncommitted records.
func (m *ReplicaManager) loadCheckpoint() {
	if m.cfg.DataDir == "" {
		return
	}
	entries, exists, err := loadHWCheckpoint(m.cfg.DataDir)
	if err != nil {
		m.logger.Error("high-watermark checkpoint unusable; partitions start from their log start", "file", filepath.Join(m.cfg.DataDir, HWCheckpointFile), "err", err)
		entries = map[tp]int64{}
	}
	m.restored, m.restoredFile = entries, exists
	if exists {
		m.logger.Info("high-watermark checkpoint read", "partitions", len(entries))
	}
}

// restoreLocked gives a partition seen for the first time since start its
// checkpointed high watermark. m.mu held.
func (m *ReplicaManager) restoreLocked(p *partition.Partition) {
	if !m.restoredFile {
		return // no checkpoint: keep Open's (everything recovered committed)
	}
	k := tp{p.Topic, p.Index}
	hw, ok := m.restored[k]
	if !ok {
		// Created after the last checkpoint: nothing is known to be
		// committed.
		hw = p.LogStartOffset()
	}
	delete(m.restored, k)
	p.RestoreHighWatermark(hw)
}

// checkpointEntries is every hosted partition's high watermark, plus the
// restored entries of partitions not applied yet whose topic still
// exists (so a checkpoint written early does not drop them).
func (m *ReplicaManager) checkpointEntries() map[tp]int64 {
	m.mu.Lock()
	parts := make([]*partition.Partition, 0, len(m.roles))
	for p := range m.roles {
		parts = append(parts, p)
	}
	pending := make(map[tp]int64, len(m.restored))
	for k, v := range m.restored {
		pending[k] = v
	}
	m.mu.Unlock()
	out := make(map[tp]int64, len(parts)+len(pending))
	if len(pending) > 0 {
		topics := map[string]int{}
		for _, t := range m.store.Topics() {
			topics[t.Name] = len(t.Partitions)
		}
		for k, v := range pending {
			if n, ok := topics[k.topic]; ok && int(k.part) < n {
				out[k] = v
			}
		}
	}
	for _, p := range parts {
		out[tp{p.Topic, p.Index}] = p.HighWatermark()
	}
	return out
}

// writeCheckpoint writes the checkpoint if it changed since the last
// write. Called by the checkpoint loop and Close only (never
// concurrently).
func (m *ReplicaManager) writeCheckpoint() error {
	if m.cfg.DataDir == "" {
		return nil
	}
	data := encodeHWCheckpoint(m.checkpointEntries())
	if bytes.Equal(data, m.lastCheckpoint) {
		return nil
	}
	if err := atomicfile.Write(filepath.Join(m.cfg.DataDir, HWCheckpointFile), data); err != nil {
		return err
	}
	m.lastCheckpoint = data
	return nil
}

// checkpointLoop writes the checkpoint every CheckpointInterval
// (replica.high.watermark.checkpoint.interval.ms); Close writes the last.
func (m *ReplicaManager) checkpointLoop() {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		if err := m.writeCheckpoint(); err != nil {
			m.logger.Warn("high-watermark checkpoint not written", "err", err)
		}
	}
}
