package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluicemq/sluice/core/meta"
)

// ControllerConfig tunes the controller.
type ControllerConfig struct {
	BrokerID int32
	// Interval between full passes over partition states (besides the
	// passes triggered by metadata changes). Default 1s.
	Interval time.Duration
	// PreferredLeaderInterval: how often leadership moves back to each
	// partition's preferred replica when it is in sync
	// (leader.imbalance.check.interval). Default 30s; negative disables.
	PreferredLeaderInterval time.Duration
	// UncleanElection lets an out-of-sync replica lead when no ISR member
	// is alive (unclean.leader.election.enable), for every topic; topics
	// can enable it with their own config. Default false.
	UncleanElection bool
	Logger          *slog.Logger
}

// Controller elects partition leaders. Every broker runs one; the one
// holding the controller node in the store acts.
type Controller struct {
	cfg    ControllerConfig
	store  Store
	logger *slog.Logger

	// term is the controller epoch + 1 while this broker leads, 0 when
	// it does not (ElectLeaders runs on request goroutines).
	term atomic.Int32
}

// NewController creates a controller.
func NewController(cfg ControllerConfig, store Store) *Controller {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.PreferredLeaderInterval == 0 {
		cfg.PreferredLeaderInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{cfg: cfg, store: store, logger: cfg.Logger.With("component", "controller")}
}

// Run campaigns for the controller role and, while holding it, keeps
// every partition led by a live in-sync replica. It returns when ctx ends.
func (c *Controller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		epoch, err := c.store.Campaign(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logger.Warn("controller campaign failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		c.logger.Info("elected controller", "epoch", epoch)
		c.term.Store(epoch + 1)
		c.lead(ctx, epoch)
		c.term.Store(0)
		c.logger.Info("no longer controller", "epoch", epoch)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// lead acts as controller until another broker holds the role.
func (c *Controller) lead(ctx context.Context, epoch int32) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	var lastPreferred time.Time
	for {
		if c.store.ControllerID() != c.cfg.BrokerID {
			return
		}
		preferred := c.cfg.PreferredLeaderInterval > 0 && time.Since(lastPreferred) >= c.cfg.PreferredLeaderInterval
		if preferred {
			lastPreferred = time.Now()
		}
		// Taken before the pass reads the store, so a change made during
		// the pass wakes the next one at once.
		changes := c.store.Changes()
		c.pass(epoch, preferred)
		c.reassignPass(epoch) // reassign.go
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-tick.C:
		}
	}
}

// pass looks at every partition once.
func (c *Controller) pass(epoch int32, preferred bool) {
	live := map[int32]bool{}
	for _, b := range c.store.Brokers() {
		live[b.ID] = true
	}
	var down map[int32]bool
	if ss, ok := c.store.(meta.ShutdownStore); ok {
		down = ss.ShuttingDown()
	}
	if es, ok := c.store.(meta.EpochStore); ok {
		c.handleRestarts(es, epoch, live)
	}
	for _, t := range c.store.Topics() {
		unclean := c.cfg.UncleanElection || t.Configs["unclean.leader.election.enable"] == "true"
		for i, ps := range t.Partitions {
			_, why := decideWith(ps, live, down, unclean, preferred)
			if why == "" {
				continue
			}
			decideFn := func(ps meta.PartitionState) (meta.PartitionState, string) {
				return decideWith(ps, live, down, unclean, preferred)
			}
			if err := c.apply(t.Name, int32(i), epoch, decideFn); err != nil {
				c.logger.Warn("partition state change failed", "topic", t.Name, "partition", i, "why", why, "err", err)
			}
		}
	}
}

// decide computes a partition's next state: a new leader when the leader
// is gone (from the live ISR, preferred replica first; unclean only if
// allowed), dead brokers out of the ISR, and leadership back to the
// preferred replica. why is empty when nothing changes.
func decide(ps meta.PartitionState, live map[int32]bool, unclean, preferred bool) (meta.PartitionState, string) {
	return decideWith(ps, live, nil, unclean, preferred)
}

// decideWith is decide with brokers in controlled shutdown (down): they
// lose leadership to any other live ISR member and leave the ISR as long
// as the leader stays, are elected only when nobody else can be, and never
// get leadership back by preferred election.
func decideWith(ps meta.PartitionState, live, down map[int32]bool, unclean, preferred bool) (meta.PartitionState, string) {
	next := ps
	next.ISR = slices.Clone(ps.ISR)
	liveISR := make([]int32, 0, len(ps.ISR))
	for _, r := range ps.ISR {
		if live[r] {
			liveISR = append(liveISR, r)
		}
	}
	// pick is the first live replica in assignment order that ok accepts,
	// preferring brokers that are not shutting down.
	pick := func(ok func(int32) bool) (int32, bool) {
		for _, r := range ps.Replicas {
			if live[r] && !down[r] && ok(r) {
				return r, true
			}
		}
		for _, r := range ps.Replicas {
			if live[r] && ok(r) {
				return r, true
			}
		}
		return -1, false
	}
	inISR := func(r int32) bool { return slices.Contains(liveISR, r) }
	if ps.Leader < 0 || !live[ps.Leader] {
		if r, ok := pick(inISR); ok {
			next.Leader, next.LeaderEpoch, next.ISR = r, ps.LeaderEpoch+1, liveISR
			return next, "leader offline"
		}
		if unclean {
			if r, ok := pick(func(int32) bool { return true }); ok {
				next.Leader, next.LeaderEpoch, next.ISR = r, ps.LeaderEpoch+1, []int32{r}
				return next, "unclean leader election"
			}
		}
		if ps.Leader >= 0 {
			// No eligible replica: offline until an ISR member returns.
			// The ISR keeps its last members so one of them can lead.
			next.Leader, next.LeaderEpoch = -1, ps.LeaderEpoch+1
			return next, "no in-sync replica alive"
		}
		return ps, ""
	}
	if len(liveISR) < len(ps.ISR) && len(liveISR) > 0 {
		next.ISR = liveISR
		return next, "in-sync replica offline"
	}
	if down[ps.Leader] {
		for _, r := range ps.Replicas {
			if r != ps.Leader && live[r] && !down[r] && slices.Contains(ps.ISR, r) {
				next.Leader, next.LeaderEpoch = r, ps.LeaderEpoch+1
				next.ISR = slices.DeleteFunc(slices.Clone(ps.ISR), func(id int32) bool { return down[id] })
				return next, "controlled shutdown"
			}
		}
		return ps, "" // nobody else in sync: it leads until it stops
	}
	if shrunk := slices.DeleteFunc(slices.Clone(ps.ISR), func(id int32) bool { return down[id] }); len(shrunk) < len(ps.ISR) {
		next.ISR = shrunk
		return next, "controlled shutdown of a follower"
	}
	if preferred && len(ps.Replicas) > 0 {
		pref := ps.Replicas[0]
		if pref != ps.Leader && live[pref] && !down[pref] && slices.Contains(ps.ISR, pref) {
			next.Leader, next.LeaderEpoch = pref, ps.LeaderEpoch+1
			return next, "preferred leader election"
		}
	}
	return ps, ""
}

// applyAttempts bounds how often apply re-reads and re-decides after a
// lost compare-and-set (a leader's ISR change, usually) before leaving the
// partition to the next pass.
const applyAttempts = 4

// apply decides on the partition's freshly read state and writes the
// decision with compare-and-set against that state's version. A lost race
// is retried at once from the state that won it, not on the next pass
// (and not from the watch cache, which may lag behind).
func (c *Controller) apply(topic string, part, epoch int32, decideFn func(meta.PartitionState) (meta.PartitionState, string)) error {
	var err error
	for range applyAttempts {
		var cur meta.PartitionState
		var ver int32
		cur, ver, err = c.store.PartitionStateVersion(topic, part)
		if err != nil {
			return err
		}
		next, why := decideFn(cur)
		if why == "" {
			return nil // the fresh state needs nothing
		}
		if _, err = c.store.SetPartitionState(topic, part, next, epoch, ver); errors.Is(err, meta.ErrBadVersion) {
			continue
		}
		if err != nil {
			return err
		}
		countElection(cur, next, why)
		c.logger.Info("partition state changed", "topic", topic, "partition", part, "why", why,
			"leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
		return nil
	}
	return fmt.Errorf("%w: %w", errLostRace, err)
}
