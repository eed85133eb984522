package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/records"
)

// Offsets retention, Kafka 2.1+ (KIP-211): a group's committed offsets
// expire offsets.retention.minutes after the group became Empty; while a
// group has members they are kept (except, as Kafka does, offsets of
// topics a Stable consumer group no longer subscribes to, which age from
// their commit). A "simple" group that never had members (standalone
// commits, tools) ages each offset from its own commit. Expired offsets
// are tombstoned in __consumer_offsets, so they stay gone after a restart
// and compaction drops them; an Empty group left with nothing is Dead and
// its metadata tombstoned too (Kafka's cleanupGroupMetadata).
//
// One deliberate difference: an offset committed after the group became
// Empty (a tool resetting offsets) ages from that commit, not from when
// the group emptied, so a reset is never expired the moment it is made.

// startRetention arms the periodic retention pass.
func (c *Coordinator) startRetention() {
	if c.cfg.OffsetsRetentionCheckInterval <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.retentionTimer = c.cfg.Clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.ExpireOffsets()
		c.startRetention()
	})
}

// ExpireOffsets runs one retention pass over the groups this coordinator
// serves: it returns how many offsets expired and how many groups were
// removed. The pass runs every offsets.retention.check.interval.ms.
func (c *Coordinator) ExpireOffsets() (offsets, groups int) {
	start := time.Now()
	now := c.cfg.Clock.Now().UnixMilli()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	for _, g := range c.snapshot() {
		n, removed := c.expireGroup(g, now, retention)
		offsets += n
		if removed {
			groups++
		}
	}
	if offsets > 0 || groups > 0 {
		c.logger.Info("offsets retention pass", "expired_offsets", offsets, "removed_groups", groups, "took", time.Since(start))
	}
	return offsets, groups
}

// expireGroup expires g's old offsets and removes g once it is Empty with
// nothing left.
func (c *Coordinator) expireGroup(g *group, now, retention int64) (int, bool) {
	g.lock()
	if g.state == Dead {
		g.unlock()
		return 0, false
	}
	expired := g.expiredOffsets(now, retention)
	remove := g.state == Empty && len(g.members) == 0 && len(g.offsets) == len(expired) &&
		!g.hasPendingTxnOffsets() && len(g.inflight) == 0
	if len(expired) == 0 && !remove {
		g.unlock()
		return 0, false
	}
	recs := make([]records.Record, 0, len(expired)+1)
	for _, tp := range expired {
		recs = append(recs, records.Record{Key: offsetKey(g.id, tp)})
	}
	if remove {
		// Written even for simple groups that never had metadata: the
		// replay then drops the group instead of keeping an empty one.
		recs = append(recs, records.Record{Key: groupKey(g.id)})
		if g.cg != nil {
			recs = append(recs, consumerGroupTombstones(g.id)...)
		}
		g.state = Dead
		c.mu.Lock()
		if c.groups[g.id] == g {
			delete(c.groups, g.id)
		}
		c.mu.Unlock()
	}
	w := c.store.appendRecords(g.id, recs)
	if remove {
		// Nobody can reach a Dead group's offsets any more; a new
		// group of the same name starts from nothing.
		for _, tp := range expired {
			delete(g.offsets, tp)
		}
	}
	g.unlock()
	if err := w.wait(); err != nil {
		c.logger.Error("expire offsets", "group", g.id, "err", err)
		return 0, false
	}
	if remove {
		c.logger.Debug("removed expired group", "group", g.id, "expired_offsets", len(expired))
		return len(expired), true
	}
	g.lock()
	g.applyDeletes(expired, w.pos())
	g.unlock()
	c.logger.Debug("expired group offsets", "group", g.id, "expired_offsets", len(expired))
	return len(expired), false
}

// expiredOffsets lists the offsets of g whose retention has passed at now
// (ms). Offsets with a commit in flight or a pending transactional commit
// are kept. g locked.
func (g *group) expiredOffsets(now, retention int64) []TopicPartition {
	var base func(tp TopicPartition, o Offset) (int64, bool)
	switch {
	case len(g.members) == 0 && g.protocolType == "":
		// A simple group: each offset ages from its commit.
		base = func(_ TopicPartition, o Offset) (int64, bool) { return o.CommitTime, true }
	case g.state == Empty && len(g.members) == 0:
		base = func(_ TopicPartition, o Offset) (int64, bool) {
			if g.emptySince <= 0 {
				// Group metadata without a state timestamp: the
				// commit is all there is to go by (as Kafka).
				return o.CommitTime, true
			}
			return max(g.emptySince, o.CommitTime), true
		}
	case g.state == Stable && g.protocolType == "consumer":
		subscribed, known := g.subscribedTopics()
		if !known {
			return nil
		}
		base = func(tp TopicPartition, o Offset) (int64, bool) {
			return o.CommitTime, !subscribed[tp.Topic]
		}
	default:
		return nil
	}
	var out []TopicPartition
	for tp, o := range g.offsets {
		b, ok := base(tp, o)
		if !ok || now-b < retention || g.inflight[tp] > 0 || g.pendingTxnOffset(tp) {
			continue
		}
		out = append(out, tp)
	}
	return out
}

// subscribedTopics is the union of the members' consumer subscriptions;
// false if a member's subscription is unreadable (then nothing is known
// to be unsubscribed, and nothing expires). g locked.
func (g *group) subscribedTopics() (map[string]bool, bool) {
	if g.cg != nil {
		return g.cg.subscribedTopics(), true
	}
	out := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.metadataFor(g.protocol)) != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out, true
}

func (g *group) hasPendingTxnOffsets() bool {
	for _, pend := range g.txnOffsets {
		if len(pend) > 0 {
			return true
		}
	}
	return false
}

func (g *group) pendingTxnOffset(tp TopicPartition) bool {
	for _, pend := range g.txnOffsets {
		if _, ok := pend[tp]; ok {
			return true
		}
	}
	return false
}

// emptyNow records that g became Empty at now (the base of its offsets'
// retention). g locked.
func (g *group) emptyNow(now time.Time) { g.emptySince = now.UnixMilli() }
