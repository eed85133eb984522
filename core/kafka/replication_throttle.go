package kafka

import (
	"slices"

	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// The leader side of the replication throttle (Kafka's
// leader.replication.throttled.rate): a follower's read of a partition
// whose topic config leader.replication.throttled.replicas names this
// broker's replica counts against Config.LeaderThrottle unless the
// follower is in the ISR (in-sync followers hold acks=all produces and are
// never throttled, as in Kafka). Such reads are capped at the bucket's
// chunk size; while the bucket is in debt the data is dropped, so the
// follower gets offsets and no records and its long poll waits for the
// next append or its timeout.

// throttleReplicaLimit reports whether this read is throttled and caps
// *limit if so.
func (c *conn) throttleReplicaLimit(topic string, p *partition.Partition, replica int32, limit *int) bool {
	th := c.s.cfg.LeaderThrottle
	if !th.Limited() {
		return false
	}
	t, ok := c.s.b.Topic(topic)
	if !ok || !cluster.ThrottledReplica(t.Configs["leader.replication.throttled.replicas"], p.Index, c.s.b.ID()) {
		return false
	}
	if _, _, _, isr := p.Role(); slices.Contains(isr, replica) {
		return false
	}
	*limit = min(*limit, int(th.ChunkBytes()))
	return true
}

// chargeReplicaRead drops a throttled read's data while the bucket is in
// debt and charges it otherwise.
func (c *conn) chargeReplicaRead(throttled bool, rr *partition.ReadResult) {
	if !throttled || rr.Chunk.Size == 0 {
		return
	}
	th := c.s.cfg.LeaderThrottle
	if !th.Allow() {
		rr.Chunk.Release()
		rr.Chunk = storage.Chunk{}
		return
	}
	th.Take(rr.Chunk.Size)
}
