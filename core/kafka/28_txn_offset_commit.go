package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
)

// TxnOffsetCommit: versions 0–3 (v3 carries the member id, generation and
// instance id, checked like OffsetCommit's, KIP-447). The offsets are
// written to __consumer_offsets as a transactional batch of the producer
// and become the group's committed offsets only when the transaction's
// commit marker lands there (core/group). Needs Write on the
// transactional id, Read on the group and Read on each topic.
func init() { register(28, 0, 3, (*conn).handleTxnOffsetCommit) }

func (c *conn) handleTxnOffsetCommit(h *header, req *kmsg.TxnOffsetCommitRequest) *reply {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	cr := group.TxnCommitRequest{
		GroupID:       req.Group,
		ProducerID:    req.ProducerID,
		ProducerEpoch: req.ProducerEpoch,
		Generation:    -1,
		Offsets:       map[group.TopicPartition]group.Offset{},
	}
	if req.Version >= 3 {
		cr.Generation, cr.MemberID, cr.InstanceID = req.Generation, req.MemberID, req.InstanceID
	}
	all := int16(0)
	switch {
	case !c.authorized(auth.OpWrite, auth.ResTransactionalID, req.TransactionalID):
		all = kerr.TransactionalIDAuthorizationFailed.Code
	case !c.mayGroup(auth.OpRead, req.Group):
		all = kerr.GroupAuthorizationFailed.Code
	}
	topicCode := map[string]int16{}
	for _, t := range req.Topics {
		switch {
		case all != 0:
			topicCode[t.Topic] = all
		case !c.mayTopic(auth.OpRead, t.Topic):
			topicCode[t.Topic] = kerr.TopicAuthorizationFailed.Code
		default:
			if _, ok := c.s.b.Topic(t.Topic); !ok {
				topicCode[t.Topic] = kerr.UnknownTopicOrPartition.Code
			}
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
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
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
	if len(cr.Offsets) == 0 {
		build(nil)
		return c.ready(h, resp)
	}
	return c.asyncReply(h, resp, func() { build(c.s.b.Groups().TxnCommit(cr)) })
}

// markUnstable answers UNSTABLE_OFFSET_COMMIT for the partitions with
// transactional offsets still waiting for their marker, when the fetch
// requires stable offsets (OffsetFetch v7+, KIP-447): a consumer taking
// over a partition must not start from an offset a pending transaction
// is about to replace.
func (c *conn) markUnstable(pending map[group.TopicPartition]bool, parts map[string][]kmsg.OffsetFetchResponseGroupTopicPartition) {
	if len(pending) == 0 {
		return
	}
	for topic, ps := range parts {
		for i := range ps {
			if ps[i].ErrorCode == 0 && pending[group.TopicPartition{Topic: topic, Partition: ps[i].Partition}] {
				ps[i].ErrorCode, ps[i].Offset = kerr.UnstableOffsetCommit.Code, -1
			}
		}
	}
}

// pendingTxnOffsets is the group's partitions with transactional offsets
// not yet committed or aborted, when the fetch requires stable offsets.
// It must be read BEFORE the committed offsets: read after, a transaction
// completing in between would leave the old offset in the answer with no
// pending flag, and a new owner of the partition would process its
// records again (KIP-447's guarantee).
func (c *conn) pendingTxnOffsets(requireStable bool, groupID string) map[group.TopicPartition]bool {
	if !requireStable {
		return nil
	}
	return c.s.b.Groups().PendingTxnOffsets(groupID)
}
