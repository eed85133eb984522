package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// OffsetDelete: version 0. Offsets of topics the group is subscribed to
// are refused with GROUP_SUBSCRIBED_TO_TOPIC.
func init() { register(47, 0, 0, (*conn).handleOffsetDelete) }

func (c *conn) handleOffsetDelete(h *header, req *kmsg.OffsetDeleteRequest) *reply {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	// Delete on the group, then Read on each topic (Kafka's rule).
	if !c.mayGroup(auth.OpDelete, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	denied := map[string]bool{}
	var tps []group.TopicPartition
	for _, t := range req.Topics {
		if !c.mayTopic(auth.OpRead, t.Topic) {
			denied[t.Topic] = true
			continue
		}
		for _, p := range t.Partitions {
			tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	code, codes := c.s.b.Groups().DeleteOffsets(req.Group, tps)
	resp.ErrorCode = code
	if code != 0 {
		return c.ready(h, resp)
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
			if denied[t.Topic] {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return c.ready(h, resp)
}
