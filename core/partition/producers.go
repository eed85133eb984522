package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/internal/atomicfile"
)

// dedupeWindow is how many recent batches per producer are remembered, as in
// Kafka: an idempotent producer has at most 5 requests in flight, so a retry
// is always one of the last 5 batches.
const dedupeWindow = 5

// EmitProducerIDs is the first producer id of transform emit streams:
// ids from 1<<62 up are never allocated to clients (those are broker
// id<<40 | n). The pipeline (core/pipeline) derives one such id per source
// topic, partition and producer, and sequences the emit batch of a source
// batch with the source batch's own base sequence. A retried source batch
// (at the same or a new leader) thus re-sends its emits with the same
// identity, and check answers them as duplicates. Because a source batch
// need not emit to every partition, an emit stream's sequences have gaps:
// check accepts them without the contiguity rule of client producers, and
// a new epoch may start at any sequence.
const EmitProducerIDs = int64(1) << 62

// IsEmitProducer reports whether pid is a transform emit stream's id.
func IsEmitProducer(pid int64) bool { return pid >= EmitProducerIDs }

// producerSnapshotFile holds the idempotent producers' state as of an offset
// whose data is fsynced; on open we replay batches after it.
const producerSnapshotFile = "producer-state.json"

// batchMeta is what we remember of an appended batch for deduplication.
type batchMeta struct {
	FirstSeq   int32 `json:"fs"`
	LastSeq    int32 `json:"ls"`
	BaseOffset int64 `json:"bo"`
	Timestamp  int64 `json:"ts"`
}

// producerEntry is one producer id's state on this partition.
type producerEntry struct {
	Epoch   int16       `json:"e"`
	Batches []batchMeta `json:"b"` // oldest first, at most dedupeWindow
	// CoordEpoch is the coordinator epoch of the producer's last
	// transaction marker: markers from an older coordinator are fenced.
	CoordEpoch int32 `json:"ce,omitempty"`
}

func (e *producerEntry) last() *batchMeta {
	if len(e.Batches) == 0 {
		return nil
	}
	return &e.Batches[len(e.Batches)-1]
}

func (e *producerEntry) add(b batchMeta) {
	if len(e.Batches) == dedupeWindow {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:dedupeWindow-1]
	}
	e.Batches = append(e.Batches, b)
}

// producers tracks idempotent producers' sequences on one partition. Not
// safe for concurrent use: the partition's append lock guards it.
type producers struct {
	m map[int64]*producerEntry
	// txns holds each producer's open transaction on this partition: the
	// offset of its first transactional batch (txn.go).
	txns map[int64]int64
	// guards are the pending transaction verifications (txnverify.go);
	// never persisted or cloned: a verification is per leader.
	guards map[int64]verifyEntry
}

func newProducers() *producers {
	return &producers{m: map[int64]*producerEntry{}, txns: map[int64]int64{}}
}

// errDuplicate is returned by check when the batch was already appended;
// the caller answers with the original offset.
type errDuplicate struct{ baseOffset int64 }

func (e *errDuplicate) Error() string {
	return fmt.Sprintf("duplicate batch at offset %d", e.baseOffset)
}

// check validates an idempotent batch's producer epoch and sequence against
// the state. It returns *errDuplicate for a retried batch, ErrStaleProducerEpoch
// for fencing, ErrOutOfOrderSequence for gaps, or nil when the batch may be appended.
func (p *producers) check(h storage.BatchHeader) error {
	if h.ProducerID < 0 {
		return nil
	}
	e, ok := p.m[h.ProducerID]
	if ok && h.ProducerEpoch < e.Epoch {
		// Fenced: whatever else is wrong with the batch.
		return ErrStaleProducerEpoch
	}
	if err := p.checkTxn(h); err != nil {
		return err
	}
	if !ok {
		// A producer we don't know: either new (sequence 0) or one whose
		// state was removed with the data (retention, DeleteRecords).
		// Accepting any sequence keeps it producing, as Kafka does.
		return nil
	}
	switch {
	case h.ProducerEpoch < e.Epoch:
		return ErrStaleProducerEpoch
	case h.ProducerEpoch > e.Epoch:
		if IsEmitProducer(h.ProducerID) {
			return nil
		}
		if h.BaseSequence != 0 {
			return ErrOutOfOrderSequence
		}
		return nil
	}
	lastSeq := seqAdd(h.BaseSequence, h.LastOffsetDelta)
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == lastSeq {
			return &errDuplicate{baseOffset: b.BaseOffset}
		}
	}
	if IsEmitProducer(h.ProducerID) {
		// Emit streams skip sequence numbers (see IsEmitProducer).
		return nil
	}
	if l := e.last(); l != nil && h.BaseSequence != seqAdd(l.LastSeq, 1) {
		return ErrOutOfOrderSequence
	}
	return nil
}

