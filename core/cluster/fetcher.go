package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
)

// followed is one partition a fetcher replicates.
type followed struct {
	epoch int32
	// truncated: the divergence check against the leader (through
	// OffsetForLeaderEpoch) is done for this epoch.
	truncated bool
	// since is when this leader epoch was handed to the fetcher; answered
	// says a fetch in it succeeded (for the debug log timing a switch).
	since    time.Time
	answered bool
}

// fetcher replicates every partition this broker follows from one leader,
// with Fetch requests carrying our replica id, like a Kafka follower.
type fetcher struct {
	m      *ReplicaManager
	leader int32
	cl     *kgo.Client // this fetcher's connection to the leader
	// raw carries the replica fetches themselves (fetchconn.go); only
	// run's goroutine uses it.
	raw *replicaConn

	mu    sync.Mutex
	parts map[*partition.Partition]*followed
	// reset: a partition came with a new leader epoch since the loop
	// last looked; its backoffs start over (what failed before, against
	// another leader or epoch, says nothing about this one).
	reset bool
	// interrupt cancels the round in flight (nil between rounds): a
	// partition handed over must not wait for a long poll on the others.
	interrupt context.CancelFunc
	// interrupted says the round was cut short by add, not failed;
	// lastInterrupt bounds how often that happens (each costs the
	// connection: a burst of handovers, as at start, must not redial per
	// partition).
	interrupted   bool
	lastInterrupt time.Time
	wake          chan struct{}
	done          chan struct{}
}

// Fetcher retry timings.
const (
	// fetchBackoffMin and fetchBackoffMax bound the wait after a round
	// that failed as a whole (the leader unreachable, say).
	fetchBackoffMin = 100 * time.Millisecond
	fetchBackoffMax = 2 * time.Second
	// partBackoffMin and partBackoffMax bound the wait after a round in
	// which every partition answered an error.
	partBackoffMin = 10 * time.Millisecond
	partBackoffMax = time.Second
	// freshWindow and freshRetry: for this long after a partition is
	// handed to a fetcher with a new leader epoch, and until a fetch of
	// it succeeds, no wait exceeds freshRetry. A follower often learns of
	// the new epoch before the new leader applies it (each reads it from
	// ZooKeeper on its own, and the controller writing it is often the
	// follower itself): the leader answers UNKNOWN_LEADER_EPOCH or
	// NOT_LEADER_FOR_PARTITION for some milliseconds, and backing off
	// exponentially from that kept acks=all waiting for this follower for
	// 450 ms in a rolling restart (issue 14). A few fast retries cost the
	// leader a few cheap answers.
	freshWindow = 2 * time.Second
	freshRetry  = 10 * time.Millisecond
)

