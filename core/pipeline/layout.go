package pipeline

import (
	"hash/maphash"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// What a producer is told when a transform changes the count of its
// records (docs/plugin-abi.md, "Results when a transform drops, splits or
// merges"). A Kafka client infers record i's offset as the answered base
// offset plus i, so the broker lays out a transform's output of an input
// batch of n records so that inference stays honest as far as it can:
//
//   - at most n records out (drops, merges): the stored batch spans the
//     input's n offsets, whatever the producer (an empty batch when every
//     record was dropped), so no later record ever takes an offset the
//     client inferred for one of its own. An output record equal to an
//     input record (passed through) sits at that input's offset when the
//     output records around it fit (always so when the transform only
//     drops); the others (rewritten, merged) take the next free offset
//     after the record stored before them, in output order. Offsets
//     without a record are skipped by consumers as after compaction.
//   - more records out than in (splits): they are stored in output order
//     from the base offset, the first n at the input's offsets and the
//     rest right after them.
//
// The layout is also what the bridge answers per record (Placed).

// layout is where a transform's output of one input batch sits, as
// offset deltas from the stored batch's base offset.
type layout struct {
	in  int     // input records
	pos []int32 // per output record, increasing; nil: 0, 1, ... (no gaps)
	out int     // output records
}

// span is the number of offsets the stored output takes.
func (l *layout) span() int { return max(l.in, l.out) }

// stored says where input record i ended up: at offset delta d, covering
// n records from there (1 normally; 0: no record is stored at an offset
// of its own, it was dropped or merged into another; more than 1: the last
// input record of a batch the transform split, followed by the records it
// added).
func (l *layout) stored(i int) (d int, n int) {
	if l.out > l.in {
		if i == l.in-1 {
			return i, l.out - l.in + 1
		}
		return i, 1
	}
	if l.pos == nil {
		if i < l.out {
			return i, 1
		}
		return i, 0
	}
	// pos is increasing: binary search for delta i.
	lo, hi := 0, len(l.pos)
	for lo < hi {
		m := (lo + hi) / 2
		if int(l.pos[m]) < i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(l.pos) && int(l.pos[lo]) == i {
		return i, 1
	}
	return i, 0
}

// place lays out out (a transform's answer for in) as described above:
// nil positions when the output is at consecutive offsets from 0.
//
// A passed-through record is found by content, so that any hook
// implementation is placed alike; the usual case (a transform that keeps
// some records and drops others) finds each within a few records of the
// previous one, and only outputs that are not near their input build an
// index of the inputs by content hash (once per batch).
func place(in, out []hooks.Record) []int32 {
	n, m := len(in), len(out)
	if m >= n || m == 0 {
		return nil
	}
	pos := make([]int32, m)
	var idx *contentIndex
	next := 0 // the lowest free delta after the records placed so far
	gaps := false
	for k := range out {
		// The latest delta out[k] may take so that the records after
		// it still fit in the span.
		limit := n - m + k
		at := nearby(in, &out[k], next, min(limit, next+nearbyWindow))
		if at < 0 && limit > next+nearbyWindow {
			if idx == nil {
				idx = newContentIndex(in)
			}
			at = idx.find(in, &out[k], next+nearbyWindow+1, limit)
		}
		if at < 0 {
			at = next
		}
		pos[k] = int32(at)
		gaps = gaps || at != k
		next = at + 1
	}
	if !gaps {
		return nil
	}
	return pos
}

// nearbyWindow is how many inputs after the last placed one are compared
// directly before the content index is consulted.
const nearbyWindow = 2

// nearby is the first index in [from, to] whose record equals r, or -1.
func nearby(in []hooks.Record, r *hooks.Record, from, to int) int {
	for j := from; j <= to; j++ {
		if sameRecord(&in[j], r) {
			return j
		}
	}
	return -1
}

// contentIndex finds input records by content: head maps a content hash
// to the first input with it, chain links each input to the next one
// with the same hash (ascending).
type contentIndex struct {
	seed  maphash.Seed
	head  map[uint64]int32
	chain []int32
}

func newContentIndex(in []hooks.Record) *contentIndex {
	x := &contentIndex{seed: maphash.MakeSeed(), head: make(map[uint64]int32, len(in)), chain: make([]int32, len(in))}
	for j := len(in) - 1; j >= 0; j-- {
		h := x.hash(&in[j])
		if first, ok := x.head[h]; ok {
			x.chain[j] = first
		} else {
			x.chain[j] = -1
		}
		x.head[h] = int32(j)
	}
	return x
}

func (x *contentIndex) hash(r *hooks.Record) uint64 {
	h := maphash.Bytes(x.seed, r.Value)
	if r.Key != nil {
		h ^= maphash.Bytes(x.seed, r.Key) * 0x9E3779B97F4A7C15
	}
	return h
}

// find is the first index in [from, to] whose record equals r, or -1.
func (x *contentIndex) find(in []hooks.Record, r *hooks.Record, from, to int) int {
	j, ok := x.head[x.hash(r)]
	if !ok {
		return -1
	}
	for ; j >= 0 && int(j) <= to; j = x.chain[j] {
		if int(j) >= from && sameRecord(&in[j], r) {
			return int(j)
		}
	}
	return -1
}

// sameRecord: the same key, value, headers and timestamp.
func sameRecord(a, b *hooks.Record) bool {
	if a.Timestamp != b.Timestamp || !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for j := range a.Headers {
		if a.Headers[j].Key != b.Headers[j].Key || !sameBytes(a.Headers[j].Value, b.Headers[j].Value) {
			return false
		}
	}
	return true
}

// encodeOutput is the batch (or batches) to store for a transform's
// output of one input batch, laid out as above, and its layout:
//   - every record unchanged: the input batch's own bytes;
//   - at most as many records as in: one batch spanning the input's
//     offsets; an idempotent producer's keeps its producer id, epoch and
//     sequence range (base sequence and last offset delta), so that the
//     deduplication state rebuilt from the log (by followers, at restart)
//     is the leader's;
//   - more records than in: an idempotent producer's first n records in
//     such a batch and the rest in a second batch without producer id;
//     other producers' all in one plain batch.
func encodeOutput(raw []byte, h storage.BatchHeader, codec records.Codec, in, out []hooks.Record) ([]byte, layout, error) {
	lay := layout{in: len(in), out: len(out)}
	if unchanged(in, out) {
		return raw, lay, nil
	}
	plain := batchOptions{codec: codec, pid: -1, epoch: -1, seq: -1}
	span := int(h.LastOffsetDelta) + 1
	if len(out) <= len(in) {
		lay.pos = place(in, out)
		o := plain
		if h.ProducerID >= 0 {
			o = batchOptions{codec: codec, pid: h.ProducerID, epoch: h.ProducerEpoch, seq: h.BaseSequence}
		}
		o.lastOffset, o.deltas = int32(len(in)-1), lay.pos
		if h.ProducerID >= 0 {
			// The sequence range is the input's, whatever its span.
			o.lastOffset = max(o.lastOffset, h.LastOffsetDelta)
		}
		b, err := encodeBatch(out, o)
		return b, lay, err
	}
	if h.ProducerID < 0 {
		b, err := encodeBatch(out, plain)
		return b, lay, err
	}
	head := out[:min(len(out), span)]
	first, err := encodeBatch(head, batchOptions{codec: codec, pid: h.ProducerID, epoch: h.ProducerEpoch, seq: h.BaseSequence, lastOffset: h.LastOffsetDelta})
	if err != nil || len(out) <= span {
		return first, lay, err
	}
	rest, err := encodeBatch(out[span:], plain)
	if err != nil {
		return nil, lay, err
	}
	return append(first, rest...), lay, nil
}

// Stored says where record i of the produce (counting across its input
// batches) ended up: its offset and the number of records stored from
// there (see layout.stored); n = 0 means no record is stored at an offset
// of its own (dropped, or merged into another). Without a transform
// every record is stored at the base offset plus its index.
func (pd *Pending) Stored(i int) (offset int64, n int) {
	base := pd.Result.BaseOffset
	for k := range pd.layouts {
		l := &pd.layouts[k]
		if i < l.in {
			d, n := l.stored(i)
			return base + int64(d), n
		}
		i -= l.in
		base += int64(l.span())
	}
	return base + int64(i), 1
}
