package broker

import (
	"github.com/sluicemq/sluice/core/partition"
)

// CompactAll runs one compaction pass over every compacted partition.
func (b *Broker) CompactAll() {
	for _, p := range b.partitionsWithPolicy("compact") {
		select {
		case <-b.stop:
			return
		default:
		}
		t, ok := b.Topic(p.Topic)
		if !ok {
			continue
		}
		ratio := b.topicFloat(t.Configs, "min.cleanable.dirty.ratio")
		stats, err := p.Compact(partition.CompactOptions{
			DeleteRetentionMs:      b.topicInt(t.Configs, "delete.retention.ms"),
			MinCompactionLagMs:     b.topicInt(t.Configs, "min.compaction.lag.ms"),
			MinCleanableDirtyRatio: ratio,
		})
		switch {
		case routineStorageError(err):
		case err != nil:
			b.logger.Error("compaction", "topic", p.Topic, "partition", p.Index, "err", err)
		case stats.SegmentsCleaned > 0:
			b.logger.Info("compacted", "topic", p.Topic, "partition", p.Index, "segments", stats.SegmentsCleaned,
				"records_removed", stats.RecordsRemoved, "bytes_before", stats.BytesBefore, "bytes_after", stats.BytesAfter)
		}
	}
}
