package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// scratchPool holds decompression buffers of filtered fetches.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// keepScratchBytes: larger buffers (a rare huge batch) are not pooled.
const keepScratchBytes = 8 << 20

func putScratch(b *[]byte) {
	if cap(*b) <= keepScratchBytes {
		*b = (*b)[:0]
		scratchPool.Put(b)
	}
}

// Filtering reports whether fetches of topic go through a filter (and so
// cannot be served with sendfile).
func (p *Pipeline) Filtering(topic string) bool { return p.cfg.Hooks.Filter(topic) != nil }

// FilterRecords runs topic's consume filter over decoded records of one
// partition for reader (the bridge's SSE streams). Records of a topic
// without a filter come back unchanged. The kept records keep their
// offsets.
func (p *Pipeline) FilterRecords(ctx context.Context, topic string, part int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	f := p.cfg.Hooks.Filter(topic)
	if f == nil || len(recs) == 0 {
		return recs, nil
	}
	out, err := f.Apply(ctx, topic, part, reader, recs)
	if err != nil {
		return nil, &PluginError{Hook: "filter", Topic: topic, Err: err}
	}
	return out, nil
}

// FilterBatches runs topic's consume filter over fetched batches of one
// partition (as stored) for reader and returns the batches to send. Each
// batch keeps its offset span even when records are removed, so the
// consumer moves past filtered records; control batches pass as they are.
// Data of a topic without a filter comes back unchanged.
//
// When the filter keeps every record of every batch as it is (a keep-all
// answer, the common case of a filter that hides little), the answer is
// data itself, not a copy: callers tell by identity (FilterKeptAll) and
// can send the stored bytes as they are (sendfile) instead of the copy.
// Only from the first batch that changes is an output buffer built.
func (p *Pipeline) FilterBatches(ctx context.Context, topic string, part int32, reader hooks.Reader, data []byte) ([]byte, error) {
	f := p.cfg.Hooks.Filter(topic)
	if f == nil {
		return data, nil
	}
	batches, err := storage.SplitBatches(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptBatch, err)
	}
	// Decompressed batches are decoded into one pooled buffer: each
	// batch's records are done with (sent as stored or re-encoded) before
	// the next batch is decoded.
	sp := scratchPool.Get().(*[]byte)
	defer putScratch(sp)
	// out stays nil while every batch so far is kept as stored: data[:pos]
	// is then the answer so far.
	var out []byte
	pos := 0
	for _, raw := range batches {
		h, err := storage.ParseHeader(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptBatch, err)
		}
		if h.IsControl() {
			out, pos = keepBatch(out, data, pos, raw)
			continue
		}
		in, err := decodeForHooksInto(sp, raw, h, records.DefaultReadBudget)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptBatch, err)
		}
		hctx, cancel := context.WithTimeout(ctx, hookTimeout)
		kept, err := f.Apply(hctx, topic, part, reader, in)
		cancel()
		if err != nil {
			p.log.Warn("consume filter failed", "topic", topic, "partition", part, "err", err)
			return nil, &PluginError{Hook: "filter", Topic: topic, Err: err}
		}
		if unchanged(in, kept) { // nothing removed or rewritten
			out, pos = keepBatch(out, data, pos, raw)
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(data))
			out = append(out, data[:pos]...)
		}
		for _, r := range kept {
			if r.Offset < h.BaseOffset || r.Offset > h.LastOffset() {
				return nil, &PluginError{Hook: "filter", Topic: topic, Err: errors.Join(hooks.ErrPluginFailed, errors.New("filter returned a record outside the batch's offsets"))}
			}
		}
		enc, err := records.EncodeSpan(h.BaseOffset, h.LastOffsetDelta, kept, records.EncodeOptions{
			Codec: records.Codec(h.Attributes & 0x07), LogAppendTime: h.LogAppendTime(), ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorruptBatch, err)
		}
		out = append(out, enc...)
		pos += len(raw)
	}
	if out == nil {
		return data, nil // every batch kept as stored
	}
	return out, nil
}

// keepBatch adds raw, the stored batch at data[pos:], to the answer as
// it is: nothing to do while the answer is still data's prefix.
func keepBatch(out, data []byte, pos int, raw []byte) ([]byte, int) {
	if out != nil {
		out = append(out, raw...)
	}
	return out, pos + len(raw)
}

// FilterKeptAll reports whether FilterBatches answered data itself: the
// filter kept every record as stored.
func FilterKeptAll(data, answer []byte) bool {
	return len(data) > 0 && len(answer) == len(data) && &answer[0] == &data[0]
}
