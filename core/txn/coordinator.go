package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/partition"
)

// Config wires a coordinator to the broker; zero values take Kafka's
// defaults.
type Config struct {
	// Partitions is the partition count of __transaction_state.
	Partitions int32
	// Partition returns partition i of __transaction_state.
	Partition func(i int32) (*partition.Partition, error)
	// AllocateProducerID hands out cluster-unique producer ids.
	AllocateProducerID func() (int64, error)
	// Markers writes commit/abort markers to the transactions' partitions.
	Markers MarkerWriter
	// MaxTimeout is transaction.max.timeout.ms (15 min): InitProducerId
	// asking for more gets INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// AbortInterval is how often timed-out transactions are looked for
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms, 10 s).
	AbortInterval time.Duration
	// MarkerRetry is the pause before writing failed markers again.
	MarkerRetry time.Duration
	// IDExpiration is transactional.id.expiration.ms (7 days): a
	// transactional id with no transaction open (Empty, CompleteCommit,
	// CompleteAbort) and no state change for longer is removed, a
	// tombstone in __transaction_state; its next producer gets a new
	// producer id.
	IDExpiration time.Duration
	// ExpireInterval is how often expired ids are looked for
	// (transaction.remove.expired.transaction.cleanup.interval.ms, 1 h).
	ExpireInterval time.Duration
	// CompletingWait bounds how long AddPartitionsToTxn, AddOffsetsToTxn
	// and TxnOffsetCommit of a producer whose previous transaction is
	// still completing (its markers being written) wait for it before
	// answering CONCURRENT_TRANSACTIONS (500 ms; negative: not at all).
	// A producer begins its next transaction right after EndTxn, and
	// this spares it the retry backoff (kgo's 20 ms, Java's 100 ms) per
	// transaction.
	CompletingWait time.Duration
	// OnDemand: coordinate only the partitions handed over with
	// LoadPartition (cluster mode). Otherwise every partition is loaded
	// by Start.
	OnDemand bool
	Logger   *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Partitions <= 0 {
		c.Partitions = DefaultPartitions
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.AbortInterval <= 0 {
		c.AbortInterval = 10 * time.Second
	}
	if c.MarkerRetry <= 0 {
		c.MarkerRetry = 100 * time.Millisecond
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
	if c.ExpireInterval <= 0 {
		c.ExpireInterval = time.Hour
	}
	if c.CompletingWait == 0 {
		c.CompletingWait = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// owned is a __transaction_state partition this coordinator serves.
type owned struct {
	p     *partition.Partition
	epoch int32 // the partition's leader epoch: markers' coordinator epoch
	ctx   context.Context
	stop  context.CancelFunc
}

// Coordinator is the transaction coordinator of the __transaction_state
// partitions this broker leads.
type Coordinator struct {
	cfg    Config
	logger *slog.Logger

	mu     sync.Mutex
	txns   map[string]*meta
	owned  map[int32]*owned
	closed bool
	// idle is closed (and replaced) whenever a transactional id stops
	// being busy or is dropped: waitCompleting's wake-up.
	idle chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

// New creates a coordinator. Start loads the state (single node) and
// begins aborting timed-out transactions.
func New(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{cfg: cfg, logger: cfg.Logger, txns: map[string]*meta{}, owned: map[int32]*owned{}, idle: make(chan struct{}), stop: make(chan struct{})}
}

// Start loads every partition unless OnDemand, and starts the timeout
// checker.
func (c *Coordinator) Start() error {
	if !c.cfg.OnDemand {
		for i := int32(0); i < c.cfg.Partitions; i++ {
			p, err := c.cfg.Partition(i)
			if err != nil {
				return fmt.Errorf("txn: load partition %d: %w", i, err)
			}
			if err := c.LoadPartition(p); err != nil {
				return err
			}
		}
	}
	c.wg.Add(1)
	go c.abortLoop()
	return nil
}

// Close stops the timeout checker and marker writers. Transactions keep
// their persisted state; the next coordinator resumes them.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, o := range c.owned {
		o.stop()
	}
	c.changedLocked()
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()
}

// PartitionCount is the partition count of __transaction_state the
// coordinator hashes over.
func (c *Coordinator) PartitionCount() int32 { return c.cfg.Partitions }

// PartitionFor is the __transaction_state partition of transactionalID.
func (c *Coordinator) PartitionFor(transactionalID string) int32 {
	return PartitionFor(transactionalID, c.cfg.Partitions)
}

// LoadPartition takes over the transactional ids of a __transaction_state
// partition (this broker leads it): their state is read back from the
// log, and transactions that were committing or aborting get their
// markers written again.
func (c *Coordinator) LoadPartition(p *partition.Partition) error {
	_, _, epoch, _ := p.Role()
	c.mu.Lock()
	if o := c.owned[p.Index]; o != nil && o.p == p && o.epoch == epoch {
		// Already serving it (told twice: at start and by the hook).
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	loaded, err := replay(p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &owned{p: p, epoch: epoch, ctx: ctx, stop: cancel}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return nil
	}
	if prev := c.owned[p.Index]; prev != nil {
		prev.stop()
		for id := range c.txns {
			if c.PartitionFor(id) == p.Index {
				delete(c.txns, id)
			}
		}
		c.changedLocked()
	}
	c.owned[p.Index] = o
	var resume []*meta
	for id, m := range loaded {
		if c.PartitionFor(id) != p.Index {
			continue
		}
		c.txns[id] = m
		if m.state == PrepareCommit || m.state == PrepareAbort {
			m.busy = true
			resume = append(resume, m)
		}
	}
	c.mu.Unlock()
	lvl := slog.LevelInfo
	if len(loaded) == 0 {
		lvl = slog.LevelDebug // 50 lines of nothing at every start otherwise
	}
	c.logger.Log(context.Background(), lvl, "coordinating transactions of state partition", "partition", p.Index, "transactional_ids", len(loaded), "completing", len(resume))
	for _, m := range resume {
		c.wg.Add(1)
		go c.complete(o, m.clone())
	}
	return nil
}

// UnloadPartition gives up a partition (leadership moved): its producers
// get NOT_COORDINATOR and find the new coordinator, which finishes what
// this one was doing.
func (c *Coordinator) UnloadPartition(i int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if o := c.owned[i]; o != nil {
		o.stop()
		delete(c.owned, i)
	}
	for id := range c.txns {
		if c.PartitionFor(id) == i {
			delete(c.txns, id)
		}
	}
	c.changedLocked()
}

// changedLocked wakes the waiters of waitCompleting. c.mu held.
func (c *Coordinator) changedLocked() {
	close(c.idle)
	c.idle = make(chan struct{})
}

// waitCompleting waits, while the producer's (pid, epoch) previous
// transaction of id is completing, until it completed, up to
// CompletingWait. Called with c.mu held, which is released meanwhile and
// held again on return; the caller then checks the state as usual.
func (c *Coordinator) waitCompleting(id string, pid int64, epoch int16) {
	if c.cfg.CompletingWait < 0 {
		return
	}
	var deadline time.Time
	for {
		m := c.txns[id]
		if c.closed || m == nil || m.pid != pid || m.epoch != epoch ||
			!(m.busy || m.state == PrepareCommit || m.state == PrepareAbort) {
			return
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(c.cfg.CompletingWait)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return
		}
		ch := c.idle
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
	}
}

// Leadership is the cluster's leadership hook for __transaction_state.
func (c *Coordinator) Leadership(p *partition.Partition, leader bool) {
	if p.Topic != TopicName {
		return
	}
	if !leader {
		c.UnloadPartition(p.Index)
		return
	}
	if err := c.LoadPartition(p); err != nil {
		c.logger.Error("loading transactions", "partition", p.Index, "err", err)
	}
}

// lookup returns the partition serving id and its state, or
// NOT_COORDINATOR. c.mu held.
func (c *Coordinator) lookup(id string) (*owned, *meta, error) {
	o := c.owned[c.PartitionFor(id)]
	if o == nil || c.closed {
		return nil, nil, kerr.NotCoordinator
	}
	return o, c.txns[id], nil
}

// ErrorCode maps an error of this package to its Kafka code.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := kerrmap.Lookup(err); ok {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// ProducerIDAndEpoch is InitProducerId's answer.
type ProducerIDAndEpoch struct {
	ProducerID    int64
	ProducerEpoch int16
}

// InitProducerID handles InitProducerId for a transactional id: the
// producer gets its id with the epoch bumped (fencing older producers of
// the id), a new id when the epoch is exhausted; an open transaction is
// aborted first (the producer is told CONCURRENT_TRANSACTIONS and
// retries). pid/epoch are -1 unless the producer recovers (KIP-360).
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, pid int64, epoch int16) (ProducerIDAndEpoch, error) {
	none := ProducerIDAndEpoch{-1, -1}
	if id == "" {
		return none, kerr.InvalidRequest
	}
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return none, kerr.InvalidTransactionTimeout
	}
	expect := pid >= 0 || epoch >= 0
	c.mu.Lock()
	o, m, err := c.lookup(id)
	if err != nil {
		c.mu.Unlock()
		return none, err
	}
	if m == nil {
		newPID, err := c.cfg.AllocateProducerID()
		if err != nil {
			c.mu.Unlock()
			c.logger.Error("allocate producer id", "err", err)
			return none, kerr.CoordinatorNotAvailable
		}
		m = &meta{id: id, pid: newPID, epoch: noEpoch, lastPID: -1, lastEpoch: noEpoch, timeout: timeout, state: Empty, parts: map[TopicPartition]struct{}{}}
		c.txns[id] = m
	}
	if m.busy {
		c.mu.Unlock()
		return none, kerr.ConcurrentTransactions
	}
	// KIP-360: a given id must be the current one (its epoch is checked
	// below), or the previous one with an exhausted epoch (a retry after
	// a rotation whose answer was lost).
	if expect && m.epoch != noEpoch && pid != m.pid && !(pid == m.lastPID && epochExhausted(epoch)) {
		c.mu.Unlock()
		return none, kerr.ProducerFenced
	}
	switch m.state {
	case PrepareCommit, PrepareAbort:
		c.mu.Unlock()
		return none, kerr.ConcurrentTransactions
	case Ongoing:
		// Abort the open transaction with a fenced epoch (never handed
		// to a producer); the producer retries once it completes.
		n := m.clone()
		if !epochExhausted(n.epoch) {
			n.epoch++
		}
		if err := c.beginEnd(o, m, n, false); err != nil {
			return none, err
		}
		return none, kerr.ConcurrentTransactions
	case Empty, CompleteCommit, CompleteAbort:
	default:
		c.mu.Unlock()
		return none, kerr.UnknownServerError
	}
	n := m.clone()
	n.timeout, n.parts, n.start = timeout, map[TopicPartition]struct{}{}, time.Time{}
	switch {
	case epochExhausted(m.epoch) && (!expect || epoch == m.epoch):
		newPID, err := c.cfg.AllocateProducerID()
		if err != nil {
			c.mu.Unlock()
			return none, kerr.CoordinatorNotAvailable
		}
		n.lastPID, n.lastEpoch = m.pid, m.epoch
		n.pid, n.epoch = newPID, 0
	case !expect || m.epoch == noEpoch || epoch == m.epoch:
		n.lastPID, n.lastEpoch = m.pid, m.epoch
		n.epoch = m.epoch + 1
		if m.epoch == noEpoch {
			n.epoch = 0
		}
	case pid == m.pid && epoch == m.lastEpoch:
		// A retry of the bump whose answer was lost: same answer.
		c.mu.Unlock()
		return ProducerIDAndEpoch{m.pid, m.epoch}, nil
	case pid == m.lastPID && epochExhausted(epoch):
		c.mu.Unlock()
		return ProducerIDAndEpoch{m.pid, m.epoch}, nil
	default:
		c.mu.Unlock()
		return none, kerr.ProducerFenced
	}
	n.state = Empty
	if err := c.transition(o, m, n, false); err != nil {
		return none, err
	}
	return ProducerIDAndEpoch{n.pid, n.epoch}, nil
}

// checkProducer applies Kafka's producer checks shared by
// AddPartitionsToTxn, AddOffsetsToTxn and TxnOffsetCommit. c.mu held.
func checkProducer(m *meta, pid int64, epoch int16) error {
	switch {
	case m == nil || m.pid != pid:
		return kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return kerr.ProducerFenced
	case m.busy, m.state == PrepareCommit, m.state == PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	return nil
}

// AddPartitions handles AddPartitionsToTxn (and AddOffsetsToTxn, whose
// partition is the group's __consumer_offsets partition): the transaction
// becomes Ongoing with the partitions, persisted before the producer
// writes to them.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, tps []TopicPartition) error {
	c.mu.Lock()
	c.waitCompleting(id, pid, epoch)
	o, m, err := c.lookup(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	if err := checkProducer(m, pid, epoch); err != nil {
		c.mu.Unlock()
		return err
	}
	if m.state == Ongoing {
		all := true
		for _, tp := range tps {
			if _, ok := m.parts[tp]; !ok {
				all = false
				break
			}
		}
		if all {
			c.mu.Unlock()
			return nil
		}
	}
	n := m.clone()
	if m.state != Ongoing {
		n.parts = map[TopicPartition]struct{}{}
		n.start = c.cfg.Now()
	}
	n.state = Ongoing
	for _, tp := range tps {
		n.parts[tp] = struct{}{}
	}
	return c.transition(o, m, n, false)
}

// CheckProducer reports whether pid/epoch is the current producer of id
// with an open (or openable) transaction: TxnOffsetCommit's check.
func (c *Coordinator) CheckProducer(id string, pid int64, epoch int16) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waitCompleting(id, pid, epoch)
	_, m, err := c.lookup(id)
	if err != nil {
		return err
	}
	return checkProducer(m, pid, epoch)
}

// EndTxn handles EndTxn: the transaction is PrepareCommit (or
// PrepareAbort) once that is persisted, when the producer is answered;
// markers are then written to every partition, retried until all are,
// and the transaction becomes CompleteCommit (CompleteAbort).
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit bool) error {
	c.mu.Lock()
	o, m, err := c.lookup(id)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	switch {
	case m == nil || m.pid != pid:
		c.mu.Unlock()
		return kerr.InvalidProducerIDMapping
	case epoch != m.epoch:
		c.mu.Unlock()
		return kerr.ProducerFenced
	}
	var done error
	switch m.state {
	case Ongoing:
		if m.busy {
			c.mu.Unlock()
			return kerr.ConcurrentTransactions
		}
		n := m.clone()
		return c.beginEnd(o, m, n, commit)
	case CompleteCommit:
		done = okIf(commit)
	case CompleteAbort:
		done = okIf(!commit)
	case PrepareCommit:
		done = kerr.InvalidTxnState
		if commit {
			done = kerr.ConcurrentTransactions
		}
	case PrepareAbort:
		done = kerr.InvalidTxnState
		if !commit {
			done = kerr.ConcurrentTransactions
		}
	default:
		done = kerr.InvalidTxnState
	}
	c.mu.Unlock()
	return done
}

