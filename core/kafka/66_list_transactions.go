package kafka

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// ListTransactions: versions 0–2 (KIP-664). Lists the transactional ids
// this broker coordinates that the principal may Describe, filtered by
// state (unknown state filters are echoed back), producer id, v1's
// duration (KIP-994: only transactions running longer than it, when it is
// 0 or more) and v2's transactional id pattern (KIP-1152: RE2 syntax,
// matching whole ids; an invalid one is INVALID_REGULAR_EXPRESSION).
func init() { register(66, 0, 2, (*conn).handleListTransactions) }

func (c *conn) handleListTransactions(h *header, req *kmsg.ListTransactionsRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	// The producer id and state filters are matched here through sets
	// (not passed to List, which scans its filters once per transaction
	// under the coordinator's lock): a request may list millions.
	f := txn.ListFilter{MinOpen: -1}
	var pids map[int64]bool
	if len(req.ProducerIDFilters) > 0 {
		pids = make(map[int64]bool, min(len(req.ProducerIDFilters), 1024))
		for _, id := range req.ProducerIDFilters {
			pids[id] = true
		}
	}
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		if len(*req.TransactionalIDPattern) > maxClientRegexLen {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return c.ready(h, resp)
		}
		re, err := txn.CompileIDPattern(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return c.ready(h, resp)
		}
		f.IDPattern = re
	}
	tc := c.txns()
	if tc == nil {
		return c.ready(h, resp)
	}
	for _, name := range req.StateFilters {
		s, ok := txn.ParseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		if !slices.Contains(f.States, s) {
			f.States = append(f.States, s)
		}
	}
	if len(req.StateFilters) > 0 && len(f.States) == 0 {
		// Only unknown states: nothing can match.
		return c.ready(h, resp)
	}
	if req.Version >= 1 && req.DurationFilterMillis >= 0 {
		f.MinOpen = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	for _, d := range tc.List(f) {
		if pids != nil && !pids[d.ProducerID] {
			continue
		}
		if !c.authorized(auth.OpDescribe, auth.ResTransactionalID, d.TransactionalID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = d.TransactionalID, d.ProducerID, d.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return c.ready(h, resp)
}
