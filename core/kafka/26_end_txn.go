package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// EndTxn: versions 0–3. Answered once the coordinator has persisted
// PrepareCommit (PrepareAbort); it then writes the markers to every
// partition of the transaction in the background. v4+ (KIP-890 part 2's
// epoch bump per transaction) is not served. Needs Write on the
// transactional id.
func init() { register(26, 0, 3, (*conn).handleEndTxn) }

func (c *conn) handleEndTxn(h *header, req *kmsg.EndTxnRequest) *reply {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !c.authorized(auth.OpWrite, auth.ResTransactionalID, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	tc := c.txns()
	if tc == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return c.ready(h, resp)
	}
	return c.asyncReply(h, resp, func() {
		resp.ErrorCode = fencedCode(tc.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit), req.Version, 2)
	})
}
