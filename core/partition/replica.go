package partition

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sluicemq/sluice/core/storage"
)

// follower is the leader's view of one follower replica.
type follower struct {
	leo      int64     // log end offset it reported by fetching; -1 unknown
	caughtUp time.Time // last time it had everything we had
	// lastFetchEnd and lastFetch are our log end and the time when we
	// answered its previous fetch: a follower whose next fetch starts at
	// lastFetchEnd had everything we had at lastFetch (Kafka's rule; under
	// steady produce load a follower is rarely exactly at our current end).
	lastFetchEnd int64
	lastFetch    time.Time
}

// ErrStaleEpoch refuses a follower operation (append, truncation) made
// for a leader epoch this replica no longer follows: the answer of a
// fetch that was in flight when leadership moved must not land in the log.
var ErrStaleEpoch = errors.New("partition: replica operation for a stale leader epoch")

// ErrDiverged: a fetched batch starts past our log end: the follower must
// find the divergence point again (OffsetForLeaderEpoch) and refetch.
var ErrDiverged = errors.New("partition: replicated batch does not start at our log end")

// replication is a partition's role. Guarded by Partition.mu.
type replication struct {
	self      int32
	leader    bool
	leaderID  int32
	replicas  []int32
	isr       []int32
	ownEnd    int64 // the leader's own copy, counted toward the high watermark
	followers map[int32]*follower
	// since is when this replica became leader; hwMoved says whether the
	// high watermark advanced since (both for the debug log timing a
	// leadership move: how long the first commit in an epoch waited).
	since   time.Time
	hwMoved bool
}

// soleLeader is the single-node role: this broker is the only replica.
func soleLeader(self int32, end int64) replication {
	return replication{self: self, leader: true, leaderID: self, replicas: []int32{self}, isr: []int32{self}, ownEnd: end}
}

// ownEndLocked records how far the leader's own copy counts (the log end,
// or the fsynced end in durable mode) and recomputes the high watermark.
func (p *Partition) ownEndLocked(off int64) {
	if off > p.repl.ownEnd {
		p.repl.ownEnd = off
	}
	p.recomputeHWLocked()
}

// recomputeHWLocked sets the high watermark to what every in-sync replica
// has: with an ISR of one, the leader's own end.
func (p *Partition) recomputeHWLocked() {
	if !p.repl.leader {
		return
	}
	hw := p.repl.ownEnd
	for _, id := range p.repl.isr {
		if id == p.repl.self {
			continue
		}
		f := p.repl.followers[id]
		if f == nil || f.leo < 0 {
			return // an in-sync follower we have not heard from yet
		}
		hw = min(hw, f.leo)
	}
	p.advanceHWLocked(hw)
}

// BecomeLeader makes this replica the leader at epoch with the given
// assignment and ISR. Appends from now on carry the epoch.
func (p *Partition) BecomeLeader(epoch int32, replicas, isr []int32) {
	start := time.Now()
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	end := p.log.NextOffset()
	p.leaderEpoch = epoch
	// The epoch's entry is written to disk below, after mu is released:
	// fetches and divergence checks are answered from memory meanwhile
	// (two fsyncs took 25-360 ms on a loaded machine, and a fetch that
	// named this partition held up every other partition it named), while
	// appendMu keeps every record of the new epoch out until the entry
	// is durable, as Kafka's checkpoint guarantees.
	entries, err := p.epochs.add(epoch, end)
	if err != nil {
		p.logger.Error("saving leader epochs", "err", err)
	}
	now := p.now()
	// A leader that stays leader (an epoch bump for a replica set change,
	// e.g. a reassignment step) keeps the log ends of the in-sync
	// followers that remain, as Kafka does: they are positions in this
	// same log, and forgetting them would stall the high watermark until
	// each fetched again. As in Kafka, a follower outside the new ISR
	// must fetch in the new epoch before it may rejoin (its log end is
	// forgotten), and every kept follower counts as caught up now if in
	// the ISR.
	kept := map[int32]*follower{}
	if p.repl.leader {
		kept = p.repl.followers
	}
	p.repl.leader, p.repl.leaderID = true, p.repl.self
	p.repl.replicas, p.repl.isr = slices.Clone(replicas), slices.Clone(isr)
	p.repl.ownEnd = end
	p.repl.followers = map[int32]*follower{}
	for _, id := range replicas {
		if id == p.repl.self {
			continue
		}
		if f, ok := kept[id]; ok && slices.Contains(isr, id) {
			p.repl.followers[id] = &follower{leo: f.leo, caughtUp: now, lastFetchEnd: -1}
			continue
		}
		p.repl.followers[id] = &follower{leo: -1, caughtUp: now, lastFetchEnd: -1}
	}
	p.repl.since, p.repl.hwMoved = now, false
	p.recomputeHWLocked()
	hw := p.hw
	p.mu.Unlock()
	if entries != nil {
		if err := p.epochs.write(entries); err != nil {
			p.logger.Error("saving leader epochs", "err", err)
		}
	}
	p.logger.Info("became leader", "epoch", epoch, "log_end", end, "high_watermark", hw, "isr", isr, "took", time.Since(start).Round(time.Microsecond))
}

