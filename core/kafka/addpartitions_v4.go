package kafka

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/txn"
)

// batchedTxnParallelism bounds how many transactions of one batched
// AddPartitionsToTxn are worked on at once.
const batchedTxnParallelism = 16

// handleAddPartitionsToTxnBatched serves AddPartitionsToTxn v4–5, the
// broker-to-broker form of KIP-890 part 1. Without ClusterAction on the
// cluster the whole request fails with the top-level
// CLUSTER_AUTHORIZATION_FAILED and no transactions, as Kafka answers. Each
// transaction is answered on its own: a partition of a topic that does not
// exist fails its transaction (UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED); otherwise VerifyOnly checks the partitions
// against the ongoing transaction (Coordinator.VerifyPartitions), and the
// others are added as v3 adds them. Topic Write and transactional-id Write
// are not checked: the caller is a broker, which checked its client.
func (c *conn) handleAddPartitionsToTxnBatched(h *header, req *kmsg.AddPartitionsToTxnRequest) *reply {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if !c.mayCluster(auth.OpClusterAction) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return c.ready(h, resp)
	}
	// Results are keyed by transactional id: one id twice could not be
	// told apart in the answer (Kafka refuses it too).
	seen := make(map[string]struct{}, len(req.Transactions))
	for _, t := range req.Transactions {
		if _, dup := seen[t.TransactionalID]; dup {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return c.ready(h, resp)
		}
		seen[t.TransactionalID] = struct{}{}
	}
	// job is one transaction for the coordinator; its partitions'
	// codes are filled in place.
	type job struct {
		t     *kmsg.AddPartitionsToTxnRequestTransaction
		tps   []txn.TopicPartition
		codes []*int16 // parallel to tps
	}
	var jobs []job
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(req.Transactions))
	for i := range req.Transactions {
		t := &req.Transactions[i]
		rt := &resp.Transactions[i]
		rt.Default()
		rt.TransactionalID = t.TransactionalID
		rt.Topics = make([]kmsg.AddPartitionsToTxnResponseTransactionTopic, len(t.Topics))
		j := job{t: t}
		failed := false
		for ti, tt := range t.Topics {
			st := &rt.Topics[ti]
			st.Default()
			st.Topic = tt.Topic
			st.Partitions = make([]kmsg.AddPartitionsToTxnResponseTransactionTopicPartition, len(tt.Partitions))
			meta, exists := c.s.b.Topic(tt.Topic)
			for pi, p := range tt.Partitions {
				sp := &st.Partitions[pi]
				sp.Default()
				sp.Partition = p
				if !exists || p < 0 || int(p) >= len(meta.Partitions) {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					failed = true
					continue
				}
				j.tps = append(j.tps, txn.TopicPartition{Topic: tt.Topic, Partition: p})
				j.codes = append(j.codes, &sp.ErrorCode)
			}
		}
		switch {
		case failed:
			for _, code := range j.codes {
				*code = kerr.OperationNotAttempted.Code
			}
		case t.TransactionalID == "":
			for _, code := range j.codes {
				*code = kerr.InvalidRequest.Code
			}
		case len(j.tps) > 0:
			jobs = append(jobs, j)
		}
	}
	tc := c.txns()
	if len(jobs) == 0 || tc == nil {
		for _, j := range jobs {
			for _, code := range j.codes {
				*code = kerr.CoordinatorNotAvailable.Code
			}
		}
		return c.ready(h, resp)
	}
	return c.asyncReply(h, resp, func() {
		// Transactions go to the coordinator side by side (an add
		// waits for its __transaction_state write), but a bounded
		// number at a time: the count comes off the wire.
		sem := make(chan struct{}, batchedTxnParallelism)
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				t := j.t
				if !t.VerifyOnly {
					code := fencedCode(tc.AddPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, j.tps), req.Version, 2)
					for _, c := range j.codes {
						*c = code
					}
					return
				}
				errs, err := tc.VerifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, j.tps)
				for k, c := range j.codes {
					if err != nil {
						*c = txn.ErrorCode(err)
						continue
					}
					*c = txn.ErrorCode(errs[k])
				}
			}()
		}
		wg.Wait()
	})
}
