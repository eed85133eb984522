package group

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/txn"
)

// Transactional offset commits (TxnOffsetCommit), Kafka's way: the offsets
// are appended to __consumer_offsets as a transactional batch of the
// producer and stay pending until the transaction's marker lands on that
// partition: a commit marker makes them the group's committed offsets
// (unless a plain commit later in the log replaced them), an abort marker
// drops them. Replaying the log on load does the same with the stored
// batches and control markers.

// pendingTxnOffset is an offset a transaction committed, waiting for its
// marker; pos is its batch's position in the log.
type pendingTxnOffset struct {
	Offset
	pos int64
}

// TxnCommitRequest is a TxnOffsetCommit for one group.
type TxnCommitRequest struct {
	GroupID       string
	ProducerID    int64
	ProducerEpoch int16
	// Generation, MemberID, InstanceID (v3+) are checked like Kafka does:
	// a non-empty member id must be a member, a generation ≥ 0 the
	// group's; older versions send "" and -1.
	Generation int32
	MemberID   string
	InstanceID *string
	Offsets    map[TopicPartition]Offset
}

// TxnCommit handles TxnOffsetCommit; it returns a code for every partition
// once the transactional batch is replicated (or failed).
func (c *Coordinator) TxnCommit(req TxnCommitRequest) map[TopicPartition]int16 {
	codes := make(map[TopicPartition]int16, len(req.Offsets))
	fail := func(code int16) map[TopicPartition]int16 {
		for tp := range req.Offsets {
			codes[tp] = code
		}
		return codes
	}
	if req.GroupID == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	if !c.owns(req.GroupID) {
		return fail(kerr.NotCoordinator.Code)
	}
	// Kafka creates the group: a transactional producer may commit for a
	// group nobody joined (a plain consumer assigning partitions).
	g := c.group(req.GroupID, true)
	if g == nil {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	g.lock()
	switch {
	case g.state == Dead:
		g.unlock()
		return fail(kerr.CoordinatorNotAvailable.Code)
	case g.cg != nil:
		// A consumer (KIP-848) group: the generation is the member
		// epoch (consumer.go); commits without a member id pass, as
		// for classic groups.
		if req.MemberID != "" {
			tps := make([]TopicPartition, 0, len(req.Offsets))
			for tp := range req.Offsets {
				tps = append(tps, tp)
			}
			if code := g.checkConsumerCommit(req.MemberID, req.Generation, tps); code != 0 {
				g.unlock()
				return fail(code)
			}
		}
	case req.InstanceID != nil && g.static[*req.InstanceID] != "" && g.static[*req.InstanceID] != req.MemberID:
		g.unlock()
		return fail(kerr.FencedInstanceID.Code)
	case req.MemberID != "" && g.members[req.MemberID] == nil:
		g.unlock()
		return fail(kerr.UnknownMemberID.Code)
	case req.Generation >= 0 && req.Generation != g.generation:
		g.unlock()
		return fail(kerr.IllegalGeneration.Code)
	}
	valid := c.validOffsets(req.Offsets, codes)
	if len(valid) == 0 {
		g.unlock()
		return codes
	}
	w := c.store.appendTxnOffsets(g.id, req.ProducerID, req.ProducerEpoch, valid)
	if w.err == nil {
		// Pending before the wait: a marker may land before the wait
		// returns (the coordinator aborting a timed-out transaction).
		if g.txnOffsets == nil {
			g.txnOffsets = map[int64]map[TopicPartition]pendingTxnOffset{}
		}
		pend := g.txnOffsets[req.ProducerID]
		if pend == nil {
			pend = map[TopicPartition]pendingTxnOffset{}
			g.txnOffsets[req.ProducerID] = pend
		}
		for tp, o := range valid {
			pend[tp] = pendingTxnOffset{o, w.pos()}
		}
	}
	g.unlock()
	err := w.wait()
	if err == nil {
		for tp := range valid {
			codes[tp] = 0
		}
		return codes
	}
	g.lock()
	if pend := g.txnOffsets[req.ProducerID]; pend != nil && w.err == nil {
		for tp := range valid {
			if p, ok := pend[tp]; ok && p.pos == w.pos() {
				delete(pend, tp)
			}
		}
	}
	g.unlock()
	code := kerr.CoordinatorNotAvailable.Code
	if ke, ok := kerrmap.Lookup(err); ok {
		code = ke.Code
		if ke == kerr.NotLeaderForPartition {
			code = kerr.NotCoordinator.Code
		}
	}
	c.logger.Warn("persist transactional offsets", "group", g.id, "producer_id", req.ProducerID, "err", err)
	for tp := range valid {
		codes[tp] = code
	}
	return codes
}

// TxnMarker is the txn.MarkerObserver for __consumer_offsets: a commit
// marker makes the producer's pending offsets in the groups of that
// partition committed, an abort drops them. Idempotent (markers are
// retried).
func (c *Coordinator) TxnMarker(m txn.Marker) {
	if m.Topic != OffsetsTopic {
		return
	}
	for _, g := range c.snapshot() {
		if PartitionFor(g.id, c.store.partitions) != m.Partition {
			continue
		}
		g.lock()
		g.endTxn(m.ProducerID, m.Commit)
		g.unlock()
	}
}

// endTxn applies a marker of producer pid to g's pending offsets. g locked.
func (g *group) endTxn(pid int64, commit bool) {
	pend := g.txnOffsets[pid]
	if pend == nil {
		return
	}
	delete(g.txnOffsets, pid)
	if !commit {
		return
	}
	for tp, o := range pend {
		if prev, ok := g.offsetPos[tp]; !ok || o.pos > prev {
			g.offsets[tp], g.offsetPos[tp] = o.Offset, o.pos
		}
	}
}

// PendingTxnOffsets reports the partitions of groupID with transactional
// offsets waiting for their marker: OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for them.
func (c *Coordinator) PendingTxnOffsets(groupID string) map[TopicPartition]bool {
	g := c.group(groupID, false)
	if g == nil {
		return nil
	}
	g.lock()
	defer g.unlock()
	var out map[TopicPartition]bool
	for _, pend := range g.txnOffsets {
		for tp := range pend {
			if out == nil {
				out = map[TopicPartition]bool{}
			}
			out[tp] = true
		}
	}
	return out
}

// attrTransactional is the batch attribute bit of transactional batches.
const attrTransactional = 0x10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendTxnOffsets appends offsets as a transactional batch of the
// producer (see pendingWrite). As Kafka's coordinator-origin appends, it
// carries no sequence (-1): the partition fences it by epoch only.
func (s *Store) appendTxnOffsets(groupID string, pid int64, epoch int16, offs map[TopicPartition]Offset) pendingWrite {
	part := PartitionFor(groupID, s.partitions)
	p, err := s.part(part)
	if err != nil {
		return pendingWrite{err: fmt.Errorf("group: offsets partition: %w", err)}
	}
	now := time.Now().UnixMilli()
	recs := make([]records.Record, 0, len(offs))
	for tp, o := range offs {
		v := kmsg.OffsetCommitValue{Version: 3, Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTimestamp: o.CommitTime}
		recs = append(recs, records.Record{Key: offsetKey(groupID, tp), Value: v.AppendTo(nil), Timestamp: now})
	}
	batch, err := records.Encode(recs, records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1})
	if err != nil {
		return pendingWrite{err: err}
	}
	batch[22] |= attrTransactional
	crc := crc32.Checksum(batch[21:], castagnoli)
	binary.BigEndian.PutUint32(batch[17:21], crc)
	res, err := p.AppendForProducer(batch)
	if err != nil {
		return pendingWrite{err: fmt.Errorf("group: append: %w", err)}
	}
	return pendingWrite{p: p, res: res}
}

// controlType reads a control record's key: 0 abort, 1 commit.
func controlType(key []byte) (commit bool, ok bool) {
	if len(key) < 4 {
		return false, false
	}
	switch binary.BigEndian.Uint16(key[2:4]) {
	case 0:
		return false, true
	case 1:
		return true, true
	}
	return false, false
}
