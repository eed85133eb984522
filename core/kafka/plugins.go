package kafka

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// hookTimeout bounds one hook call as seen from the protocol layer; the
// plugin runtime enforces its own, shorter deadline per call.
const hookTimeout = 30 * time.Second

// hookError maps a plugin error to the Kafka error the client sees, with
// the plugin's reason as the message.
func hookError(err error) error {
	code := kerr.PolicyViolation
	if errors.Is(err, hooks.ErrRejected) {
		code = kerr.InvalidRecord
	}
	return &broker.Error{Code: code, Msg: err.Error()}
}

func toHooks(recs []records.Record) []hooks.Record {
	out := make([]hooks.Record, len(recs))
	for i, r := range recs {
		hr := hooks.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset}
		for _, h := range r.Headers {
			hr.Headers = append(hr.Headers, hooks.Header{Key: h.Key, Value: h.Value})
		}
		out[i] = hr
	}
	return out
}

func fromHook(r hooks.Record) records.Record {
	out := records.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: r.Offset}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, records.Header{Key: h.Key, Value: h.Value})
	}
	return out
}

// produceTransform returns the partition transform for a topic with a
// transform plugin, collecting its emits into *emits (appended by the
// caller after the source append, so that topics emitting to each other
// cannot deadlock on partition locks). nil when the topic has no plugin.
func (c *conn) produceTransform(topic string, part int32, emits *[]hooks.Emit) partition.TransformFunc {
	tr := c.s.cfg.Hooks.Transform(topic)
	if tr == nil {
		return nil
	}
	return func(h storage.Header, batch []byte) ([]byte, error) {
		b, err := records.Decode(batch)
		if err != nil {
			return nil, kerr.CorruptMessage
		}
		ctx, cancel := context.WithTimeout(c.ctx, hookTimeout)
		defer cancel()
		out, em, err := tr.Apply(ctx, topic, part, toHooks(b.Records))
		if err != nil {
			c.logger.Warn("produce transform failed", "topic", topic, "partition", part, "err", err)
			return nil, hookError(err)
		}
		*emits = append(*emits, em...)
		if len(out) == 0 {
			return nil, nil
		}
		opts := records.EncodeOptions{Codec: b.Codec, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
		if len(out) == len(b.Records) {
			// Same record count: the stored batch keeps the producer's
			// sequence range, so deduplication also survives a restart.
			opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
		}
		recs := make([]records.Record, len(out))
		for i, r := range out {
			recs[i] = fromHook(r)
		}
		return records.Encode(recs, opts)
	}
}

// roundRobin spreads unkeyed emitted records.
var roundRobin atomic.Uint32

// appendEmits stores records a transform emitted to other topics. Their
// partition comes from the target topic's partitioner plugin, else the
// Java client's murmur2 of the key, else round robin. Emits bypass the
// target topic's own transform (no plugin chains, no cycles).
func (c *conn) appendEmits(emits []hooks.Emit) error {
	byTopic := map[string][]hooks.Record{}
	var order []string
	for _, e := range emits {
		if _, ok := byTopic[e.Topic]; !ok {
			order = append(order, e.Topic)
		}
		byTopic[e.Topic] = append(byTopic[e.Topic], e.Record)
	}
	var errs []error
	for _, topic := range order {
		recs := byTopic[topic]
		if IsInternalTopic(topic) {
			// A transform must not reach the brokers' own topics
			// (deploying code through __sluice_plugins, for one).
			errs = append(errs, errors.New("transforms may not emit to internal topic "+topic))
			continue
		}
		if err := c.s.b.EnsureTopic(topic); err != nil {
			errs = append(errs, err)
			continue
		}
		t, _ := c.s.b.Topic(topic)
		n := int32(len(t.Partitions))
		parts := make([]int32, len(recs))
		if pt := c.s.cfg.Hooks.Partitioner(topic); pt != nil {
			ctx, cancel := context.WithTimeout(c.ctx, hookTimeout)
			got, err := pt.Partition(ctx, topic, recs, n)
			cancel()
			if err != nil || len(got) != len(recs) {
				errs = append(errs, errors.Join(errors.New("partitioner for "+topic+" failed"), err))
				continue
			}
			copy(parts, got)
		} else {
			for i, r := range recs {
				if r.Key != nil {
					parts[i] = records.KeyPartition(r.Key, n)
				} else {
					parts[i] = int32(roundRobin.Add(1) % uint32(n))
				}
			}
		}
		byPart := map[int32][]records.Record{}
		now := time.Now().UnixMilli()
		for i, r := range recs {
			if parts[i] < 0 || parts[i] >= n {
				errs = append(errs, errors.New("partitioner returned an out-of-range partition"))
				continue
			}
			rr := fromHook(r)
			if rr.Timestamp == 0 {
				rr.Timestamp = now
			}
			byPart[parts[i]] = append(byPart[parts[i]], rr)
		}
		for pi, rs := range byPart {
			batch, err := records.Encode(rs, records.Plain)
			if err == nil {
				var p *partition.Partition
				if p, err = c.s.b.Partition(topic, pi); err == nil {
					var res partition.AppendResult
					if res, err = p.Append(batch); err == nil && p.Durable() {
						// Durable topics expose records once fsynced:
						// fsync now, as for acks=0, not at the next flush.
						go p.WaitDurable(res)
					}
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// filterFetched runs a topic's consume filter over fetched batches. Each
// batch keeps its offset span even when records are removed, so the
// consumer moves past filtered records.
func (c *conn) filterFetched(f hooks.Filter, topic string, part int32, reader hooks.Reader, data []byte) ([]byte, error) {
	batches, err := storage.SplitBatches(data)
	if err != nil {
		return nil, kerr.CorruptMessage
	}
	var out []byte
	for _, raw := range batches {
		h, err := storage.ParseHeader(raw)
		if err != nil {
			return nil, kerr.CorruptMessage
		}
		if h.IsControl() {
			out = append(out, raw...)
			continue
		}
		b, err := records.Decode(raw)
		if err != nil {
			return nil, kerr.CorruptMessage
		}
		ctx, cancel := context.WithTimeout(c.ctx, hookTimeout)
		kept, err := f.Apply(ctx, topic, part, reader, toHooks(b.Records))
		cancel()
		if err != nil {
			c.logger.Warn("consume filter failed", "topic", topic, "partition", part, "err", err)
			return nil, hookError(err)
		}
		recs := make([]records.Record, 0, len(kept))
		for _, r := range kept {
			if r.Offset < h.BaseOffset || r.Offset > h.LastOffset() {
				return nil, hookError(errors.Join(hooks.ErrPluginFailed, errors.New("filter returned a record outside the batch's offsets")))
			}
			recs = append(recs, fromHook(r))
		}
		enc, err := records.EncodeSpan(h.BaseOffset, h.LastOffsetDelta, recs, records.EncodeOptions{
			Codec: b.Codec, ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		})
		if err != nil {
			return nil, kerr.CorruptMessage
		}
		out = append(out, enc...)
	}
	return out, nil
}
