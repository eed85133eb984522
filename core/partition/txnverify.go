package partition

import (
	"sync/atomic"

	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/storage"
)

// Transaction verification (KIP-890 part 1, Kafka's VerificationGuard).
// A transactional batch whose producer has no transaction open here is
// appended only once its transaction coordinator confirmed that the
// partition is in the producer's ongoing transaction. Without that a late
// batch (a retry that arrived after its transaction was committed or
// aborted) would open a transaction no marker ever closes, and the last
// stable offset would stay behind it for good.
//
// Verification asks the coordinator outside the append lock, so the
// transaction may end in between: StartTxnVerification hands out a token
// that the producer's next marker (or the transaction opening) clears, and
// the append checks it under the append lock.

// ErrTxnNotVerified: a transactional batch of a producer with no
// transaction open here, whose partition the coordinator did not confirm
// (or whose confirmation a marker overtook): Kafka's INVALID_TXN_STATE.
var ErrTxnNotVerified = errkind.New(errkind.TxnOpen, "partition: the partition is not in the producer's ongoing transaction")

// TxnGuard is one verification's token for a producer (id and epoch). The
// zero token stands for "none was needed": the transaction was open when
// the produce looked, so the append needs it still open.
type TxnGuard struct {
	ProducerID int64
	Epoch      int16
	token      uint64
}

// guardTokens numbers the tokens; unique per process.
var guardTokens atomic.Uint64

// verifyEntry is a producer's pending verification on a partition.
type verifyEntry struct {
	epoch int16
	token uint64
}

// ongoing: the producer has a transaction open here, of this epoch.
func (p *producers) ongoing(pid int64, epoch int16) bool {
	if _, open := p.txns[pid]; !open {
		return false
	}
	e, ok := p.m[pid]
	return ok && e.Epoch == epoch
}

// dropGuard forgets pid's pending verification: its transaction opened or
// a marker ended it.
func (p *producers) dropGuard(pid int64) {
	if p.guards != nil {
		delete(p.guards, pid)
	}
}

// checkVerified is the append's check of a transactional batch against
// the request's guard (nil: verification is off).
func (p *producers) checkVerified(h storage.BatchHeader, g *TxnGuard) error {
	if g == nil || h.ProducerID < 0 || !h.IsTransactional() || h.IsControl() || p.ongoing(h.ProducerID, h.ProducerEpoch) {
		return nil
	}
	v, ok := p.guards[h.ProducerID]
	if ok && g.token != 0 && v.token == g.token && g.ProducerID == h.ProducerID && v.epoch == h.ProducerEpoch {
		return nil
	}
	return ErrTxnNotVerified
}

// StartTxnVerification is the first step of a transactional produce with
// verification on: needed is false when the producer (pid, epoch) has its
// transaction open here (no round trip to the coordinator); otherwise the
// caller asks the coordinator and, when the partition is confirmed,
// appends with the guard (AppendGuarded). A pending verification of the
// same producer and epoch shares its token, so that concurrent produces
// do not invalidate each other's.
func (p *Partition) StartTxnVerification(pid int64, epoch int16) (g TxnGuard, needed bool) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	g = TxnGuard{ProducerID: pid, Epoch: epoch}
	if p.producers.ongoing(pid, epoch) {
		return g, false
	}
	if p.producers.guards == nil {
		p.producers.guards = map[int64]verifyEntry{}
	}
	v, ok := p.producers.guards[pid]
	if !ok || v.epoch != epoch {
		v = verifyEntry{epoch: epoch, token: guardTokens.Add(1)}
		p.producers.guards[pid] = v
	}
	g.token = v.token
	return g, true
}

// EndTxnVerification forgets g's pending verification (the coordinator
// refused it, or the append failed), unless a newer one replaced it.
func (p *Partition) EndTxnVerification(g TxnGuard) {
	if g.token == 0 {
		return
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if v, ok := p.producers.guards[g.ProducerID]; ok && v.token == g.token {
		delete(p.producers.guards, g.ProducerID)
	}
}

// PendingTxnVerifications counts the producers with a pending
// verification (tests: tokens must not pile up).
func (p *Partition) PendingTxnVerifications() int {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return len(p.producers.guards)
}