func okIf(ok bool) error {
	if ok {
		return nil
	}
	return kerr.InvalidTxnState
}

// beginEnd moves m to Prepare{Commit,Abort} as n (which may carry a
// bumped, fencing epoch) and, once that is persisted, writes the markers
// in the background. Called with c.mu held; returns with it released.
func (c *Coordinator) beginEnd(o *owned, m, n *meta, commit bool) error {
	n.state = PrepareAbort
	if commit {
		n.state = PrepareCommit
	}
	// Busy until the markers are written.
	if err := c.transition(o, m, n, true); err != nil {
		return err
	}
	c.wg.Add(1)
	go c.complete(o, n.clone())
	return nil
}

// transition persists n and installs it as id's state, busy afterwards
// when busyAfter. Called with c.mu held (and m not busy); returns with it
// released. m is busy meanwhile.
func (c *Coordinator) transition(o *owned, m, n *meta, busyAfter bool) error {
	m.busy = true
	n.updated = c.cfg.Now()
	c.mu.Unlock()
	err := persist(o, n)
	c.mu.Lock()
	defer c.mu.Unlock()
	m.busy = false
	defer c.changedLocked()
	if err != nil {
		c.logger.Warn("persisting transaction state", "transactional_id", n.id, "state", n.state.String(), "err", err)
		if kerrmap.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, context.Canceled) {
			return kerr.NotCoordinator
		}
		return kerr.CoordinatorNotAvailable
	}
	if c.txns[m.id] != m {
		// Unloaded meanwhile (leadership moved).
		return kerr.NotCoordinator
	}
	*m = *n
	m.busy = busyAfter
	return nil
}

