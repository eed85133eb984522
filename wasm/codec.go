package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm/abi"
)

// inputBuffers recycles encoded batches between calls.
var inputBuffers = sync.Pool{New: func() any { return new([]byte) }}

const keepInputBytes = 4 << 20

// encodeInput encodes a batch; release the buffer with putInput.
func encodeInput(meta *abi.Meta, recs []hooks.Record) *[]byte {
	bp := inputBuffers.Get().(*[]byte)
	b := abi.AppendInputHeader((*bp)[:0], meta, len(recs))
	for i := range recs {
		r := &recs[i]
		b = abi.AppendRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers), func(i int) ([]byte, []byte) {
			return []byte(r.Headers[i].Key), r.Headers[i].Value
		})
	}
	*bp = b
	return bp
}

func putInput(bp *[]byte) {
	if cap(*bp) <= keepInputBytes {
		inputBuffers.Put(bp)
	}
}

// batchInput is a batch to send to a hook: records with their meta,
// encoded by the call straight into the guest's buffer once it knows the
// size, or (raw) already encoded.
type batchInput struct {
	meta *abi.Meta
	recs []hooks.Record
	raw  []byte
}

// inputHeaderFixed is the input header's size without its strings.
const inputHeaderFixed = 8 * 4

// size is the encoded batch's exact size in bytes.
func (in *batchInput) size() int {
	if in.meta == nil {
		return len(in.raw)
	}
	m := in.meta
	n := inputHeaderFixed + len(m.Topic) + len(m.GroupID) + len(m.ClientID) + len(m.Principal)
	for i := range in.recs {
		r := &in.recs[i]
		n += recordFixed + len(r.Key) + len(r.Value)
		for j := range r.Headers {
			n += 8 + len(r.Headers[j].Key) + len(r.Headers[j].Value)
		}
	}
	return n
}

// recordFixed is an encoded record's size without its key, value and
// headers' bytes (docs/plugin-abi.md).
const recordFixed = 4 + 8 + 8 + 4 + 4 + 4

// encode appends the batch to dst.
func (in *batchInput) encode(dst []byte) []byte {
	if in.meta == nil {
		return append(dst, in.raw...)
	}
	b := abi.AppendInputHeader(dst, in.meta, len(in.recs))
	for i := range in.recs {
		r := &in.recs[i]
		var start int
		b, start = abi.BeginRecord(b, r.Timestamp, r.Offset, r.Key, r.Value, len(r.Headers))
		for j := range r.Headers {
			b = abi.AppendHeader(b, r.Headers[j].Key, r.Headers[j].Value)
		}
		b = abi.FinishRecord(b, start)
	}
	return b
}

