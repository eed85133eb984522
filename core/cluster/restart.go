package cluster

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/sluicemq/sluice/core/meta"
)

// handleRestarts recognises brokers that restarted (or got a new session)
// without the controller acting on their absence, as Kafka's KIP-380
// does with broker epochs: a partition state written before a live
// broker's current registration names an earlier incarnation of it as
// leader or ISR member. That incarnation is dead: the partition gets
// another leader from the rest of the ISR and the broker leaves the ISR,
// as if it had gone away; the new incarnation then rejoins as a follower
// and catches up (or, when nobody else is in sync, leads again with a new
// leader epoch on the next pass). Without this the state would keep
// naming the restarted broker leader at the old epoch, and a killed leader
// that came back before its session expired would cost two session
// timeouts instead of one.
func (c *Controller) handleRestarts(es meta.EpochStore, epoch int32, live map[int32]bool) {
	epochs := es.BrokerEpochs()
	for _, t := range c.store.Topics() {
		zxids := es.PartitionStateZxids(t.Name)
		for i, ps := range t.Partitions {
			if i >= len(zxids) || zxids[i] == 0 || len(restarted(ps, live, epochs, zxids[i])) == 0 {
				continue
			}
			if err := c.applyRestart(es, t.Name, int32(i), epoch, live, epochs); err != nil {
				c.logger.Warn("partition state change failed", "topic", t.Name, "partition", i, "why", "broker restarted", "err", err)
			}
		}
	}
}

// restarted lists the live leader and ISR members of ps registered after
// the state was written (zxid).
func restarted(ps meta.PartitionState, live map[int32]bool, epochs map[int32]int64, zxid int64) []int32 {
	var out []int32
	for _, r := range append([]int32{ps.Leader}, ps.ISR...) {
		if r >= 0 && live[r] && epochs[r] > zxid && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// applyRestart is apply for a state that names restarted brokers, decided
// on the freshly read state and its zxid.
func (c *Controller) applyRestart(es meta.EpochStore, topic string, part, epoch int32, live map[int32]bool, epochs map[int32]int64) error {
	var err error
	for range applyAttempts {
		var cur meta.PartitionState
		var ver int32
		var zxid int64
		cur, ver, zxid, err = es.PartitionStateZxid(topic, part)
		if err != nil {
			return err
		}
		gone := restarted(cur, live, epochs, zxid)
		if len(gone) == 0 {
			return nil
		}
		without := maps.Clone(live)
		for _, id := range gone {
			delete(without, id)
		}
		// Never unclean: the restarted broker is alive and has its log;
		// when nobody else is in sync it leads again on the next pass.
		next, why := decideWith(cur, without, nil, false, false)
		if why == "" {
			return nil
		}
		if _, err = c.store.SetPartitionState(topic, part, next, epoch, ver); errors.Is(err, meta.ErrBadVersion) {
			continue
		}
		if err != nil {
			return err
		}
		c.logger.Info("partition state changed", "topic", topic, "partition", part, "why", "broker restarted: "+why,
			"restarted", gone, "leader", next.Leader, "leader_epoch", next.LeaderEpoch, "isr", next.ISR)
		return nil
	}
	return fmt.Errorf("%w: %w", errLostRace, err)
}