// complete writes n's markers until all are written (or the partition is
// given up), then persists Complete{Commit,Abort}.
func (c *Coordinator) complete(o *owned, n *meta) {
	defer c.wg.Done()
	commit := n.state == PrepareCommit
	pending := make([]Marker, 0, len(n.parts))
	for _, tp := range n.sortedParts() {
		pending = append(pending, Marker{Topic: tp.Topic, Partition: tp.Partition, ProducerID: n.pid, ProducerEpoch: n.epoch, CoordinatorEpoch: o.epoch, Commit: commit})
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-o.ctx.Done():
				return
			case <-time.After(c.cfg.MarkerRetry):
			}
		}
		errs := c.cfg.Markers.WriteMarkers(o.ctx, pending)
		var again []Marker
		for i, err := range errs {
			if err == nil || i >= len(pending) {
				continue
			}
			switch {
			case kerrmap.Is(err, kerr.UnknownTopicOrPartition):
				// The topic was deleted: nothing left to end there.
				c.logger.Warn("dropping marker for a deleted partition", "transactional_id", n.id, "topic", pending[i].Topic, "partition", pending[i].Partition)
				continue
			case kerrmap.Is(err, kerr.InvalidProducerEpoch):
				// The partition has seen a newer epoch of the producer:
				// this transaction is over there (Kafka drops it too).
				c.logger.Warn("dropping marker of a fenced producer epoch", "transactional_id", n.id, "topic", pending[i].Topic, "partition", pending[i].Partition, "producer_epoch", n.epoch)
				continue
			case kerrmap.Is(err, kerr.TransactionCoordinatorFenced):
				// A newer coordinator owns the transaction and finishes it.
				c.logger.Warn("coordinator fenced while writing markers", "transactional_id", n.id, "coordinator_epoch", o.epoch)
				return
			}
			if attempt%50 == 0 {
				c.logger.Warn("writing transaction marker, will retry", "transactional_id", n.id, "topic", pending[i].Topic, "partition", pending[i].Partition, "err", err)
			}
			again = append(again, pending[i])
		}
		pending = again
		if o.ctx.Err() != nil {
			return
		}
	}
	done := n.clone()
	done.state = CompleteAbort
	if commit {
		done.state = CompleteCommit
	}
	done.parts = map[TopicPartition]struct{}{}
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		m := c.txns[n.id]
		if m == nil || c.owned[o.p.Index] != o {
			c.mu.Unlock()
			return
		}
		done.updated = c.cfg.Now()
		c.mu.Unlock()
		res, err := appendState(o, done)
		if err == nil {
			// The completed state is installed once appended, before
			// it is committed, so that the producer's next
			// transaction (whose AddPartitionsToTxn may be waiting,
			// see waitCompleting) starts at once: its own state record
			// comes after this one in the log and is committed with
			// it. Should this one never be committed (the partition's
			// leadership moves), the next coordinator reads
			// Prepare{Commit,Abort} back and writes the markers again,
			// which the partitions answer as done.
			c.mu.Lock()
			if c.txns[n.id] == m {
				*m = *done
				m.busy = false
				c.changedLocked()
			}
			c.mu.Unlock()
			if err := waitState(o, res); err != nil && o.ctx.Err() == nil {
				c.logger.Warn("completed transaction state not committed", "transactional_id", n.id, "state", done.state.String(), "err", err)
			}
			return
		}
		if attempt%50 == 0 {
			c.logger.Warn("persisting completed transaction, will retry", "transactional_id", n.id, "err", err)
		}
		select {
		case <-o.ctx.Done():
			return
		case <-time.After(c.cfg.MarkerRetry):
		}
	}
}