func newFetcher(m *ReplicaManager, leader int32, cl *kgo.Client) *fetcher {
	raw := newReplicaConn(cl, leader, "sluice-replica-"+itoa(m.cfg.BrokerID))
	raw.lookup = m.brokerAddr
	return &fetcher{m: m, leader: leader, cl: cl, raw: raw, parts: map[*partition.Partition]*followed{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (f *fetcher) add(p *partition.Partition, epoch int32) {
	f.mu.Lock()
	f.parts[p] = &followed{epoch: epoch, since: time.Now()}
	f.reset = true
	if now := time.Now(); f.interrupt != nil && now.Sub(f.lastInterrupt) >= f.m.cfg.FetchWait {
		f.interrupt()
		f.interrupt, f.interrupted, f.lastInterrupt = nil, true, now
	}
	f.mu.Unlock()
	f.m.logger.Debug("following a leader", "topic", p.Topic, "partition", p.Index, "leader", f.leader, "epoch", epoch)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) remove(p *partition.Partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
}

func (f *fetcher) close() {
	select {
	case <-f.done:
	default:
		close(f.done)
	}
}

func (f *fetcher) snapshot() map[*partition.Partition]followed {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[*partition.Partition]followed, len(f.parts))
	for p, st := range f.parts {
		out[p] = *st
	}
	return out
}

func (f *fetcher) markTruncated(p *partition.Partition, epoch int32) {
	f.setTruncated(p, epoch, true)
}

// markAnswered logs the first successful fetch of p in epoch.
func (f *fetcher) markAnswered(p *partition.Partition, epoch int32) {
	f.mu.Lock()
	st := f.parts[p]
	first := st != nil && st.epoch == epoch && !st.answered
	var since time.Time
	if first {
		st.answered, since = true, st.since
	}
	f.mu.Unlock()
	if first {
		f.m.logger.Debug("first replica fetch answered in this leader epoch", "topic", p.Topic, "partition", p.Index,
			"leader", f.leader, "epoch", epoch, "after", time.Since(since))
	}
}

// startRound takes the partitions of a round and whether the backoffs
// start over, and makes the round interruptible by add.
func (f *fetcher) startRound(cancel context.CancelFunc) (parts map[*partition.Partition]followed, reset bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	parts = make(map[*partition.Partition]followed, len(f.parts))
	for p, st := range f.parts {
		parts[p] = *st
	}
	reset, f.reset = f.reset, false
	f.interrupt, f.interrupted = cancel, false
	return parts, reset
}

// endRound says whether add cut the round short.
func (f *fetcher) endRound() (interrupted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	interrupted = f.interrupted
	f.interrupt, f.interrupted = nil, false
	return interrupted
}

// fresh reports whether the partition is newly handed over (within
// freshWindow, never fetched yet): then no retry waits long.
func (st followed) fresh(now time.Time) bool {
	return !st.answered && now.Sub(st.since) < freshWindow
}

// retryWait is how long to wait before retrying after d was due: at most
// freshRetry while a partition of parts is fresh.
func retryWait(d time.Duration, parts map[*partition.Partition]followed) time.Duration {
	now := time.Now()
	for _, st := range parts {
		if st.fresh(now) {
			return min(d, freshRetry)
		}
	}
	return d
}

func (f *fetcher) setTruncated(p *partition.Partition, epoch int32, done bool) {
	f.mu.Lock()
	if st := f.parts[p]; st != nil && st.epoch == epoch {
		st.truncated = done
	}
	f.mu.Unlock()
}

// sleep waits d, or less when a partition is added (a new leader epoch
// may be what the failing fetches needed). False when the fetcher stops.
func (f *fetcher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.done:
		return false
	case <-f.m.stop:
		return false
	case <-f.wake:
		return true
	case <-t.C:
		return true
	}
}

func (f *fetcher) run() {
	logger := f.m.logger.With("leader", f.leader)
	defer f.raw.close()
	// base ends when the fetcher stops, so that a parked fetch on the raw
	// connection is cut short rather than waited out.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	go func() {
		select {
		case <-f.done:
		case <-f.m.stop:
		case <-base.Done():
		}
		cancelBase()
	}()
	backoff, partBackoff := fetchBackoffMin, partBackoffMin
	for {
		select {
		case <-f.done:
			return
		case <-f.m.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(base, f.m.cfg.FetchWait+10*time.Second)
		parts, reset := f.startRound(cancel)
		if reset {
			backoff, partBackoff = fetchBackoffMin, partBackoffMin
		}
		if len(parts) == 0 {
			f.endRound()
			cancel()
			select {
			case <-f.wake:
			case <-f.done:
				return
			case <-f.m.stop:
				return
			case <-time.After(time.Second):
			}
			continue
		}
		// A partition whose divergence check fails (its leader has not
		// applied the new epoch yet, say) must not hold up the others:
		// every partition already checked is fetched regardless.
		terr := f.truncateDiverged(ctx, parts)
		fetched, ferr := f.fetchOnce(ctx, f.snapshot())
		cancel()
		if f.endRound() {
			// A partition was handed over meanwhile: fetch it now.
			logger.Debug("replica fetch round cut short for a newly followed partition")
			continue
		}
		err := errors.Join(terr, ferr)
		if !fetched && err == nil {
			err = errors.New("cluster: no partition ready to fetch")
		}
		if errors.Is(ferr, errAllPartitionsFailed) {
			// Every partition answered an error (a deleted topic, a
			// leader not yet at our epoch): retry soon, but not at
			// the rate the leader can answer errors.
			wait := retryWait(partBackoff, parts)
			logger.Debug("replica fetch failed for every partition", "err", err, "backoff", wait)
			if !f.sleep(wait) {
				return
			}
			partBackoff = min(2*partBackoff, partBackoffMax)
			continue
		}
		partBackoff = partBackoffMin
		if err != nil && !fetched {
			wait := retryWait(backoff, parts)
			logger.Debug("replica fetch failed", "err", err, "backoff", wait)
			if !f.sleep(wait) {
				return
			}
			backoff = min(2*backoff, fetchBackoffMax)
			continue
		}
		if err != nil {
			logger.Debug("replica fetch partly failed", "err", err, "divergence_check_failed", terr != nil)
			if terr != nil && !f.sleep(retryWait(100*time.Millisecond, parts)) {
				return // retry the divergence checks soon, not in a busy loop
			}
		}
		backoff = fetchBackoffMin
	}
}

// truncateDiverged asks the leader where each newly followed partition's
// log diverges (OffsetForLeaderEpoch with our latest epoch) and truncates
// there: a returning old leader drops its unreplicated tail.
func (f *fetcher) truncateDiverged(ctx context.Context, parts map[*partition.Partition]followed) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.m.cfg.BrokerID
	type key struct {
		topic string
		part  int32
	}
	index := map[key]*partition.Partition{}
	byTopic := map[string]*kmsg.OffsetForLeaderEpochRequestTopic{}
	for p, st := range parts {
		if st.truncated {
			continue
		}
		latest := p.LatestEpoch()
		if latest < 0 {
			f.markTruncated(p, st.epoch) // empty log: nothing can diverge
			continue
		}
		t := byTopic[p.Topic]
		if t == nil {
			nt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			nt.Topic = p.Topic
			t = &nt
			byTopic[p.Topic] = t
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.Index, st.epoch, latest
		t.Partitions = append(t.Partitions, rp)
		index[key{p.Topic, p.Index}] = p
	}
	if len(index) == 0 {
		return nil
	}
	for _, t := range byTopic {
		req.Topics = append(req.Topics, *t)
	}
	req.Version = 4 // ReplicaID from v3; Sluice and Kafka 2.3+ answer v4
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := f.raw.request(ctx, req, resp); err != nil {
		return err
	}
	var errs []error
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := index[key{t.Topic, rp.Partition}]
			if p == nil {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				errs = append(errs, err)
				continue
			}
			epoch := parts[p].epoch
			target := rp.EndOffset
			switch {
			case target < 0:
				// The leader knows no epoch as old as ours: keep only
				// what was committed.
				target = p.HighWatermark()
			case rp.LeaderEpoch >= 0 && rp.LeaderEpoch < p.LatestEpoch():
				// The leader's newest epoch at or below ours is older
				// than ours: our log may diverge before its end
				// offset, where our next epoch after that one starts
				// (Kafka truncates to the smaller of the two).
				if _, ours := p.EndOffsetForEpoch(rp.LeaderEpoch); ours >= 0 {
					target = min(target, ours)
				}
			}
			if target < p.LogEndOffset() {
				if err := p.TruncateTo(epoch, target); err != nil {
					if !errors.Is(err, partition.ErrStaleEpoch) {
						errs = append(errs, err)
					}
					continue
				}
			}
			f.markTruncated(p, epoch)
		}
	}
	return errors.Join(errs...)
}