// record notes an appended data batch (h carries the stamped base
// offset). Control batches go to recordMarker instead.
func (p *producers) record(h storage.BatchHeader) {
	if h.ProducerID < 0 || h.IsControl() {
		return
	}
	p.recordTxn(h)
	e, ok := p.m[h.ProducerID]
	if !ok || h.ProducerEpoch > e.Epoch {
		e = &producerEntry{Epoch: h.ProducerEpoch}
		p.m[h.ProducerID] = e
	}
	if h.BaseSequence < 0 {
		// A coordinator's batch for the producer (AppendForProducer):
		// it carries no sequence to deduplicate by.
		return
	}
	e.add(batchMeta{
		FirstSeq:   h.BaseSequence,
		LastSeq:    seqAdd(h.BaseSequence, h.LastOffsetDelta),
		BaseOffset: h.BaseOffset,
		Timestamp:  h.MaxTimestamp,
	})
}

// seqAdd adds with Kafka's wraparound at MaxInt32.
func seqAdd(seq, n int32) int32 {
	s := int64(seq) + int64(n)
	if s > int64(^uint32(0)>>1) {
		s -= int64(^uint32(0)>>1) + 1
	}
	return int32(s)
}

type producerSnapshot struct {
	Offset    int64                    `json:"offset"`
	Producers map[int64]*producerEntry `json:"producers"`
	// Txns are the open transactions (producer id: first offset), so
	// that a restart resumes them without replaying from their start.
	Txns map[int64]int64 `json:"txns,omitempty"`
}

// save writes the state as of offset (all batches below it are recorded).
func (p *producers) save(dir string, offset int64) error {
	b, err := json.Marshal(producerSnapshot{Offset: offset, Producers: p.m, Txns: p.txns})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, producerSnapshotFile), b)
}

// loadProducers rebuilds producer state: the snapshot if it is usable, then
// every batch after it from the log. Replaying an abort marker adds its
// aborted transaction to the log's index (which ignores entries it has),
// so entries a crash lost after the snapshot come back.
func loadProducers(l *storage.Log, logger *slog.Logger) (*producers, error) {
	p := newProducers()
	from := l.LogStartOffset()
	b, err := os.ReadFile(filepath.Join(l.Dir(), producerSnapshotFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var s producerSnapshot
		// A snapshot past the log end means recovery truncated data it
		// covered; ignore it and rebuild from the whole log.
		if json.Unmarshal(b, &s) == nil && s.Offset <= l.NextOffset() && s.Offset >= from {
			if s.Producers != nil {
				p.m = s.Producers
			}
			if s.Txns != nil {
				p.txns = s.Txns
			}
			from = s.Offset
		}
	}
	if from >= l.NextOffset() {
		return p, nil
	}
	err = l.Scan(from, func(h storage.BatchHeader, batch []byte) error {
		if h.BaseOffset >= from {
			return p.apply(l, h, batch, logger)
		}
		return nil
	})
	return p, err
}

// clone copies the state so it can be saved without holding the append lock.
func (p *producers) clone() *producers {
	c := &producers{m: make(map[int64]*producerEntry, len(p.m)), txns: make(map[int64]int64, len(p.txns))}
	for id, e := range p.m {
		c.m[id] = &producerEntry{Epoch: e.Epoch, Batches: append([]batchMeta(nil), e.Batches...), CoordEpoch: e.CoordEpoch}
	}
	for id, first := range p.txns {
		c.txns[id] = first
	}
	return c
}
