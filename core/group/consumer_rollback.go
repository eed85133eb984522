package group

// A consumer group heartbeat applies fully or not at all. It changes the
// group in memory under the group's lock and appends the records of the
// change before unlocking (so the log holds changes in order); the member
// is answered once they are committed. When the append fails the change
// is undone at once, before anyone could see it, and the member gets
// NOT_COORDINATOR (the log is not ours or is offline) or
// COORDINATOR_NOT_AVAILABLE, as Kafka answers; it retries with what it
// had. When the commit fails afterwards (the records are in the log but
// not committed: leadership moved, or the commit timed out) the member
// gets the same errors, and the change is undone too unless another write
// of the group was appended meanwhile: that one was built on it (and is
// committed only with it), so the group stays as it is and converges
// through the members' next heartbeats (a member that was not told its
// new epoch heartbeats with its previous one, which checkEpoch accepts).
//
// The log may then hold records of a change that was undone (a commit
// that timed out can still complete), and after an append failure the
// diff shadow (consumer_persist.go) no longer says what the log holds: so
// every failure marks the shadow dirty and the group's next write
// rewrites all of its records. A change made by a timer (a session or
// rebalance timeout) is not undone when its write fails, only rewritten
// with the next write: no member is waiting for its answer.

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

// cgSnap is a group's consumer state before a heartbeat changed it.
type cgSnap struct {
	cg                             *cgroup // a deep copy; nil: not a consumer group
	state                          State
	protocolType, protocol, leader string
	emptySince                     int64
}

// cgSnapshot copies g's consumer group state. g locked.
func (c *Coordinator) cgSnapshot(g *group) *cgSnap {
	s := &cgSnap{state: g.state, protocolType: g.protocolType, protocol: g.protocol, leader: g.leader, emptySince: g.emptySince}
	if g.cg != nil {
		s.cg = g.cg.clone()
	}
	return s
}

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for t, ps := range a {
		out[t] = append([]int32(nil), ps...)
	}
	return out
}

// clone copies cg's state; the log shadow and timers are not part of it.
func (cg *cgroup) clone() *cgroup {
	n := &cgroup{
		epoch: cg.epoch, targetEpoch: cg.targetEpoch, assignor: cg.assignor,
		members: make(map[string]*cmember, len(cg.members)),
		static:  make(map[string]string, len(cg.static)),
		target:  make(map[string]assignment, len(cg.target)),
		meta:    make(map[string]TopicMeta, len(cg.meta)),
		owner:   make(map[TopicPartition]string, len(cg.owner)),
		gone:    append([]string(nil), cg.gone...),
	}
	for id, m := range cg.members {
		n.members[id] = m.clone()
	}
	for k, v := range cg.static {
		n.static[k] = v
	}
	for k, v := range cg.target {
		n.target[k] = v.clone()
	}
	for k, v := range cg.meta {
		n.meta[k] = v
	}
	for k, v := range cg.owner {
		n.owner[k] = v
	}
	return n
}

func (m *cmember) clone() *cmember {
	n := *m
	n.topics = append([]string(nil), m.topics...)
	n.assigned, n.revoking = m.assigned.clone(), m.revoking.clone()
	n.since = make(map[TopicPartition]int32, len(m.since))
	for k, v := range m.since {
		n.since[k] = v
	}
	n.sessionTimer, n.revokeTimer = nil, nil
	return &n
}

