package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// FindCoordinator: versions 0–4 (v4 looks up several keys at once). Group
// keys (type 0) map to the leader of the group's __consumer_offsets
// partition, transaction keys (type 1) to the leader of the transactional
// id's __transaction_state partition, created on the first lookup as
// Kafka does (the answer is then COORDINATOR_NOT_AVAILABLE until it has
// leaders; clients retry).
func init() { register(10, 0, 4, (*conn).handleFindCoordinator) }

func (c *conn) findCoordinator(key string, keyType int8) kmsg.FindCoordinatorResponseCoordinator {
	rc := kmsg.NewFindCoordinatorResponseCoordinator()
	rc.Key, rc.NodeID, rc.Port = key, -1, -1
	// Describe on the group (or transactional id) it coordinates.
	if keyType == 0 && !c.mayGroup(auth.OpDescribe, key) {
		rc.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return rc
	}
	if keyType == 1 && !c.authorized(auth.OpDescribe, auth.ResTransactionalID, key) {
		rc.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return rc
	}
	var (
		id, port int32
		host     string
		err      error
	)
	switch {
	case keyType == 0:
		id, host, port, err = c.s.b.CoordinatorFor(key)
	case keyType == 1 && c.txns() != nil:
		id, host, port, err = c.txns().coordinatorFor(key)
	case keyType == 1:
		rc.ErrorCode = kerr.CoordinatorNotAvailable.Code
		rc.ErrorMessage = kmsg.StringPtr(noTxnMessage)
		return rc
	default:
		rc.ErrorCode = kerr.InvalidRequest.Code
		rc.ErrorMessage = kmsg.StringPtr("unknown coordinator type")
		return rc
	}
	if err != nil {
		rc.ErrorCode, rc.ErrorMessage = errorCode(err), errorMessage(err)
		return rc
	}
	rc.NodeID, rc.Host, rc.Port = id, host, port
	return rc
}

func (c *conn) handleFindCoordinator(h *header, req *kmsg.FindCoordinatorRequest) *reply {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.Version >= 4 {
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, c.findCoordinator(k, req.CoordinatorType))
		}
		return c.ready(h, resp)
	}
	rc := c.findCoordinator(req.CoordinatorKey, req.CoordinatorType)
	resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = rc.ErrorCode, rc.ErrorMessage, rc.NodeID, rc.Host, rc.Port
	return c.ready(h, resp)
}
