package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
)

// OffsetForLeaderEpoch: versions 0–4. Clients use it after a leader change
// to detect log truncation. For the current epoch the end offset is the
// log end; an epoch newer than ours is UNDEFINED (-1/-1). Older epochs
// map to the log start (the single-node epoch never changes; the
// replication issue adds the per-partition epoch cache).
func init() { register(23, 0, 4, (*conn).handleOffsetForLeaderEpoch) }

func (c *conn) handleOffsetForLeaderEpoch(h *header, req *kmsg.OffsetForLeaderEpochRequest) *reply {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = broker.ErrorCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			cur := p.LeaderEpoch()
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, cur); code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			switch {
			case rp.LeaderEpoch == cur:
				sp.LeaderEpoch, sp.EndOffset = cur, p.LogEndOffset()
			case rp.LeaderEpoch < cur:
				sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, p.LogStartOffset()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
