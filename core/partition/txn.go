package partition

import (
	"hash/crc32"
	"log/slog"
	"math"

	"github.com/sluicemq/sluice/core/storage"
)

// Transactions on a partition. A producer's transactional batches open a
// transaction at the first one's offset; the coordinator's commit or abort
// marker (a control batch, WriteTxnMarker) closes it. The last stable
// offset (LSO) is the first offset of the oldest open transaction, capped
// by the high watermark: read_committed consumers read below it only, and
// learn from the aborted-transaction index (storage's .txnindex) which
// producers' batches below it to drop.

// checkTxn refuses a non-transactional batch from a producer whose
// transaction here is still open (ErrTxnOpen, Kafka's INVALID_TXN_STATE): it would be
// neither committed nor aborted with it.
func (p *producers) checkTxn(h storage.BatchHeader) error {
	if _, open := p.txns[h.ProducerID]; open && !h.IsTransactional() {
		return ErrTxnOpen
	}
	return nil
}

// recordTxn opens the producer's transaction at a transactional batch
// unless one is open.
func (p *producers) recordTxn(h storage.BatchHeader) {
	if !h.IsTransactional() {
		return
	}
	if _, open := p.txns[h.ProducerID]; !open {
		p.txns[h.ProducerID] = h.BaseOffset
		p.dropGuard(h.ProducerID)
	}
}

// checkMarker decides what a marker for (pid, epoch) from a coordinator
// of coordEpoch does: an error when it is fenced (an older producer epoch:
// ErrStaleProducerEpoch; an older coordinator: ErrCoordinatorFenced),
// else whether a control batch must be written. A producer with no open
// transaction here and no newer epoch needs none: the marker is a retry
// (or the partition never saw the transaction's data), and success is the
// answer. A newer epoch is written even without an open transaction, so
// that the partition learns it and fences the older producer's late
// batches, as Kafka's markers do.
func (p *producers) checkMarker(pid int64, epoch int16, coordEpoch int32) (write bool, err error) {
	e, known := p.m[pid]
	if known {
		switch {
		case epoch < e.Epoch:
			return false, ErrStaleProducerEpoch
		case coordEpoch < e.CoordEpoch:
			return false, ErrCoordinatorFenced
		}
	}
	if _, open := p.txns[pid]; open {
		return true, nil
	}
	return !known || epoch > e.Epoch, nil
}

// recordMarker applies an appended marker (h: its stamped header): the
// producer takes the marker's epoch (a newer one starts its sequences
// afresh) and its transaction closes. It returns the first offset of the
// closed transaction, ok false if none was open.
func (p *producers) recordMarker(h storage.BatchHeader, m markerInfo) (first int64, ok bool) {
	e, known := p.m[h.ProducerID]
	if !known || h.ProducerEpoch > e.Epoch {
		ce := int32(0)
		if known {
			ce = e.CoordEpoch
		}
		e = &producerEntry{Epoch: h.ProducerEpoch, CoordEpoch: ce}
		p.m[h.ProducerID] = e
	}
	e.CoordEpoch = max(e.CoordEpoch, m.coordEpoch)
	first, ok = p.txns[h.ProducerID]
	delete(p.txns, h.ProducerID)
	// A verification of the ended transaction must not let a late batch
	// open a new one (KIP-890's race, txnverify.go).
	p.dropGuard(h.ProducerID)
	return first, ok
}

// firstOpen is the first offset of the oldest open transaction, -1 if none.
func (p *producers) firstOpen() int64 {
	first := int64(math.MaxInt64)
	for _, f := range p.txns {
		first = min(first, f)
	}
	if first == math.MaxInt64 {
		return -1
	}
	return first
}

// abortedEntry is the index entry of an abort just recorded at marker.
func (p *producers) abortedEntry(pid, first, marker int64) storage.AbortedTxn {
	lso := p.firstOpen()
	if lso < 0 {
		lso = marker + 1
	}
	return storage.AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: marker, LastStableOffset: lso}
}

// apply records a batch already in the log l (replay at open, replicated
// batches): data batches as record does, markers as recordMarker does,
// adding aborts to l's index. A control batch that is no marker is skipped.
func (p *producers) apply(l *storage.Log, h storage.BatchHeader, batch []byte, logger *slog.Logger) error {
	if h.ProducerID < 0 {
		return nil
	}
	if !h.IsControl() {
		p.record(h)
		return nil
	}
	m, err := decodeMarker(h, batch)
	if err != nil {
		logger.Warn("skipping unreadable control batch", "offset", h.BaseOffset, "err", err)
		return nil
	}
	first, open := p.recordMarker(h, m)
	if !open || m.commit {
		return nil
	}
	return l.AddAbortedTxn(p.abortedEntry(h.ProducerID, first, h.BaseOffset))
}

// TxnMarker is a commit or abort marker for one producer (the partition's
// side of txn.Marker, which this package does not import: the coordinator
// imports partitions, not the other way round).
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
}