// Partition runs a partitioner plugin: one partition per record.
func (m *Module) Partition(ctx context.Context, topic string, recs []hooks.Record, numPartitions int32) ([]int32, error) {
	if numPartitions <= 0 {
		return nil, fmt.Errorf("wasm: partition %q: %d partitions", topic, numPartitions)
	}
	in := &batchInput{meta: &abi.Meta{Partition: -1, NumPartitions: numPartitions, Topic: topic}, recs: recs}
	parts := make([]int32, len(recs))
	err := m.invoke(ctx, len(recs), in, func(out []byte) error {
		r, err := m.readStatus(out, len(recs)) // the input count is the partition count
		if err != nil {
			return err
		}
		for i := range parts {
			p := int32(r.Uint32())
			if p < 0 || p >= numPartitions {
				return fmt.Errorf("record %d: partition %d out of range [0,%d)", i, p, numPartitions)
			}
			parts[i] = p
		}
		return finished(r)
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}

// Transform runs a transform plugin over one produced batch.
func (m *Module) Transform(ctx context.Context, topic string, partition int32, recs []hooks.Record) ([]hooks.Record, []hooks.Emit, error) {
	in := &batchInput{meta: &abi.Meta{Partition: partition, Topic: topic}, recs: recs}
	var out []hooks.Record
	var emits []hooks.Emit
	err := m.invoke(ctx, len(recs), in, func(view []byte) error {
		r, err := m.readStatus(view, len(recs))
		if err != nil {
			return err
		}
		r = abi.NewReader(append([]byte(nil), view[len(view)-r.Remaining():]...)) // own the bytes
		var rec abi.Record
		n := int(r.Uint32())
		if n > r.Remaining()/5 {
			return fmt.Errorf("%d output records do not fit the answer", n)
		}
		out = make([]hooks.Record, 0, n)
		for i := 0; i < n && r.Err() == nil; i++ {
			switch tag := r.Uint8(); tag {
			case abi.TagKeep:
				idx := int(r.Uint32())
				if idx >= len(recs) {
					return fmt.Errorf("output %d keeps record %d of %d", i, idx, len(recs))
				}
				out = append(out, recs[idx])
			case abi.TagRecord:
				r.Record(&rec)
				out = append(out, toHooks(&rec, -1))
			default:
				if r.Err() == nil {
					return fmt.Errorf("output %d: unknown tag %d", i, tag)
				}
			}
		}
		ne := int(r.Uint32())
		if ne > r.Remaining()/8 {
			return fmt.Errorf("%d emits do not fit the answer", ne)
		}
		for i := 0; i < ne && r.Err() == nil; i++ {
			t := r.String()
			r.Record(&rec)
			if t == "" && r.Err() == nil {
				return fmt.Errorf("emit %d has no topic", i)
			}
			emits = append(emits, hooks.Emit{Topic: t, Record: toHooks(&rec, -1)})
		}
		return finished(r)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, emits, nil
}

// Filter runs a filter plugin over one fetched batch for reader.
func (m *Module) Filter(ctx context.Context, topic string, partition int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	meta := abi.Meta{Partition: partition, Topic: topic, GroupID: reader.GroupID, ClientID: reader.ClientID, Principal: reader.Principal}
	in := &batchInput{meta: &meta, recs: recs}
	var out []hooks.Record
	err := m.invoke(ctx, len(recs), in, func(view []byte) error {
		r, err := m.readStatus(view, len(recs))
		if err != nil {
			return err
		}
		n := int(r.Uint32())
		if n > len(recs) {
			return fmt.Errorf("%d records out of %d in", n, len(recs))
		}
		out = make([]hooks.Record, 0, n)
		var rec abi.Record
		owned := false
		last := -1
		for i := 0; i < n && r.Err() == nil; i++ {
			tag := r.Uint8()
			idx := int(r.Uint32())
			if r.Err() != nil {
				break
			}
			if idx <= last || idx >= len(recs) {
				return fmt.Errorf("output %d names record %d (indices must increase, below %d)", i, idx, len(recs))
			}
			last = idx
			switch tag {
			case abi.TagKeep:
				out = append(out, recs[idx])
			case abi.TagReplace:
				if !owned { // copy the rest of the answer once, out of guest memory
					r = abi.NewReader(append([]byte(nil), view[len(view)-r.Remaining():]...))
					owned = true
				}
				r.Record(&rec)
				out = append(out, toHooks(&rec, recs[idx].Offset))
			default:
				return fmt.Errorf("output %d: unknown tag %d", i, tag)
			}
		}
		return finished(r)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errLostInput: an OK answer that does not account for every input
// record. Without this check a plugin that lost its input (and so kept
// nothing) would look like one that dropped every record on purpose, and
// the broker would acknowledge records it never stored.
var errLostInput = errors.New("answer does not cover the batch")

// readStatus reads an answer's status and, for status OK, the input
// count, which must be the number of records sent; a refusal becomes a
// *RefusalError.
func (m *Module) readStatus(out []byte, records int) (*abi.Reader, error) {
	r := abi.NewReader(out)
	switch status := r.Uint32(); {
	case r.Err() != nil:
		return nil, fmt.Errorf("empty answer")
	case status == abi.StatusOK:
		if n := r.Uint32(); r.Err() != nil || int(n) != records {
			return nil, fmt.Errorf("%w: it answers for %d input records, the batch has %d", errLostInput, n, records)
		}
		return r, nil
	case status == abi.StatusRejected || status == abi.StatusPolicy:
		msg := r.String()
		if err := finished(r); err != nil {
			return nil, err
		}
		return nil, &RefusalError{Plugin: m.name, Policy: status == abi.StatusPolicy, Message: msg}
	default:
		return nil, fmt.Errorf("unknown status %d", status)
	}
}

// finished checks the answer was read whole and well formed.
func finished(r *abi.Reader) error {
	if err := r.Err(); err != nil {
		return err
	}
	if n := r.Remaining(); n != 0 {
		return fmt.Errorf("%d trailing bytes after the answer", n)
	}
	return nil
}

// toHooks converts a decoded record; its slices alias the owned answer.
func toHooks(r *abi.Record, offset int64) hooks.Record {
	out := hooks.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Offset: offset}
	if len(r.Headers) > 0 {
		out.Headers = make([]hooks.Header, len(r.Headers))
		for i, h := range r.Headers {
			out.Headers[i] = hooks.Header{Key: string(h.Key), Value: h.Value}
		}
	}
	return out
}
