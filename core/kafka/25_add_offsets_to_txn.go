package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/txn"
)

// AddOffsetsToTxn: versions 0–3. The group's __consumer_offsets partition
// joins the transaction, so the commit/abort marker lands there too and
// the transaction's TxnOffsetCommits become visible (or are dropped) with
// it. Needs Write on the transactional id and Read on the group.
func init() { register(25, 0, 3, (*conn).handleAddOffsetsToTxn) }

func (c *conn) handleAddOffsetsToTxn(h *header, req *kmsg.AddOffsetsToTxnRequest) *reply {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !c.authorized(auth.OpWrite, auth.ResTransactionalID, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return c.ready(h, resp)
	case !c.mayGroup(auth.OpRead, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return c.ready(h, resp)
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return c.ready(h, resp)
	}
	tc := c.txns()
	if tc == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return c.ready(h, resp)
	}
	tp := txn.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(req.Group, c.offsetsPartitions())}
	return c.asyncReply(h, resp, func() {
		resp.ErrorCode = fencedCode(tc.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp}), req.Version, 2)
	})
}

// offsetsPartitions is the partition count of __consumer_offsets.
func (c *conn) offsetsPartitions() int32 {
	if t, ok := c.s.b.Topic(group.OffsetsTopic); ok && len(t.Partitions) > 0 {
		return int32(len(t.Partitions))
	}
	return c.s.b.Config().OffsetsTopicPartitions
}
