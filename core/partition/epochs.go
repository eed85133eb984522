package partition

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicemq/sluice/internal/atomicfile"
)

// epochFile is the leader-epoch cache of a partition, like Kafka's
// leader-epoch-checkpoint: for every leader epoch, the first offset
// written in it. Followers use it (through OffsetForLeaderEpoch) to find
// where their log diverges from a new leader's and truncate there.
const epochFile = "leader-epoch-checkpoint"

type epochEntry struct {
	Epoch int32 `json:"epoch"`
	Start int64 `json:"start"`
}

// epochCache is guarded by the partition's mu.
type epochCache struct {
	path    string
	entries []epochEntry // ascending epochs and start offsets
	// logger, if set, hears of slow saves (debug): a save syncs the file
	// and its directory under the partition's locks.
	logger *slog.Logger
}

func loadEpochs(dir string) (*epochCache, error) {
	c := &epochCache{path: filepath.Join(dir, epochFile)}
	b, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, &c.entries); err != nil {
		// A torn checkpoint: start over; the next leader change rebuilds it.
		c.entries = nil
	}
	return c, nil
}

func (c *epochCache) save() error {
	b, err := c.encode()
	if err != nil {
		return err
	}
	return c.write(b)
}

// encode is the checkpoint's content (the partition's mu held).
func (c *epochCache) encode() ([]byte, error) { return json.Marshal(c.entries) }

// write stores encoded content, syncing it. Callers serialise writes with
// the partition's appendMu; the partition's mu need not be held, so that
// a slow disk does not hold up every reader of the partition (a fetch
// naming it, and with it the other partitions that fetch names).
func (c *epochCache) write(b []byte) error {
	if testEpochWrite != nil {
		testEpochWrite() // tests: a slow disk
	}
	start := time.Now()
	err := atomicfile.Write(c.path, b)
	if d := time.Since(start); c.logger != nil && d > 20*time.Millisecond {
		c.logger.Debug("leader epoch checkpoint write was slow", "took", d)
	}
	return err
}

// testEpochWrite, set by tests only, runs before each checkpoint write.
var testEpochWrite func()

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{Epoch: -1, Start: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// add records in memory that epoch starts at offset and returns the
// checkpoint content to write, or nil when epoch is not newer than the
// latest (already recorded).
func (c *epochCache) add(epoch int32, start int64) ([]byte, error) {
	if l, ok := c.latest(); ok && epoch <= l.Epoch {
		return nil, nil
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, Start: start})
	return c.encode()
}

// assign records that epoch starts at offset; older or equal epochs are
// ignored (they are already recorded).
func (c *epochCache) assign(epoch int32, start int64) error {
	b, err := c.add(epoch, start)
	if err != nil || b == nil {
		return err
	}
	return c.write(b)
}

// truncateFrom drops epochs that start at or after offset (the log was
// truncated there).
func (c *epochCache) truncateFrom(offset int64) error {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].Start >= offset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:n]
	return c.save()
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's leader-epoch
// cache does: for the latest epoch, (epoch, log end); for an older one,
// the largest known epoch <= it and the start of the epoch after that;
// for one older than every known epoch (its records were deleted), the
// requested epoch and the start of the first known one, so the asker
// replicates from there; (-1, -1) for UNDEFINED_EPOCH (-1), an epoch newer
// than every known one, or an empty cache.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	l, ok := c.latest()
	switch {
	case !ok || epoch < 0 || epoch > l.Epoch:
		return -1, -1
	case epoch == l.Epoch:
		return l.Epoch, logEnd
	}
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= epoch {
			return c.entries[i].Epoch, c.entries[i+1].Start
		}
	}
	return epoch, c.entries[0].Start
}