// fetchOnce sends one replica fetch for every truncated partition and
// appends what comes back. fetched is false when no partition was ready
// or the request failed as a whole.
func (f *fetcher) fetchOnce(ctx context.Context, parts map[*partition.Partition]followed) (fetched bool, err error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = f.m.cfg.BrokerID
	req.MaxWaitMillis = int32(f.m.cfg.FetchWait / time.Millisecond)
	now := time.Now()
	for _, st := range parts {
		if !st.truncated && st.fresh(now) {
			// A newly handed-over partition waits for its divergence
			// check: the others' long poll must not delay its retry.
			req.MaxWaitMillis = int32(freshRetry / time.Millisecond)
			break
		}
	}
	req.MinBytes = 1
	req.MaxBytes = 16 << 20
	type key struct {
		topic string
		part  int32
	}
	index := map[key]*partition.Partition{}
	byTopic := map[string]*kmsg.FetchRequestTopic{}
	for p, st := range parts {
		if !st.truncated {
			continue
		}
		maxBytes := int32(4 << 20)
		if !f.m.throttleAdmit(p, &maxBytes) {
			continue // throttle.go: a throttled replica over its rate waits
		}
		t := byTopic[p.Topic]
		if t == nil {
			nt := kmsg.NewFetchRequestTopic()
			nt.Topic = p.Topic
			t = &nt
			byTopic[p.Topic] = t
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch = p.Index, st.epoch
		rp.FetchOffset = p.LogEndOffset()
		rp.LogStartOffset = p.LogStartOffset()
		rp.PartitionMaxBytes = maxBytes
		t.Partitions = append(t.Partitions, rp)
		index[key{p.Topic, p.Index}] = p
	}
	if len(index) == 0 {
		return false, nil
	}
	for _, t := range byTopic {
		req.Topics = append(req.Topics, *t)
	}
	// The answer's record batches alias the connection's buffer: they
	// are appended below, before the next fetch reuses it.
	sent := time.Now()
	resp, err := f.raw.fetch(ctx, req)
	if d := time.Since(sent); d > f.m.cfg.FetchWait+50*time.Millisecond {
		f.m.logger.Debug("replica fetch answered late", "leader", f.leader, "took", d, "max_wait", f.m.cfg.FetchWait, "err", err)
	}
	if err != nil {
		return false, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return false, err
	}
	var errs []error
	answered := 0
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			p := index[key{t.Topic, rp.Partition}]
			if p == nil {
				continue
			}
			answered++
			epoch := parts[p].epoch
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				if errors.Is(err, kerr.OffsetOutOfRange) && p.LogEndOffset() > rp.HighWatermark && rp.HighWatermark >= 0 {
					// Ahead of the leader: drop what it does not have.
					if terr := p.TruncateTo(epoch, rp.HighWatermark); terr != nil && !errors.Is(terr, partition.ErrStaleEpoch) {
						errs = append(errs, terr)
					}
					continue
				}
				errs = append(errs, err)
				continue
			}
			appendStart := time.Now()
			err := p.FollowerAppend(epoch, rp.RecordBatches, rp.HighWatermark)
			if d := time.Since(appendStart); d > 50*time.Millisecond {
				f.m.logger.Debug("replicated append was slow", "topic", p.Topic, "partition", p.Index, "took", d, "bytes", len(rp.RecordBatches))
			}
			switch {
			case err == nil:
				f.m.throttleCharge(p, len(rp.RecordBatches))
				if !parts[p].answered {
					// Once per epoch: the round's copy says whether
					// the fetcher's lock needs taking at all.
					f.markAnswered(p, epoch)
				}
			case errors.Is(err, partition.ErrStaleEpoch):
				// Leadership moved while the fetch was in flight: the
				// answer is not ours to append any more.
			case errors.Is(err, partition.ErrDiverged):
				// Our tail differs from the leader's: find where again.
				f.setTruncated(p, epoch, false)
				errs = append(errs, err)
			default:
				errs = append(errs, err)
			}
		}
	}
	if answered > 0 && len(errs) == answered {
		errs = append(errs, errAllPartitionsFailed)
	}
	return true, errors.Join(errs...)
}

// errAllPartitionsFailed: a fetch's every partition came back with an
// error; the fetcher backs off before the next.
var errAllPartitionsFailed = errors.New("cluster: every fetched partition failed")