// abortLoop aborts transactions open longer than their timeout and
// removes expired transactional ids.
func (c *Coordinator) abortLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.AbortInterval)
	defer t.Stop()
	e := time.NewTicker(c.cfg.ExpireInterval)
	defer e.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.AbortTimedOut()
		case <-e.C:
			c.ExpireIdle()
		}
	}
}

// expirable: m has no transaction open and has not changed for the
// expiration. c.mu held.
func (c *Coordinator) expirable(m *meta, now time.Time) bool {
	switch m.state {
	case Empty, CompleteCommit, CompleteAbort:
	default:
		return false
	}
	return !m.busy && now.Sub(m.updated) > c.cfg.IDExpiration
}

// ExpireIdle removes the transactional ids idle past IDExpiration (see
// Config.IDExpiration): each gets a tombstone in its __transaction_state
// partition, then is forgotten. It returns how many were removed. A
// producer of the id meanwhile gets CONCURRENT_TRANSACTIONS and retries.
func (c *Coordinator) ExpireIdle() int {
	now := c.cfg.Now()
	c.mu.Lock()
	var ids []string
	for id, m := range c.txns {
		if c.expirable(m, now) {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	sort.Strings(ids)
	removed := 0
	for _, id := range ids {
		c.mu.Lock()
		o, m, err := c.lookup(id)
		if err != nil || m == nil || !c.expirable(m, now) {
			c.mu.Unlock()
			continue
		}
		if m.epoch == noEpoch {
			// Created by an InitProducerId whose state was never
			// persisted: nothing to tombstone.
			delete(c.txns, id)
			c.mu.Unlock()
			removed++
			continue
		}
		m.busy = true
		pid, idle := m.pid, now.Sub(m.updated)
		c.mu.Unlock()
		err = persistTombstone(o, id, now)
		c.mu.Lock()
		m.busy = false
		if err == nil && c.txns[id] == m {
			delete(c.txns, id)
			removed++
		}
		c.changedLocked()
		c.mu.Unlock()
		if err != nil {
			c.logger.Warn("removing expired transactional id", "transactional_id", id, "err", err)
			continue
		}
		c.logger.Info("removed expired transactional id", "transactional_id", id, "producer_id", pid, "idle_for", idle.Round(time.Second))
	}
	return removed
}

// AbortTimedOut aborts, with a bumped epoch that fences their producer,
// the Ongoing transactions older than their timeout.
func (c *Coordinator) AbortTimedOut() {
	now := c.cfg.Now()
	c.mu.Lock()
	var ids []string
	for id, m := range c.txns {
		if m.state == Ongoing && !m.busy && now.Sub(m.start) > m.timeout {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.mu.Lock()
		o, m, err := c.lookup(id)
		if err != nil || m == nil || m.state != Ongoing || m.busy {
			c.mu.Unlock()
			continue
		}
		c.logger.Info("aborting timed-out transaction", "transactional_id", id, "producer_id", m.pid, "producer_epoch", m.epoch, "open_for", now.Sub(m.start).Round(time.Millisecond))
		n := m.clone()
		if !epochExhausted(n.epoch) {
			n.epoch++
		}
		if err := c.beginEnd(o, m, n, false); err != nil {
			c.logger.Warn("aborting timed-out transaction", "transactional_id", id, "err", err)
		}
	}
}

// Description is DescribeTransactions' view of one transactional id.
type Description struct {
	TransactionalID string
	State           State
	ProducerID      int64
	ProducerEpoch   int16
	Timeout         time.Duration
	Start           time.Time // zero outside a transaction
	Partitions      []TopicPartition
}

func describe(m *meta) Description {
	return Description{TransactionalID: m.id, State: m.state, ProducerID: m.pid, ProducerEpoch: m.epoch, Timeout: m.timeout, Start: m.start, Partitions: m.sortedParts()}
}

// Describe handles DescribeTransactions for one id: NOT_COORDINATOR,
// TRANSACTIONAL_ID_NOT_FOUND, or its state.
func (c *Coordinator) Describe(id string) (Description, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, m, err := c.lookup(id)
	if err != nil {
		return Description{TransactionalID: id}, err
	}
	if m == nil || m.epoch == noEpoch {
		return Description{TransactionalID: id}, kerr.TransactionalIDNotFound
	}
	return describe(m), nil
}

// ListFilter selects ListTransactions' transactions; the zero value (but
// for MinOpen, which must be negative) matches all.
type ListFilter struct {
	States      []State // any of these (empty: all)
	ProducerIDs []int64 // any of these (empty: all)
	// MinOpen, when zero or more, keeps only transactions running
	// (Ongoing, PrepareCommit, PrepareAbort) for longer (v1, KIP-994).
	MinOpen time.Duration
	// IDPattern, when set, keeps only ids it matches (v2, KIP-1152;
	// see CompileIDPattern).
	IDPattern *regexp.Regexp
}

// List handles ListTransactions: the transactions this broker coordinates
// that f selects, sorted by transactional id.
func (c *Coordinator) List(f ListFilter) []Description {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Description
	for _, m := range c.txns {
		switch {
		case m.epoch == noEpoch,
			len(f.States) > 0 && !contains(f.States, m.state),
			len(f.ProducerIDs) > 0 && !contains(f.ProducerIDs, m.pid),
			f.MinOpen >= 0 && (m.start.IsZero() || now.Sub(m.start) <= f.MinOpen),
			f.IDPattern != nil && !f.IDPattern.MatchString(m.id):
			continue
		}
		out = append(out, describe(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TransactionalID < out[j].TransactionalID })
	return out
}

// CompileIDPattern compiles ListTransactions' transactional id pattern
// (RE2 syntax, as Kafka's RE2J) to match whole ids, as Kafka's
// Matcher.matches does, not substrings.
func CompileIDPattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// VerifyPartitions answers a partition leader asking whether tps are in
// pid/epoch's ongoing transaction of id (AddPartitionsToTxn v4+ with
// VerifyOnly, KIP-890 part 1); it changes nothing. err fails every
// partition: NOT_COORDINATOR, INVALID_REQUEST (no id),
// INVALID_PRODUCER_ID_MAPPING (unknown id or another producer id),
// PRODUCER_FENCED (another epoch), CONCURRENT_TRANSACTIONS (the
// transaction is being committed or aborted), as Kafka's coordinator
// answers. Otherwise each partition is nil when in the transaction, else
// INVALID_TXN_STATE (Kafka 3.6–3.7; later ones say TRANSACTION_ABORTABLE,
// which leaders turn into INVALID_TXN_STATE for clients anyway). A
// transaction's partitions are added once persisted and dropped when it
// completes, so a busy Ongoing state needs no special case: the leader
// re-checks against the markers under its append lock.
func (c *Coordinator) VerifyPartitions(id string, pid int64, epoch int16, tps []TopicPartition) ([]error, error) {
	if id == "" {
		return nil, kerr.InvalidRequest
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, m, err := c.lookup(id)
	switch {
	case err != nil:
		return nil, err
	case m == nil || m.pid != pid:
		return nil, kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return nil, kerr.ProducerFenced
	case m.state == PrepareCommit || m.state == PrepareAbort:
		return nil, kerr.ConcurrentTransactions
	}
	out := make([]error, len(tps))
	for i, tp := range tps {
		if _, ok := m.parts[tp]; !ok || m.state != Ongoing {
			out[i] = kerr.InvalidTxnState
		}
	}
	return out, nil
}
