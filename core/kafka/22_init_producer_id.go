package kafka

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// InitProducerId: versions 0–4. Idempotent producers get a fresh id, or
// (v3+, KIP-360) their epoch bumped when they present their current id
// and epoch. Transactional producers go to the transaction coordinator
// (core/txn): the id's producer id with its epoch bumped, fencing older
// producers of the same transactional id (v4+ answers PRODUCER_FENCED,
// older versions INVALID_PRODUCER_EPOCH).
func init() { register(22, 0, 4, (*conn).handleInitProducerID) }

func (c *conn) handleInitProducerID(h *header, req *kmsg.InitProducerIDRequest) *reply {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return c.initTransactionalProducer(h, req, resp)
	}
	// Idempotence needs IdempotentWrite on the cluster or Write on any
	// topic (Kafka 3's rule, KIP-679).
	if !c.mayCluster(auth.OpIdempotentWrite) && !c.mayAny(auth.OpWrite, auth.ResTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
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

func (c *conn) initTransactionalProducer(h *header, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) *reply {
	id := *req.TransactionalID
	if !c.authorized(auth.OpWrite, auth.ResTransactionalID, id) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	t := c.txns()
	if t == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return c.ready(h, resp)
	}
	return c.asyncReply(h, resp, func() {
		pe, err := t.InitProducerID(id, time.Duration(req.TransactionTimeoutMillis)*time.Millisecond, req.ProducerID, req.ProducerEpoch)
		resp.ErrorCode = fencedCode(err, req.Version, 4)
		if err == nil {
			resp.ProducerID, resp.ProducerEpoch = pe.ProducerID, pe.ProducerEpoch
		}
	})
}
