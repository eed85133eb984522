package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// OffsetForLeaderEpoch: versions 0–4. Consumers use it after a leader
// change to detect log truncation, followers to find where their log
// diverges from the new leader's. Answered from the partition's
// leader-epoch cache: the largest epoch <= the requested one and the
// offset where the next epoch starts (the log end for the current
// epoch); UNDEFINED (-1/-1) for epochs newer than ours.
func init() { register(23, 0, 4, (*conn).handleOffsetForLeaderEpoch) }

func (c *conn) handleOffsetForLeaderEpoch(h *header, req *kmsg.OffsetForLeaderEpochRequest) *reply {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	// Followers (replica id >= 0, v3+) need to be brokers (ClusterAction);
	// consumers need Describe on each topic.
	follower := req.Version >= 3 && req.ReplicaID >= 0
	brokerOK := follower && c.isBroker()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		var denied int16
		switch {
		case follower && !brokerOK:
			denied = kerr.ClusterAuthorizationFailed.Code
		case !follower && !c.mayTopic(auth.OpDescribe, rt.Topic):
			denied = kerr.TopicAuthorizationFailed.Code
		}
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			if denied != 0 {
				sp.ErrorCode = denied
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			cur := p.LeaderEpoch()
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, cur); code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if leader, _, _, _ := p.Role(); !leader {
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderEpoch, sp.EndOffset = p.EndOffsetForEpoch(rp.LeaderEpoch)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return c.ready(h, resp)
}