// BecomeFollower makes this replica a follower of leader at epoch.
// Producers waiting for acks=all get ErrNotLeader.
func (p *Partition) BecomeFollower(epoch, leader int32, replicas []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasLeader := p.repl.leader
	p.leaderEpoch = epoch
	p.repl.leader, p.repl.leaderID = false, leader
	p.repl.replicas, p.repl.isr, p.repl.followers = slices.Clone(replicas), nil, nil
	close(p.notify)
	p.notify = make(chan struct{})
	p.wakeAppendedLocked()
	if wasLeader {
		p.logger.Info("became follower", "epoch", epoch, "leader", leader)
	}
}

// Role reports the partition's role and view of the ISR.
func (p *Partition) Role() (leader bool, leaderID int32, epoch int32, isr []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.repl.leader, p.repl.leaderID, p.leaderEpoch, slices.Clone(p.repl.isr)
}

// SetISRWaker registers a function called (without locks held, never
// blocking) when a follower fetch makes an out-of-ISR follower eligible to
// rejoin, so the ISR is expanded on the fetch that catches up rather than
// on the next periodic check.
func (p *Partition) SetISRWaker(wake func()) {
	p.mu.Lock()
	p.isrWake = wake
	p.mu.Unlock()
}

// CheckMinISR is the acks=all admission check: ErrNotEnoughReplicas when
// fewer replicas than min.insync.replicas are in sync.
func (p *Partition) CheckMinISR() error {
	min := p.cfg.Load().MinInsyncReplicas
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.repl.leader && len(p.repl.isr) < min {
		return ErrNotEnoughReplicas
	}
	return nil
}

// SetISR applies an ISR change from the store. A follower that left
// the ISR must fetch again before it can rejoin: its last position may be
// that of a dead broker.
func (p *Partition) SetISR(isr []int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range p.repl.isr {
		if f := p.repl.followers[id]; f != nil && !slices.Contains(isr, id) {
			f.leo = -1
		}
	}
	countISRChange(p.repl.leader, p.repl.isr, isr)
	p.repl.isr = slices.Clone(isr)
	p.recomputeHWLocked()
}

// ISRProposal says how the leader wants the ISR changed: followers that
// have not caught up for lagMax leave, followers that reached the high
// watermark join. ok is false when nothing changes.
func (p *Partition) ISRProposal(lagMax time.Duration) (isr []int32, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.repl.leader {
		return nil, false
	}
	now := p.now()
	epochStart := int64(0)
	if l, ok := p.epochs.latest(); ok {
		epochStart = l.Start
	}
	for _, id := range p.repl.replicas {
		in := slices.Contains(p.repl.isr, id)
		if id == p.repl.self {
			isr = append(isr, id)
			continue
		}
		f := p.repl.followers[id]
		switch {
		case f == nil:
			if in {
				isr = append(isr, id)
			}
		case in && now.Sub(f.caughtUp) <= lagMax:
			isr = append(isr, id)
		case !in && p.eligibleLocked(f, epochStart):
			isr = append(isr, id)
		}
	}
	slices.Sort(isr)
	cur := slices.Clone(p.repl.isr)
	slices.Sort(cur)
	return isr, !slices.Equal(isr, cur)
}

// eligibleLocked: an out-of-ISR follower may join once it has everything
// committed and everything of the current leader epoch's start.
func (p *Partition) eligibleLocked(f *follower, epochStart int64) bool {
	return f.leo >= 0 && f.leo >= p.hw && f.leo >= epochStart
}

