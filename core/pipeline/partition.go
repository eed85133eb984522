package pipeline

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
)

// stickyBytes is how much unkeyed value data goes to one partition before
// unkeyed records move on (the Java client's batch.size, as its uniform
// sticky partitioner does since Kafka 3.3, KIP-794). Staying on one
// partition lets concurrent publishes (beacons) share one append and one
// fsync instead of paying one each on every partition.
const stickyBytes = 16 << 10

// sticky is one topic's current partition for unkeyed records.
type sticky struct {
	part  atomic.Int32
	bytes atomic.Int64
}

// stickies maps topic → *sticky.
var stickies sync.Map

// unkeyedPartition is the partition for an unkeyed record of size bytes.
func unkeyedPartition(topic string, size int, n int32) int32 {
	v, ok := stickies.Load(topic)
	if !ok {
		st := &sticky{}
		st.part.Store(rand.Int32N(n))
		v, _ = stickies.LoadOrStore(topic, st)
	}
	st := v.(*sticky)
	if st.bytes.Add(int64(size)) > stickyBytes {
		st.bytes.Store(0)
		// Move on to a different partition (any other, uniformly).
		next := st.part.Load() % n
		if n > 1 {
			next = (next + 1 + rand.Int32N(n-1)) % n
		}
		st.part.Store(next)
	}
	part := st.part.Load()
	if part >= n || part < 0 { // the topic has fewer partitions than before
		part = rand.Int32N(n)
		st.part.Store(part)
	}
	return part
}

// Place chooses a partition for every record that has none (parts[i] < 0):
// the topic's partitioner plugin when it has one, else the Java client's
// default (murmur2 of the key; unkeyed records stick to one partition for
// about 16 KiB of values, then move to another, as its uniform sticky
// partitioner does). This is
// the only default partitioning on the server side: bridge publishes and
// transform emits both come here. Explicit partitions are checked against
// numPartitions.
func (p *Pipeline) Place(ctx context.Context, topic string, recs []hooks.Record, parts []int32, numPartitions int32) error {
	if numPartitions <= 0 {
		return fmt.Errorf("%w: %s has no partitions", ErrBadPartition, topic)
	}
	var unplaced []int
	for i, pt := range parts {
		switch {
		case pt >= numPartitions || pt < -1:
			return fmt.Errorf("%w: partition %d of %s (it has %d)", ErrBadPartition, pt, topic, numPartitions)
		case pt == -1:
			unplaced = append(unplaced, i)
		}
	}
	if len(unplaced) == 0 {
		return nil
	}
	if pl := p.cfg.Hooks.Partitioner(topic); pl != nil {
		in := make([]hooks.Record, len(unplaced))
		for j, i := range unplaced {
			in[j] = recs[i]
		}
		out, err := pl.Partition(ctx, topic, in, numPartitions)
		if err != nil {
			return &PluginError{Hook: "partitioner", Topic: topic, Err: err}
		}
		if len(out) != len(in) {
			return &PluginError{Hook: "partitioner", Topic: topic, Err: fmt.Errorf("%w: %d partitions for %d records", hooks.ErrPluginFailed, len(out), len(in))}
		}
		for j, i := range unplaced {
			if out[j] < 0 || out[j] >= numPartitions {
				return &PluginError{Hook: "partitioner", Topic: topic, Err: fmt.Errorf("%w: partition %d of %d", hooks.ErrPluginFailed, out[j], numPartitions)}
			}
			parts[i] = out[j]
		}
		return nil
	}
	for _, i := range unplaced {
		if recs[i].Key != nil {
			parts[i] = records.KeyPartition(recs[i].Key, numPartitions)
		} else {
			parts[i] = unkeyedPartition(topic, len(recs[i].Value), numPartitions)
		}
	}
	return nil
}
