package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/core/txn"
)

// Transaction verification in the produce path (KIP-890 part 1,
// transaction.partition.verification.enable): before a producer's first
// transactional batch on a partition is appended, the coordinator of the
// request's transactional id confirms the partition is in the producer's
// ongoing transaction: in process when this broker coordinates the id,
// else with AddPartitionsToTxn v4+ VerifyOnly on the inter-broker client
// (the one that sends WriteTxnMarkers). Later batches of the open
// transaction go straight in. The partition re-checks under its append
// lock that no marker ended the transaction since (partition.TxnGuard).
//
// The round trip runs on the connection's reader, holding up its next
// requests for it: that keeps the producer's appends in order, and it
// happens once per transaction and partition.

// verifyTimeout bounds the coordinator round trip (the produce's own
// timeout within these bounds).
const (
	minVerifyTimeout = time.Second
	maxVerifyTimeout = 30 * time.Second
)

// verifyFailedMessage prefixes the message of a verification that could
// not be made; the code is NOT_ENOUGH_REPLICAS, which every client retries
// without refreshing metadata (Kafka's choice).
const verifyFailedMessage = "Unable to verify the partition has been added to the transaction. Underlying error: "

// verifyTxnProduce verifies the transactional items of a produce request
// and returns the items to append: those failing verification are
// answered here (their error set) and left out.
func (c *conn) verifyTxnProduce(req *kmsg.ProduceRequest, items []produceItem) []produceItem {
	if req.TransactionID == nil || *req.TransactionID == "" || c.s.b.Config().TransactionPartitionVerificationOff {
		return items
	}
	tc := c.txns()
	if tc == nil {
		// No coordinator (transactions off): nothing could answer.
		return items
	}
	type key struct {
		pid   int64
		epoch int16
	}
	type pending struct {
		item  int
		part  *partition.Partition
		guard partition.TxnGuard
	}
	var order []key
	needs := map[key][]pending{}
	for i := range items {
		it := &items[i]
		if it.req.Emit {
			continue
		}
		pid, epoch, ok := firstTransactional(it.req.Batch)
		if !ok {
			continue
		}
		p, err := c.s.b.Partition(it.req.Topic, it.req.Partition)
		if err != nil {
			continue // the append answers it
		}
		g, needed := p.StartTxnVerification(pid, epoch)
		it.req.TxnGuard = &g
		if !needed {
			continue
		}
		if leader, _, _, _ := p.Role(); !leader {
			continue // the append answers NOT_LEADER; no round trip for it
		}
		k := key{pid, epoch}
		if _, ok := needs[k]; !ok {
			order = append(order, k)
		}
		needs[k] = append(needs[k], pending{item: i, part: p, guard: g})
	}
	if len(order) == 0 {
		return items
	}
	timeout := min(max(time.Duration(req.TimeoutMillis)*time.Millisecond, minVerifyTimeout), maxVerifyTimeout)
	failed := make(map[int]bool)
	for _, k := range order {
		ps := needs[k]
		tps := make([]txn.TopicPartition, len(ps))
		for j, pd := range ps {
			tps[j] = txn.TopicPartition{Topic: items[pd.item].req.Topic, Partition: items[pd.item].req.Partition}
		}
		codes := c.verifyWithCoordinator(tc, *req.TransactionID, k.pid, k.epoch, tps, timeout)
		for j, pd := range ps {
			code := produceVerifyCode(codes[j])
			if code == 0 {
				continue
			}
			pd.part.EndTxnVerification(pd.guard)
			sp := items[pd.item].sp
			sp.ErrorCode = code
			switch code {
			case kerr.InvalidTxnState.Code:
				sp.ErrorMessage = kmsg.StringPtr("Partition was not added to the transaction")
			case kerr.NotEnoughReplicas.Code:
				name := "UNKNOWN"
				if ke, ok := kerr.ErrorForCode(codes[j]).(*kerr.Error); ok {
					name = ke.Message
				}
				sp.ErrorMessage = kmsg.StringPtr(verifyFailedMessage + name)
			}
			failed[pd.item] = true
		}
	}
	if len(failed) == 0 {
		return items
	}
	kept := items[:0:0]
	for i, it := range items {
		if !failed[i] {
			kept = append(kept, it)
		}
	}
	return kept
}

