package txn

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

// persistTimeout bounds waiting for a state record to replicate
// (transaction.state.log... Kafka uses the request timeout).
const persistTimeout = 5 * time.Second

// encode is m as Kafka's __transaction_state record: TxnMetadataKey v0,
// TxnMetadataValue v0, so Kafka's tools can read the topic.
func encode(m *meta) records.Record {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: m.id}
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID, v.ProducerEpoch = m.pid, m.epoch
	v.TimeoutMillis = int32(m.timeout / time.Millisecond)
	v.State = kmsg.TransactionState(m.state)
	for _, tp := range m.sortedParts() {
		if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
		}
		t := &v.Topics[len(v.Topics)-1]
		t.Partitions = append(t.Partitions, tp.Partition)
	}
	v.LastUpdateTimestamp = m.updated.UnixMilli()
	v.StartTimestamp = -1
	if !m.start.IsZero() {
		v.StartTimestamp = m.start.UnixMilli()
	}
	return records.Record{Key: k.AppendTo(nil), Value: v.AppendTo(nil), Timestamp: m.updated.UnixMilli()}
}

// persist appends m's state to its partition and waits until it is
// committed (replicated to the ISR).
func persist(o *owned, m *meta) error {
	res, err := appendState(o, m)
	if err != nil {
		return err
	}
	return waitState(o, res)
}

// appendState appends m's state to its partition, not waiting for it to
// be committed (waitState).
func appendState(o *owned, m *meta) (partition.AppendResult, error) {
	batch, err := records.Encode([]records.Record{encode(m)}, records.Plain)
	if err != nil {
		return partition.AppendResult{}, err
	}
	return appendBatch(o, batch)
}

func appendBatch(o *owned, batch []byte) (partition.AppendResult, error) {
	if err := o.ctx.Err(); err != nil {
		return partition.AppendResult{}, err
	}
	res, err := o.p.Append(batch)
	if err != nil {
		return res, fmt.Errorf("txn: append state: %w", err)
	}
	return res, nil
}

// waitState waits until an appended state record is committed.
func waitState(o *owned, res partition.AppendResult) error {
	ctx, cancel := context.WithTimeout(o.ctx, persistTimeout)
	defer cancel()
	return o.p.WaitCommitted(ctx, res)
}

// persistTombstone removes a transactional id from its partition (the
// compacted topic then drops its records), waiting until committed.
func persistTombstone(o *owned, id string, now time.Time) error {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	batch, err := records.Encode([]records.Record{{Key: k.AppendTo(nil), Timestamp: now.UnixMilli()}}, records.Plain)
	if err != nil {
		return err
	}
	res, err := appendBatch(o, batch)
	if err != nil {
		return err
	}
	return waitState(o, res)
}

// replay reads a __transaction_state partition back: the last record of
// each transactional id wins, tombstones remove it.
func replay(p *partition.Partition) (map[string]*meta, error) {
	out := map[string]*meta{}
	err := p.Scan(func(batch []byte) error {
		b, err := records.Decode(batch)
		if err != nil {
			// A damaged batch must not keep the coordinator from
			// loading the rest.
			return nil
		}
		for _, r := range b.Records {
			if len(r.Key) < 2 || binary.BigEndian.Uint16(r.Key) != 0 {
				continue
			}
			var k kmsg.TxnMetadataKey
			if k.ReadFrom(r.Key) != nil {
				continue
			}
			if r.Value == nil {
				delete(out, k.TransactionalID)
				continue
			}
			v := kmsg.NewTxnMetadataValue()
			if v.ReadFrom(r.Value) != nil {
				continue
			}
			m := &meta{id: k.TransactionalID, pid: v.ProducerID, epoch: v.ProducerEpoch, lastPID: -1, lastEpoch: noEpoch,
				timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, state: State(v.State),
				parts: map[TopicPartition]struct{}{}, updated: time.UnixMilli(v.LastUpdateTimestamp)}
			if v.StartTimestamp >= 0 && (m.state == Ongoing || m.state == PrepareCommit || m.state == PrepareAbort) {
				m.start = time.UnixMilli(v.StartTimestamp)
			}
			for _, t := range v.Topics {
				for _, pi := range t.Partitions {
					m.parts[TopicPartition{t.Topic, pi}] = struct{}{}
				}
			}
			out[k.TransactionalID] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("txn: load partition %d: %w", p.Index, err)
	}
	return out, nil
}
