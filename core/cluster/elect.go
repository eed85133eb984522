package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sluicemq/sluice/core/meta"
)

// Outcomes of a requested leader election (Kafka's ElectLeaders), one per
// partition.
var (
	ErrNotController               = errors.New("cluster: this broker is not the controller")
	ErrElectionNotNeeded           = errors.New("cluster: the partition already has the leader the election would pick")
	ErrPreferredLeaderNotAvailable = errors.New("cluster: the preferred replica is not alive and in sync")
	ErrEligibleLeadersNotAvailable = errors.New("cluster: no live replica can lead")
)

// ElectLeaders runs a leader election for each listed partition (all
// partitions when parts is nil), as the controller: preferred moves
// leadership to the first assigned replica if it is alive and in sync;
// unclean elects a leader for a partition that has none, from the live ISR
// if possible and else from any live replica (which may lose acknowledged
// records: that is what the caller asks for). The result holds nil for an
// elected partition and one of the errors above, meta.ErrUnknownTopic or
// meta.ErrUnknownPartition otherwise. It fails as a whole with
// ErrNotController when this broker does not hold the role.
func (c *Controller) ElectLeaders(ctx context.Context, unclean bool, parts map[string][]int32) (map[string]map[int32]error, error) {
	epoch := c.term.Load() - 1
	if epoch < 0 || c.store.ControllerID() != c.cfg.BrokerID {
		return nil, ErrNotController
	}
	if parts == nil {
		parts = map[string][]int32{}
		for _, t := range c.store.Topics() {
			for i := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], int32(i))
			}
		}
	}
	live := map[int32]bool{}
	for _, b := range c.store.Brokers() {
		live[b.ID] = true
	}
	var down map[int32]bool
	if ss, ok := c.store.(meta.ShutdownStore); ok {
		down = ss.ShuttingDown()
	}
	out := make(map[string]map[int32]error, len(parts))
	for topic, ps := range parts {
		res := make(map[int32]error, len(ps))
		out[topic] = res
		t, ok := c.store.Topic(topic)
		for _, p := range ps {
			switch {
			case ctx.Err() != nil:
				res[p] = ctx.Err()
			case !ok:
				res[p] = meta.ErrUnknownTopic
			case p < 0 || int(p) >= len(t.Partitions):
				res[p] = meta.ErrUnknownPartition
			default:
				res[p] = c.elect(topic, p, epoch, func(ps meta.PartitionState) (meta.PartitionState, error) {
					if unclean {
						return electUnclean(ps, live, down)
					}
					return electPreferred(ps, live, down)
				})
			}
		}
	}
	return out, nil
}

// electPreferred decides a requested preferred leader election.
func electPreferred(ps meta.PartitionState, live, down map[int32]bool) (meta.PartitionState, error) {
	if len(ps.Replicas) == 0 {
		return ps, ErrPreferredLeaderNotAvailable
	}
	pref := ps.Replicas[0]
	if ps.Leader == pref {
		return ps, ErrElectionNotNeeded
	}
	if !live[pref] || down[pref] || !slices.Contains(ps.ISR, pref) {
		return ps, ErrPreferredLeaderNotAvailable
	}
	next := ps
	next.Leader, next.LeaderEpoch = pref, ps.LeaderEpoch+1
	return next, nil
}

// electUnclean decides a requested unclean election: only partitions
// without a live leader get one.
func electUnclean(ps meta.PartitionState, live, down map[int32]bool) (meta.PartitionState, error) {
	if ps.Leader >= 0 && live[ps.Leader] {
		return ps, ErrElectionNotNeeded
	}
	next, why := decideWith(ps, live, down, true, false)
	if why == "" || next.Leader < 0 {
		return ps, ErrEligibleLeadersNotAvailable
	}
	return next, nil
}

// elect applies one requested election with compare-and-set, deciding on
// the freshly read state each attempt.
func (c *Controller) elect(topic string, part, epoch int32, decide func(meta.PartitionState) (meta.PartitionState, error)) error {
	var err error
	for range applyAttempts {
		var cur meta.PartitionState
		var ver int32
		cur, ver, err = c.store.PartitionStateVersion(topic, part)
		if err != nil {
			return err
		}
		next, derr := decide(cur)
		if derr != nil {
			return derr
		}
		if _, err = c.store.SetPartitionState(topic, part, next, epoch, ver); errors.Is(err, meta.ErrBadVersion) {
			continue
		}
		if errors.Is(err, meta.ErrNotController) {
			return ErrNotController
		}
		if err != nil {
			return err
		}
		c.logger.Info("partition state changed", "topic", topic, "partition", part, "why", "requested leader election",
			"leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
		return nil
	}
	return fmt.Errorf("%w: %w", errLostRace, err)
}