// firstTransactional is the producer id and epoch of the first
// transactional batch of records (v2 batches), ok false if none is.
func firstTransactional(recs []byte) (pid int64, epoch int16, ok bool) {
	batches, err := storage.SplitBatches(recs)
	if err != nil {
		return 0, 0, false // refused as corrupt by the partition
	}
	for _, b := range batches {
		if h, err := storage.ParseHeader(b); err == nil && h.IsTransactional() && !h.IsControl() && h.ProducerID >= 0 {
			return h.ProducerID, h.ProducerEpoch, true
		}
	}
	return 0, 0, false
}

// produceVerifyCode turns a coordinator's verification answer into what
// the producer is told, as Kafka's leaders do: a fenced epoch is
// INVALID_PRODUCER_EPOCH; a refusal of the broker itself (no
// ClusterAction) or TRANSACTION_ABORTABLE (newer coordinators) is
// INVALID_TXN_STATE; a verification that could not be made
// (coordinator moving, loading or unreachable, or the previous
// transaction still completing) is NOT_ENOUGH_REPLICAS, retriable by
// every client.
func produceVerifyCode(code int16) int16 {
	switch code {
	case kerr.ProducerFenced.Code:
		return kerr.InvalidProducerEpoch.Code
	case kerr.ClusterAuthorizationFailed.Code, kerr.TransactionAbortable.Code:
		return kerr.InvalidTxnState.Code
	case kerr.NetworkException.Code, kerr.CoordinatorLoadInProgress.Code, kerr.CoordinatorNotAvailable.Code,
		kerr.NotCoordinator.Code, kerr.ConcurrentTransactions.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

// verifyWithCoordinator asks id's coordinator whether tps are in pid's
// ongoing transaction: one code per partition, the coordinator's
// (NETWORK_EXCEPTION when it could not be asked).
func (c *conn) verifyWithCoordinator(tc *Transactions, id string, pid int64, epoch int16, tps []txn.TopicPartition, timeout time.Duration) []int16 {
	codes := make([]int16, len(tps))
	all := func(code int16) []int16 {
		for i := range codes {
			codes[i] = code
		}
		return codes
	}
	coord, _, _, err := tc.coordinatorFor(id)
	if err != nil {
		return all(kerr.CoordinatorNotAvailable.Code)
	}
	if coord == c.s.b.ID() {
		errs, err := tc.VerifyPartitions(id, pid, epoch, tps)
		if err != nil {
			return all(txn.ErrorCode(err))
		}
		for i, e := range errs {
			codes[i] = txn.ErrorCode(e)
		}
		return codes
	}
	cl, err := c.s.markerClient()
	if err != nil {
		c.logger.Warn("cannot verify a transaction with a remote coordinator", "coordinator", coord, "err", err)
		return all(kerr.NetworkException.Code)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = id, pid, epoch, true
	at := map[txn.TopicPartition]int{} // partition: index in tps
	topicIdx := map[string]int{}
	for i, tp := range tps {
		at[tp] = i
		ti, ok := topicIdx[tp.Topic]
		if !ok {
			ti = len(t.Topics)
			topicIdx[tp.Topic] = ti
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic = tp.Topic
			t.Topics = append(t.Topics, rt)
		}
		t.Topics[ti].Partitions = append(t.Topics[ti].Partitions, tp.Partition)
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.Broker(int(coord)))
	if err != nil {
		c.logger.Debug("transaction verification request failed", "coordinator", coord, "err", err)
		return all(kerr.NetworkException.Code)
	}
	if resp.ErrorCode != 0 {
		return all(resp.ErrorCode)
	}
	// Partitions the answer leaves out count as not verified.
	all(kerr.InvalidTxnState.Code)
	for _, rt := range resp.Transactions {
		if rt.TransactionalID != id {
			continue
		}
		for _, tt := range rt.Topics {
			for _, p := range tt.Partitions {
				if i, ok := at[txn.TopicPartition{Topic: tt.Topic, Partition: p.Partition}]; ok {
					codes[i] = p.ErrorCode
				}
			}
		}
	}
	return codes
}
