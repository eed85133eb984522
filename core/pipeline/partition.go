package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
)

// roundRobin spreads unkeyed records that arrive without a partition.
var roundRobin atomic.Uint32

// Place chooses a partition for every record that has none (parts[i] < 0):
// the topic's partitioner plugin when it has one, else the Java client's
// default (murmur2 of the key; round robin for unkeyed records). This is
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
			parts[i] = int32(roundRobin.Add(1) % uint32(numPartitions))
		}
	}
	return nil
}
