package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/msgset"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// Produce: versions 0–11. v0–v2 (Kafka 0.9/0.10 clients) carry message
// sets of magic 0/1, validated (CRC-32) and up-converted to one v2 batch;
// v3+ carry record batches, stored exactly as sent. (librdkafka also only
// enables compression when v0 is advertised.) Transactional batches need
// Write on the request's transactional id; the partition tracks the
// producer's open transaction (partition/txn.go). A stale producer epoch
// answers INVALID_PRODUCER_EPOCH in every version, as Kafka 2.7+ does
// (code 47, which older clients know as the fatal "producer fenced").
func init() { register(0, 0, 11, (*conn).handleProduce) }

// pendingCommit is a partition waiting for its acknowledgement (commit,
// fsync, emits).
type pendingCommit struct {
	pd    *pipeline.Pending
	resp  *kmsg.ProduceResponseTopicPartition
	topic string
}

func (c *conn) handleProduce(h *header, req *kmsg.ProduceRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	validAcks := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	var pending []pendingCommit
	// One decompression budget for all of an old client's message sets
	// in this request: each partition adds its topic's, up to a cap, so
	// nested wrappers cannot multiply it.
	legacyBudget, legacyAdded := msgset.NewBudget(0), 0
	// A peer broker's pipeline sending a transform's emits: the target
	// topic's own transform does not run on them (emit.go).
	emit := h.clientID == pipeline.EmitClientID && c.isBroker()
	// Transactional batches need Write on the request's transactional id
	// (Kafka's rule; a request without one may not carry them at all).
	txnDenied := req.Version >= 3 && requestHasTransactional(req) &&
		(req.TransactionID == nil || !c.authorized(auth.OpWrite, auth.ResTransactionalID, *req.TransactionID))
	var items []produceItem
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		// Kafka checks Write per topic before anything else, so a
		// topic the principal may not write answers the same whether
		// or not it exists. Internal topics take no client writes.
		denied := int16(0)
		var deniedMsg *string
		switch {
		case !c.mayTopic(auth.OpWrite, rt.Topic):
			denied = kerr.TopicAuthorizationFailed.Code
		case !c.mayWriteInternal(rt.Topic):
			denied, deniedMsg = internalTopicError.Code, kmsg.StringPtr(internalTopicMessage)
		}
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			sp.Default()
			sp.Partition = rp.Partition
			sp.BaseOffset = -1
			if !validAcks {
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
				continue
			}
			if txnDenied {
				sp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				continue
			}
			if denied != 0 {
				sp.ErrorCode, sp.ErrorMessage = denied, deniedMsg
				continue
			}
			p, err := c.s.b.Partition(rt.Topic, rp.Partition)
			if err != nil {
				sp.ErrorCode = errorCode(err)
				continue
			}
			recs := rp.Records
			if req.Version <= 2 {
				// Pre-0.11 clients send message sets (magic 0/1): store
				// them as the v2 batches everything else uses.
				if add := min(p.Config().DecompressLimit(), records.DefaultReadBudget-legacyAdded); add > 0 {
					legacyBudget.Add(add)
					legacyAdded += add
				}
				var cerr error
				if recs, cerr = msgset.ToBatchWithin(recs, time.Now().UnixMilli(), legacyBudget); cerr != nil {
					sp.ErrorCode = legacyProduceError(cerr).Code
					if !errors.Is(cerr, msgset.ErrEmpty) {
						c.logger.Warn("rejected message set", "topic", rt.Topic, "partition", rp.Partition, "err", cerr)
					}
					continue
				}
			}
			items = append(items, produceItem{sp: sp, req: pipeline.AppendRequest{
				Topic: rt.Topic, Partition: rp.Partition, Batch: recs, Acks: req.Acks,
				Emit: emit, Timeout: time.Duration(max(req.TimeoutMillis, 1)) * time.Millisecond,
			}})
		}
		resp.Topics = append(resp.Topics, st)
	}
	// KIP-890: a producer's first transactional batch on a partition
	// waits for its coordinator's word (produce_verify.go).
	items = c.verifyTxnProduce(req, items)
	// Transforms run first, partitions in parallel (they cost CPU per
	// record and take no partition lock); appends then go in request
	// order.
	c.prepareProduce(items)
	for _, it := range items {
		sp := it.sp
		pd, err := it.prep.Append()
		if err != nil {
			sp.ErrorCode, sp.ErrorMessage = produceError(err, it.req.Topic, it.req.Partition)
			continue
		}
		sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = pd.Result.BaseOffset, pd.Result.LogAppendTime, pd.Result.LogStartOffset
		if pd.Done() {
			pd.Wait(c.ctx) // acks=0: starts background fsync and emits
			continue
		}
		pending = append(pending, pendingCommit{pd: pd, resp: sp, topic: it.req.Topic})
	}
	if req.Acks == 0 {
		return nil // acks=0: the client expects no response
	}
	r := c.ready(h, resp)
	if len(pending) == 0 {
		c.addLeaderHints(resp)
		return r
	}
	// Wait for commits off the reader goroutine so that later requests
	// keep being appended in order while this one waits for fsync.
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		ctx, cancel := context.WithTimeout(c.ctx, time.Duration(max(req.TimeoutMillis, 1))*time.Millisecond)
		defer cancel()
		for _, pc := range pending {
			if err := pc.pd.Wait(ctx); err != nil {
				pc.resp.ErrorCode, pc.resp.ErrorMessage = produceError(err, pc.topic, pc.resp.Partition)
				// The records are in the leader's log but the producer
				// hears an error: a retry without idempotence stores
				// them twice. Worth a line (a second) when duplicates
				// are asked about.
				if n, due := c.s.unackedLog.note(); due {
					c.logger.Info("produce appended but not acknowledged", "topic", pc.topic, "partition", pc.resp.Partition,
						"base_offset", pc.resp.BaseOffset, "acks", req.Acks, "err", err, "occurrences", n)
				}
				pc.resp.BaseOffset = -1
			}
		}
		c.addLeaderHints(resp)
	}()
	return r
}