// cgRevert puts g back as snapshot s says. Members that are in both keep
// their structs (their armed timers refer to them) with s's state; members
// the change removed come back with a new session timeout; members it
// added are dropped. written: the change's records may be in the log
// (its commit failed), so a change that made g a consumer group is undone
// in the log with tombstones. g locked.
func (c *Coordinator) cgRevert(g *group, s *cgSnap, written bool) {
	cur := g.cg
	g.state, g.protocolType, g.protocol, g.leader, g.emptySince = s.state, s.protocolType, s.protocol, s.leader, s.emptySince
	if s.cg == nil {
		g.cg = nil
		if cur == nil {
			return
		}
		for _, m := range cur.members {
			c.cgStopTimers(m)
		}
		if written && cur.shadow != nil {
			recs := consumerGroupTombstones(g.id)
			for id := range cur.shadow.members {
				for _, t := range []int16{recCurrentAssignment, recTargetMember, recMemberMetadata} {
					recs = append(recs, records.Record{Key: cgKey{Type: t, Group: g.id, MemberID: id}.encode()})
				}
			}
			c.background(g.id, "undo consumer group", c.store.appendRecords(g.id, recs))
		}
		c.logger.Info("consumer group change undone", "group", g.id, "now", "classic")
		return
	}
	n := s.cg
	if cur != nil {
		n.shadow, n.seq = cur.shadow, cur.seq
		n.gone = append(n.gone, cur.gone...)
		for id, live := range cur.members {
			rm, ok := n.members[id]
			if !ok {
				c.cgStopTimers(live)
				continue
			}
			sess, rev, te, re := live.sessionTimer, live.revokeTimer, live.timerEpoch, live.revokeEpoch
			*live = *rm
			live.sessionTimer, live.revokeTimer, live.timerEpoch, live.revokeEpoch = sess, rev, te, re
			n.members[id] = live
		}
	}
	g.cg = n
	if written && cur != nil && cur.epoch > n.epoch {
		// The undone epoch may still be committed: epochs never go
		// back (a load takes the largest), so the restored group moves
		// on to it with a recomputed target (the members' next
		// heartbeats bring them there).
		n.epoch = cur.epoch
		n.computeTarget()
	}
	for _, m := range n.sortedMembers() {
		if m.sessionTimer == nil {
			c.cgArmSession(g, m)
		}
		if m.state == memberUnrevoked {
			c.cgArmRevoke(g, m)
		} else {
			m.stopRevoke()
		}
	}
	n.invalidateShadow()
	c.logger.Info("consumer group change undone", "group", g.id, "epoch", n.epoch, "members", len(n.members))
}

// invalidateShadow forgets what the log is known to hold: the next write
// rewrites every record of the group, and tombstones members it may hold
// that are gone.
func (cg *cgroup) invalidateShadow() {
	old := cg.shadow
	ns := &cgShadow{members: map[string]*memberShadow{}}
	if old != nil {
		for id := range old.members {
			ns.members[id] = &memberShadow{}
			if cg.members[id] == nil {
				cg.gone = append(cg.gone, id)
			}
		}
	}
	// The log may hold records of every member we know: a member
	// leaving later needs tombstones.
	for id := range cg.members {
		ns.members[id] = &memberShadow{}
	}
	cg.shadow = ns
	cg.dirty = true
}

// cgWriteFailed handles a consumer group write whose commit failed (g
// unlocked): the heartbeat's change is undone if nothing was appended
// since, else the next write rewrites the group.
func (c *Coordinator) cgWriteFailed(w cgWrite) {
	g := w.g
	if g == nil {
		return
	}
	g.lock()
	defer g.unlock()
	if g.state == Dead {
		return // another coordinator reads the group from the log
	}
	if w.snap != nil && g.cg == w.cg && g.cg != nil && g.cg.seq == w.seq {
		c.cgRevert(g, w.snap, true)
		return
	}
	if g.cg != nil {
		g.cg.invalidateShadow()
	}
}

// persistErrorCode is the error a member gets for a failed write, as
// Kafka maps them: the log is not ours (or is offline) NOT_COORDINATOR,
// else COORDINATOR_NOT_AVAILABLE (timeouts, no partition).
func persistErrorCode(err error) int16 {
	if errors.Is(err, partition.ErrNotLeader) || errors.Is(err, partition.ErrStorage) || errors.Is(err, partition.ErrStaleEpoch) {
		return kerr.NotCoordinator.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// cgKeepalive reports whether a heartbeat of member m (at its epoch)
// changes nothing in the group: m is stable at the group's target, the
// request repeats what m has, and the subscribed topics' metadata is
// unchanged. Such a heartbeat (the usual one) takes no snapshot: copying
// a large group on every heartbeat would cost more than the heartbeat.
// g locked.
func (c *Coordinator) cgKeepalive(g *group, m *cmember, req ConsumerHeartbeatRequest, topics map[string]TopicMeta) bool {
	cg := g.cg
	switch {
	case cg.targetEpoch != cg.epoch || m.epoch != cg.targetEpoch || m.state != memberStable:
		return false
	case req.ClientID != m.clientID || req.ClientHost != m.clientHost:
		return false
	case req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID):
		return false
	case req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID):
		return false
	case req.RebalanceTimeout >= 0 && req.RebalanceTimeout != m.rebalanceTimeout:
		return false
	case req.TopicRegex != nil && *req.TopicRegex != m.regex:
		return false
	case req.ServerAssignor != nil && *req.ServerAssignor != m.assignor:
		return false
	}
	if req.TopicNames != nil {
		names := append([]string(nil), req.TopicNames...)
		sort.Strings(names)
		if !equalStrings(names, m.topics) {
			return false
		}
	}
	return sameMeta(cg.subscribedMeta(topics, c.cfg.PartitionRacks), cg.meta)
}