// ReplicaFetch serves a follower's fetch: it records the follower's
// position (its fetch offset is its log end) and reads up to our log end.
//
// The returned channel is closed when the log grows: a follower's parked
// fetch is answered as soon as there are new records.
func (p *Partition) ReplicaFetch(replica int32, offset int64, maxBytes int) (ReadResult, <-chan struct{}, error) {
	p.mu.Lock()
	// The log end is read under mu, together with the wake channel: an
	// append that lands after this read closes the channel taken below
	// (appends wake under mu), so a fetch that found nothing new never
	// parks past data it could have had.
	end := p.log.NextOffset()
	if !p.repl.leader {
		p.mu.Unlock()
		return ReadResult{}, nil, ErrNotLeader
	}
	f := p.repl.followers[replica]
	if f == nil {
		p.mu.Unlock()
		return ReadResult{}, nil, ErrUnknownReplica
	}
	var wake func()
	if offset <= end {
		now := p.now()
		if f.leo < 0 {
			p.logger.Debug("first fetch of a follower in this leader epoch", "replica", replica, "offset", offset,
				"log_end", end, "high_watermark", p.hw, "epoch", p.leaderEpoch, "since_leader", now.Sub(p.repl.since))
		}
		f.leo = offset
		switch {
		case offset >= end:
			f.caughtUp = now
		case f.lastFetchEnd >= 0 && offset >= f.lastFetchEnd && f.lastFetch.After(f.caughtUp):
			f.caughtUp = f.lastFetch
		}
		f.lastFetchEnd, f.lastFetch = end, now
		p.recomputeHWLocked()
		if p.isrWake != nil && !slices.Contains(p.repl.isr, replica) {
			epochStart := int64(0)
			if l, ok := p.epochs.latest(); ok {
				epochStart = l.Start
			}
			if p.eligibleLocked(f, epochStart) {
				wake = p.isrWake
			}
		}
	}
	res := ReadResult{HighWatermark: p.hw, LastStableOffset: p.lso(p.hw), LogStartOffset: p.log.LogStartOffset()}
	wait := p.appended
	p.mu.Unlock()
	if wake != nil {
		wake()
	}
	if offset < res.LogStartOffset || offset > end {
		return res, wait, ErrOffsetOutOfRange
	}
	if offset == end {
		return res, wait, nil
	}
	c, err := p.log.Read(offset, maxBytes, end)
	if err != nil {
		return res, wait, ErrStorage
	}
	res.Chunk = c
	return res, wait, nil
}

// followsLocked reports whether this replica follows the leader of epoch.
// mu held.
func (p *Partition) followsLocked(epoch int32) bool {
	return !p.closed && !p.repl.leader && p.leaderEpoch == epoch
}

// FollowerAppend appends batches fetched from the leader of epoch, keeping
// their offsets and leader epochs, and adopts the leader's high watermark.
// It fails with ErrStaleEpoch unless this replica still follows that
// leader (the fetch was answered before leadership moved). A batch that
// straddles our log end replaces our tail from its base offset; one that
// starts past it fails with ErrDiverged.
func (p *Partition) FollowerAppend(epoch int32, records []byte, leaderHW int64) error {
	batches, err := storage.SplitBatches(records)
	if err != nil {
		return ErrCorruptMessage
	}
	p.appendMu.Lock()
	p.mu.Lock()
	follows := p.followsLocked(epoch)
	p.mu.Unlock()
	if !follows {
		p.appendMu.Unlock()
		return ErrStaleEpoch
	}
	for _, b := range batches {
		h, err := storage.ValidateBatch(b)
		if err != nil {
			p.appendMu.Unlock()
			return ErrCorruptMessage
		}
		if next := p.log.NextOffset(); h.LastOffset() < next {
			continue // already have it (a re-sent batch)
		} else if h.BaseOffset > next {
			p.appendMu.Unlock()
			p.logger.Warn("replicated batch starts past our log end", "batch_base", h.BaseOffset, "log_end", next)
			return ErrDiverged
		} else if h.BaseOffset < next {
			// The batch straddles our log end: our tail from its base
			// on is not the leader's (batches are copied whole, so a
			// replica that had the leader's records would end on this
			// batch's boundary). The leader's copy wins.
			p.logger.Warn("replicated batch does not start at our log end; replacing our diverged tail", "batch_base", h.BaseOffset, "log_end", next)
			if err := p.truncateLocked(h.BaseOffset); err != nil {
				p.appendMu.Unlock()
				return err
			}
		}
		got, err := p.log.Append(b, h.PartitionLeaderEpoch)
		if err != nil {
			p.appendMu.Unlock()
			return ErrStorage
		}
		err = p.producers.apply(p.log, got, b, p.logger)
		if got.IsTransactional() {
			p.firstUnstable.Store(p.producers.firstOpen())
		}
		if err != nil {
			p.appendMu.Unlock()
			return ErrStorage
		}
		p.mu.Lock()
		entries, err := p.epochs.add(h.PartitionLeaderEpoch, got.BaseOffset)
		p.mu.Unlock()
		if err == nil && entries != nil {
			err = p.epochs.write(entries) // appendMu held: see BecomeLeader
		}
		if err != nil {
			p.logger.Error("saving leader epochs", "err", err)
		}
	}
	end := p.log.NextOffset()
	p.appendMu.Unlock()
	p.mu.Lock()
	p.advanceHWLocked(min(leaderHW, end))
	p.wakeAppendedLocked()
	p.mu.Unlock()
	return nil
}

