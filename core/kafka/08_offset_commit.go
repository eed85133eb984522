package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// OffsetCommit: versions 0–9 (for consumer (KIP-848) groups the
// generation is the member epoch, see core/group/consumer.go). Generation
// -1 with an empty member id is a simple commit (tools, manual consumers) allowed for groups without
// members. v0 commits are stored like the rest (Kafka kept them in
// ZooKeeper; clients cannot tell).
func init() { register(8, 0, 9, (*conn).handleOffsetCommit) }

func (c *conn) handleOffsetCommit(h *header, req *kmsg.OffsetCommitRequest) *reply {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	cr := group.CommitRequest{
		GroupID:    req.Group,
		Generation: req.Generation,
		MemberID:   req.MemberID,
		InstanceID: req.InstanceID,
		Offsets:    map[group.TopicPartition]group.Offset{},
	}
	if req.Version == 0 {
		cr.Generation = -1
	}
	// Read on the group, then Read on each topic (Kafka's order).
	groupOK := c.mayGroup(auth.OpRead, req.Group)
	topicCode := map[string]int16{}
	for _, t := range req.Topics {
		switch {
		case !groupOK:
			topicCode[t.Topic] = kerr.GroupAuthorizationFailed.Code
		case !c.mayTopic(auth.OpRead, t.Topic):
			topicCode[t.Topic] = kerr.TopicAuthorizationFailed.Code
		}
	}
	for _, t := range req.Topics {
		if topicCode[t.Topic] != 0 {
			continue
		}
		for _, p := range t.Partitions {
			o := group.Offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			cr.Offsets[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = o
		}
	}
	build := func(codes map[group.TopicPartition]int16) {
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = codes[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
				if code := topicCode[t.Topic]; code != 0 {
					rp.ErrorCode = code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if len(cr.Offsets) == 0 && len(req.Topics) > 0 {
		// Every topic was refused: nothing to write.
		build(nil)
		return c.ready(h, resp)
	}
	// Answered once the commit is replicated; the connection reads on
	// meanwhile (the coordinator does not hold the group while waiting).
	r := &reply{corr: h.correlationID, resp: resp, done: make(chan struct{})}
	c.s.b.Groups().CommitAsync(cr, func(codes map[group.TopicPartition]int16) {
		build(codes)
		close(r.done)
	})
	return r
}
