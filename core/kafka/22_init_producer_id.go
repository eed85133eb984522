package kafka

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// InitProducerId: versions 0–4. Idempotent producers get a fresh id, or
// (v3+, KIP-360) their epoch bumped when they present their current id
// and epoch. Transactional ids are refused: transactions are not
// implemented, and failing here is clearer than failing mid-transaction.
func init() { register(22, 0, 4, (*conn).handleInitProducerID) }

func (c *conn) handleInitProducerID(h *header, req *kmsg.InitProducerIDRequest) *reply {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	// Idempotence needs IdempotentWrite on the cluster or Write on any
	// topic (Kafka 3's rule, KIP-679).
	if req.TransactionalID == nil && !c.mayCluster(auth.OpIdempotentWrite) && !c.mayAny(auth.OpWrite, auth.ResTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		c.logger.Warn("refused transactional producer: transactions are not supported", "transactional_id", *req.TransactionalID)
		return c.ready(h, resp)
	}
	if req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return c.ready(h, resp)
	}
	id, err := c.s.b.AllocateProducerID()
	if err != nil {
		c.logger.Error("allocate producer id", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return c.ready(h, resp)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return c.ready(h, resp)
}
