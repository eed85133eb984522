package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// ListTransactions: versions 0–1 (KIP-664; v1 filters by how long a
// transaction has been open, KIP-994). Lists the transactional ids this
// broker coordinates that the principal may Describe; unknown state
// filters are echoed back. v2's id pattern filter is not served.
func init() { register(66, 0, 1, (*conn).handleListTransactions) }

func (c *conn) handleListTransactions(h *header, req *kmsg.ListTransactionsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	tc := c.txns()
	if tc == nil {
		return c.ready(h, resp)
	}
	var states []txn.State
	for _, name := range req.StateFilters {
		s, ok := txn.ParseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, s)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		// Only unknown states: nothing can match.
		return c.ready(h, resp)
	}
	var minOpen time.Duration
	if req.Version >= 1 && req.DurationFilterMillis > 0 {
		minOpen = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	for _, d := range tc.List(states, req.ProducerIDFilters, minOpen) {
		if !c.authorized(auth.OpDescribe, auth.ResTransactionalID, d.TransactionalID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = d.TransactionalID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return c.ready(h, resp)
}
