package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// DescribeTransactions: version 0 (KIP-664). Each transactional id is
// described by its coordinator (others answer NOT_COORDINATOR); needs
// Describe on the id.
func init() { register(65, 0, 0, (*conn).handleDescribeTransactions) }

func (c *conn) handleDescribeTransactions(h *header, req *kmsg.DescribeTransactionsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	tc := c.txns()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		switch {
		case !c.authorized(auth.OpDescribe, auth.ResTransactionalID, id):
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case tc == nil:
			st.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			d, err := tc.Describe(id)
			if err != nil {
				st.ErrorCode = txn.ErrorCode(err)
				break
			}
			st.State = d.State.String()
			st.TimeoutMillis = int32(d.Timeout.Milliseconds())
			if !d.Start.IsZero() {
				st.StartTimestamp = d.Start.UnixMilli()
			}
			st.ProducerID, st.ProducerEpoch = d.ProducerID, d.ProducerEpoch
			for _, tp := range d.Partitions {
				if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != tp.Topic {
					rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					rt.Topic = tp.Topic
					st.Topics = append(st.Topics, rt)
				}
				rt := &st.Topics[len(st.Topics)-1]
				rt.Partitions = append(rt.Partitions, tp.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return c.ready(h, resp)
}