// LatestEpoch is the newest leader epoch in our log (-1 if none).
func (p *Partition) LatestEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, _ := p.epochs.latest()
	return l.Epoch
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from the epoch cache.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epochs.endOffsetFor(epoch, p.log.NextOffset())
}

// TruncateTo drops everything at and after offset: a follower of the
// leader of epoch whose log diverged from the leader's (a returning old
// leader's unreplicated tail). Producer state is rebuilt from what
// remains. ErrStaleEpoch unless this replica still follows that leader.
func (p *Partition) TruncateTo(epoch int32, offset int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	follows := p.followsLocked(epoch)
	p.mu.Unlock()
	if !follows {
		return ErrStaleEpoch
	}
	return p.truncateLocked(offset)
}

// truncateLocked is TruncateTo with appendMu held.
func (p *Partition) truncateLocked(offset int64) error {
	if offset >= p.log.NextOffset() {
		return nil
	}
	p.logger.Warn("truncating diverged log", "from", p.log.NextOffset(), "to", offset)
	// A producer snapshot may cover the batches cut here: a Flush in
	// progress is waited for, later ones see truncGen change, and the
	// saved snapshot goes, so the producer state is rebuilt from the log
	// (a stale one would answer a retried batch with the offset of a
	// batch that is gone).
	p.snapMu.Lock()
	p.truncGen.Add(1)
	rmErr := os.Remove(filepath.Join(p.log.Dir(), producerSnapshotFile))
	p.snapMu.Unlock()
	if rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		return rmErr
	}
	if err := p.log.Truncate(offset); err != nil {
		return err
	}
	prods, err := loadProducers(p.log, p.logger)
	if err != nil {
		return err
	}
	p.producers = prods
	p.firstUnstable.Store(prods.firstOpen())
	p.flushedEnd = -1
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.epochs.truncateFrom(offset); err != nil {
		return err
	}
	p.hw = min(p.hw, offset)
	p.repl.ownEnd = min(p.repl.ownEnd, offset)
	return nil
}

// Durable reports whether the topic fsyncs before acknowledging
// (flush.messages=1).
func (p *Partition) Durable() bool { return p.cfg.Load().durable() }

// WaitDurable returns once the result's records are fsynced when the
// topic is durable (flush.messages=1); acks=1 produces wait for it, so
// that durable mode acknowledges nothing that a crash could lose.
func (p *Partition) WaitDurable(res AppendResult) error {
	if !p.cfg.Load().durable() {
		return nil
	}
	if err := p.log.WaitDurable(res.commitOffset); err != nil {
		return p.storageError("fsync", err)
	}
	p.mu.Lock()
	p.ownEndLocked(res.commitOffset)
	p.mu.Unlock()
	return nil
}

// RestoreHighWatermark sets the high watermark a restarted replica
// checkpointed (the replica manager's replication-offset-checkpoint),
// bounded by the log: Open assumes everything that survived recovery is
// committed, which holds for a cluster of one but not for a replica that
// had records its leader had not committed yet. It is for a partition
// that has no role yet, just before the replica manager gives it one: as
// leader its high watermark then advances only as its in-sync followers
// catch up, and as follower the divergence check truncates to it when the
// leader knows no common epoch. The partition stops acting as the sole
// leader Open made it, so that nothing (a flush counting the leader's own
// copy) raises the high watermark back to the log end meanwhile.
func (p *Partition) RestoreHighWatermark(hw int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hw = max(min(hw, p.log.NextOffset()), p.log.LogStartOffset())
	p.repl.leader = false
}