// requestHasTransactional reports whether any batch of a (v3+) produce
// request is transactional: only the batch headers are read.
func requestHasTransactional(req *kmsg.ProduceRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			batches, err := storage.SplitBatches(rp.Records)
			if err != nil {
				continue // refused as corrupt by the partition
			}
			for _, b := range batches {
				if h, err := storage.ParseHeader(b); err == nil && h.IsTransactional() {
					return true
				}
			}
		}
	}
	return false
}

// produceItem is one partition of a produce request on its way into the
// pipeline.
type produceItem struct {
	sp   *kmsg.ProduceResponseTopicPartition
	req  pipeline.AppendRequest
	prep *pipeline.Prepared
}

// prepareProduce runs every item's Prepare (its topic's transform), in
// parallel up to GOMAXPROCS when more than one item transforms.
func (c *conn) prepareProduce(items []produceItem) {
	pl := c.s.cfg.Pipeline
	var heavy []int
	for i := range items {
		if pl.Transforming(items[i].req.Topic) {
			heavy = append(heavy, i)
			continue
		}
		items[i].prep = pl.Prepare(c.ctx, items[i].req)
	}
	parallel(len(heavy), func(k int) {
		i := heavy[k]
		items[i].prep = pl.Prepare(c.ctx, items[i].req)
	})
}

// legacyProduceError maps message-set conversion errors.
func legacyProduceError(err error) *kerr.Error {
	switch {
	case errors.Is(err, msgset.ErrEmpty):
		return &kerr.Error{Code: 0}
	case errors.Is(err, msgset.ErrUnsupportedCodec):
		return kerr.UnsupportedCompressionType
	}
	return kerr.CorruptMessage
}

// produceError maps a pipeline error to the partition's error code and
// message: a plugin's refusal is INVALID_RECORD (rejected) or
// POLICY_VIOLATION with the plugin's reason (PluginError.Message: its
// panic line, never a stack trace); a failed emit is the emit's
// own Kafka error (POLICY_VIOLATION for a refused target, REQUEST_TIMED_OUT
// for an unreachable leader), its message naming the emit target.
func produceError(err error, topic string, part int32) (int16, *string) {
	var ee *pipeline.EmitError
	var pe *pipeline.PluginError
	switch {
	case errors.As(err, &ee):
		var code int16
		ke, known := lookupError(ee.Err)
		switch {
		case errors.As(ee.Err, &pe):
			code = pluginCode(pe)
		case known:
			code = ke.Code
		case errors.Is(ee.Err, pipeline.ErrInternalTopic), errors.Is(ee.Err, pipeline.ErrBadPartition):
			code = kerr.PolicyViolation.Code
		default:
			// The target's leader could not be reached in time: the
			// client retries, and the retry re-sends the emits.
			code = kerr.RequestTimedOut.Code
		}
		// A plugin's stack trace (a target partitioner's trap) stays in
		// the log.
		msg := pipeline.ClientText(fmt.Sprintf("%s-%d: %v", topic, part, ee))
		return code, &msg
	case errors.As(err, &pe):
		msg := pe.Message()
		return pluginCode(pe), &msg
	}
	return errorCode(err), produceErrorMessage(err, topic, part)
}

// pluginCode is the Kafka code of a plugin's failure or refusal:
// INVALID_RECORD for sdk.Reject only; sdk.Policy and every failure (trap,
// timeout, out of memory, malformed answer) are POLICY_VIOLATION.
func pluginCode(pe *pipeline.PluginError) int16 {
	if pe.Rejected() {
		return kerr.InvalidRecord.Code
	}
	return kerr.PolicyViolation.Code
}

// produceErrorMessage is the ErrorMessage (Produce v8+) for a partition's
// error: what was wrong, so a client log says more than the code.
func produceErrorMessage(err error, topic string, part int32) *string {
	var ib *partition.InvalidBatchError
	if errors.As(err, &ib) {
		msg := fmt.Sprintf("%s-%d: %s; nothing of this partition's records was stored", topic, part, ib.Reason)
		return &msg
	}
	var msg string
	switch err {
	case partition.ErrCorruptMessage:
		msg = "record batch failed validation (length, magic or CRC-32C); nothing was stored"
	case partition.ErrMessageTooLarge:
		msg = "record batch is larger than the topic's max.message.bytes"
	case partition.ErrLegacyMessageFormat:
		msg = "message sets (magic 0/1) are accepted only in Produce v0-v2; v3+ must carry record batches (magic 2)"
	default:
		return errorMessage(err)
	}
	msg = fmt.Sprintf("%s-%d: %s", topic, part, msg)
	return &msg
}
