package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// AddPartitionsToTxn: versions 0–5. v0–3: a producer adding the
// partitions it is about to write to its transaction. Write on the
// transactional id and on every topic is required; a partition that fails
// a check fails the request, the others get OPERATION_NOT_ATTEMPTED, as
// Kafka answers. v4–5 (KIP-890 part 1) are the brokers' batched form
// (addpartitions_v4.go): several transactions, each either added (as v3)
// or only verified (VerifyOnly: a partition leader asking before it
// appends a producer's first transactional batch); they need ClusterAction
// on the cluster. Clients stay on v3: kgo pins it, Java clients cap at
// their own maximum.
func init() { register(24, 0, 5, (*conn).handleAddPartitionsToTxn) }

func (c *conn) handleAddPartitionsToTxn(h *header, req *kmsg.AddPartitionsToTxnRequest) *reply {
	if req.Version >= 4 {
		return c.handleAddPartitionsToTxnBatched(h, req)
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	codes := map[txn.TopicPartition]int16{}
	var tps []txn.TopicPartition
	failed := false
	idOK := c.authorized(auth.OpWrite, auth.ResTransactionalID, req.TransactionalID)
	for _, t := range req.Topics {
		topicOK := idOK && c.mayTopic(auth.OpWrite, t.Topic)
		meta, exists := c.s.b.Topic(t.Topic)
		for _, p := range t.Partitions {
			tp := txn.TopicPartition{Topic: t.Topic, Partition: p}
			switch {
			case !idOK:
				codes[tp] = kerr.TransactionalIDAuthorizationFailed.Code
			case !topicOK:
				codes[tp] = kerr.TopicAuthorizationFailed.Code
			case !exists || p < 0 || int(p) >= len(meta.Partitions):
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			default:
				tps = append(tps, tp)
				continue
			}
			failed = true
		}
	}
	build := func(code int16) {
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = code
				if c, ok := codes[txn.TopicPartition{Topic: t.Topic, Partition: p}]; ok {
					rp.ErrorCode = c
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	tc := c.txns()
	switch {
	case failed:
		build(kerr.OperationNotAttempted.Code)
		return c.ready(h, resp)
	case tc == nil:
		build(kerr.CoordinatorNotAvailable.Code)
		return c.ready(h, resp)
	}
	return c.asyncReply(h, resp, func() {
		err := tc.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, tps)
		build(fencedCode(err, req.Version, 2))
	})
}
