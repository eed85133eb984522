package kafka

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// addLeaderHints names the current leader of every partition a produce
// answer refuses with NOT_LEADER_OR_FOLLOWER (KIP-951, Produce v10+):
// CurrentLeader and the leader's endpoint in NodeEndpoints. A client that
// understands them (franz-go, the Java client) moves its batches to the
// new leader at once instead of backing off and refreshing metadata, which
// is most of the pause a leadership move (a controlled shutdown, say)
// costs a producer. Only leaders with a higher epoch than this broker's
// view would need are named: the store's state is the truth.
func (c *conn) addLeaderHints(resp *kmsg.ProduceResponse) {
	if resp.GetVersion() < 10 {
		return
	}
	store := c.s.b.Store()
	var brokers []int32
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			if rp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			t, ok := store.Topic(rt.Topic)
			if !ok || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				continue
			}
			ps := t.Partitions[rp.Partition]
			if ps.Leader < 0 {
				continue
			}
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = ps.Leader, ps.LeaderEpoch
			if !slices.Contains(brokers, ps.Leader) {
				brokers = append(brokers, ps.Leader)
			}
		}
	}
	if len(brokers) == 0 {
		return
	}
	for _, b := range store.Brokers() {
		if !slices.Contains(brokers, b.ID) {
			continue
		}
		nb := kmsg.NewProduceResponseBroker()
		nb.NodeID, nb.Host, nb.Port, nb.Rack = b.ID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, nb)
	}
}
