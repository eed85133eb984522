package broker

import (
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// removeReplica stops replicating a partition this broker no longer holds
// (a reassignment moved it away) and deletes its data, as Kafka's
// StopReplica with deletion does. The controller has already moved
// leadership and the ISR off this broker.
func (b *Broker) removeReplica(p *partition.Partition) {
	b.roles.Forget(p)
	if err := p.Delete(); err != nil {
		b.logger.Error("delete reassigned partition data", "topic", p.Topic, "partition", p.Index, "err", err)
		return
	}
	b.logger.Info("removed replica reassigned to other brokers", "topic", p.Topic, "partition", p.Index)
}

// LocalPartitions lists the partitions this broker holds a replica of
// (DescribeLogDirs).
func (b *Broker) LocalPartitions() []*partition.Partition { return b.partitions() }

// checkNotReassigning refuses to add partitions to a topic being moved, as
// Kafka does (REASSIGNMENT_IN_PROGRESS): the new partitions' replication
// factor is read off partition 0, which is larger while it moves.
func (b *Broker) checkNotReassigning(name string) error {
	rs, ok := b.store.(meta.ReassignmentStore)
	if !ok {
		return nil
	}
	list, err := rs.Reassignments()
	if err != nil {
		return storeError(err)
	}
	for _, r := range list {
		if r.Topic == name {
			return errf(ErrReassignmentInProgress, "partition %d of topic %q is being reassigned", r.Partition, name)
		}
	}
	return nil
}
