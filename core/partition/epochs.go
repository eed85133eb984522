package partition

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

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
	b, err := json.Marshal(c.entries)
	if err != nil {
		return err
	}
	return atomicfile.Write(c.path, b)
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{Epoch: -1, Start: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at offset; older or equal epochs are
// ignored (they are already recorded).
func (c *epochCache) assign(epoch int32, start int64) error {
	if l, ok := c.latest(); ok && epoch <= l.Epoch {
		return nil
	}
	c.entries = append(c.entries, epochEntry{Epoch: epoch, Start: start})
	return c.save()
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

// endOffsetFor answers OffsetForLeaderEpoch: the largest epoch <= epoch
// we know and the offset where the next epoch starts (the log end for
// the latest epoch). (-1, -1) when epoch predates everything we know.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if l, ok := c.latest(); !ok || epoch >= l.Epoch {
		if !ok {
			return -1, -1
		}
		if epoch == l.Epoch {
			return l.Epoch, logEnd
		}
		return -1, -1
	}
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= epoch {
			return c.entries[i].Epoch, c.entries[i+1].Start
		}
	}
	return -1, c.entries[0].Start
}