// WriteTxnMarker appends the control batch that commits or aborts the
// producer's transaction on this partition (leader only) and closes it:
// the LSO moves past it, and an abort enters the aborted-transaction index.
// A producer with no open transaction here gets no marker and success
// (see checkMarker), so a coordinator may retry markers freely. Fenced
// markers fail with ErrStaleProducerEpoch or ErrCoordinatorFenced.
// Like Append, the marker is in the log on return; WaitCommitted with the
// result waits for acks=all (for a no-op, for everything appended before).
func (p *Partition) WriteTxnMarker(m TxnMarker) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1}
	if m.ProducerID < 0 {
		return res, ErrNoProducerID
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	epoch, closed, leader := p.leaderEpoch, p.closed, p.repl.leader
	p.mu.Unlock()
	if closed || !leader {
		return res, ErrNotLeader
	}
	if err := p.log.Err(); err != nil {
		return res, p.storageError("append", err)
	}
	write, err := p.producers.checkMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch)
	if err != nil {
		return res, err
	}
	res.LogStartOffset = p.log.LogStartOffset()
	if !write {
		// Nothing to close here, but the transaction is over: a
		// verification made for it must not let a delayed batch open
		// one now (KIP-890; Kafka writes the marker, which does this).
		p.producers.dropGuard(m.ProducerID)
		res.commitOffset = p.log.NextOffset()
		return res, nil
	}
	b := encodeMarker(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Commit, p.now().UnixMilli())
	h, err := p.log.Append(b, epoch)
	if err != nil {
		return res, p.storageError("append", err)
	}
	first, open := p.producers.recordMarker(h, markerInfo{commit: m.Commit, coordEpoch: m.CoordinatorEpoch})
	// An abort enters the aborted-transaction index BEFORE the LSO moves
	// past its transaction: read_committed fetches (ReadIsolated) take
	// the LSO without the append lock, and one taken in between would
	// read the aborted batches with no entry hiding them, as committed
	// data (issue 13: kgo's TestTxnEtl saw records twice downstream).
	// AddAbortedTxn can wait for a flush's fsync, so the window was wide.
	if open && !m.Commit {
		if err := p.log.AddAbortedTxn(p.producers.abortedEntry(m.ProducerID, first, h.BaseOffset)); err != nil {
			return res, p.storageError("index aborted transaction", err)
		}
	}
	p.firstUnstable.Store(p.producers.firstOpen())
	res.BaseOffset, res.commitOffset = h.BaseOffset, h.LastOffset()+1
	p.mu.Lock()
	if !p.cfg.Load().durable() {
		p.ownEndLocked(res.commitOffset)
	}
	p.wakeAppendedLocked()
	p.mu.Unlock()
	return res, nil
}

// AppendForProducer appends one transactional batch a coordinator writes
// on a producer's behalf (the group coordinator's TxnOffsetCommit records
// in __consumer_offsets), as Kafka's coordinator-origin appends: it carries
// the producer's id and epoch and base sequence -1, opens (or continues)
// the producer's transaction here, and is fenced by epoch
// (ErrStaleProducerEpoch) but neither sequence-checked nor deduplicated.
// The batch is not run through produce validation (the broker built it).
func (p *Partition) AppendForProducer(batch []byte) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LogAppendTime: -1}
	h, err := storage.ValidateBatch(batch)
	switch {
	case err != nil:
		return res, ErrCorruptMessage
	case h.ProducerID < 0 || !h.IsTransactional() || h.IsControl() || h.BaseSequence >= 0:
		return res, ErrInvalidRecord
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	epoch, closed, leader := p.leaderEpoch, p.closed, p.repl.leader
	p.mu.Unlock()
	if closed || !leader {
		return res, ErrNotLeader
	}
	if e, ok := p.producers.m[h.ProducerID]; ok && h.ProducerEpoch < e.Epoch {
		return res, ErrStaleProducerEpoch
	}
	got, err := p.log.Append(batch, epoch)
	if err != nil {
		return res, p.storageError("append", err)
	}
	p.producers.record(got)
	p.firstUnstable.Store(p.producers.firstOpen())
	res.BaseOffset, res.commitOffset, res.LogStartOffset = got.BaseOffset, got.LastOffset()+1, p.log.LogStartOffset()
	p.mu.Lock()
	if !p.cfg.Load().durable() {
		p.ownEndLocked(res.commitOffset)
	}
	p.wakeAppendedLocked()
	p.mu.Unlock()
	return res, nil
}

// LastStableOffset is the offset below which every transaction is decided:
// the first offset of the oldest open transaction, at most the high
// watermark.
func (p *Partition) LastStableOffset() int64 {
	return p.lso(p.HighWatermark())
}

func (p *Partition) lso(hw int64) int64 {
	if f := p.firstUnstable.Load(); f >= 0 && f < hw {
		return f
	}
	return hw
}

// OpenTxns lists the open transactions (producer id: first offset), for
// tools and tests.
func (p *Partition) OpenTxns() map[int64]int64 {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := make(map[int64]int64, len(p.producers.txns))
	for id, f := range p.producers.txns {
		out[id] = f
	}
	return out
}

// AbortedTxns lists the aborted transactions overlapping [from, upTo).
func (p *Partition) AbortedTxns(from, upTo int64) []storage.AbortedTxn {
	return p.log.AbortedTxns(from, upTo)
}

// markTransactional sets a transform's output batch's transactional bit
// (and its CRC) when the input batch had it, so that read_committed
// consumers can drop it if the transaction aborts.
func markTransactional(b []byte) {
	if len(b) < storage.BatchHeaderLen {
		return
	}
	b[22] |= attrTransactional
	c := crc32.Checksum(b[21:], castagnoli)
	b[17], b[18], b[19], b[20] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
}
