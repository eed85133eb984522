package broker

import (
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
