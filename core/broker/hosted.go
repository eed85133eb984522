package broker

import "github.com/sluicemq/sluice/core/partition"

// HostedPartitions is a snapshot of every partition this broker hosts,
// leader or follower (the metrics collector reads their state).
func (b *Broker) HostedPartitions() []*partition.Partition { return b.partitions() }
