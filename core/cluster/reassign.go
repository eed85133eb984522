package cluster

import (
	"errors"
	"slices"

	"github.com/sluicemq/sluice/core/meta"
)

// reassignStore is what the controller needs to drive partition
// reassignments; meta.ZK implements it.
type reassignStore interface {
	ReassignmentsVersion() ([]meta.Reassignment, int32, error)
	CommitReassignment(meta.ReassignStep) error
}

// reassignPlan is one step of a reassignment.
type reassignPlan struct {
	replicas []int32              // the new assignment; nil keeps it
	state    *meta.PartitionState // the new leader/ISR; nil keeps it
	entry    *meta.Reassignment   // the entry afterwards; nil drops it
	why      string
}

// planReassign decides r's next step from the partition's current state
// (Kafka's KIP-455 phases). ok is false while it has to wait for target
// replicas to join the ISR.
//
//  1. start: the assignment grows to target ++ (original − target) and the
//     original set is recorded; the added replicas open the partition and
//     catch up from the leader as followers;
//  2. once every target replica is in the ISR: leadership moves to the
//     first in-sync target replica if the leader is being removed, the
//     ISR and assignment shrink to the target and the entry is dropped;
//     removed replicas delete their copy when they see the assignment;
//  3. a cancellation restores the original set (ISR and leader restricted
//     to it) and drops the entry. A new target for a started move keeps
//     its original set and regrows the assignment from it.
func planReassign(r meta.Reassignment, cur meta.PartitionState, live map[int32]bool) (reassignPlan, bool) {
	plan, ok := planReassignStep(r, cur, live)
	if ok {
		plan = bumpEpoch(plan, cur)
	}
	return plan, ok
}

// bumpEpoch gives a step that rewrites the replica set a new leader epoch
// when the partition has a leader, as Kafka's controller does for every
// LeaderAndIsr of a reassignment (updateLeaderEpochAndSendRequest at the
// start, moveReassignedPartitionLeaderIfRequired at the end, also when
// the leader stays): a replica added or removed under the old epoch is
// fenced (a request naming the old epoch is FENCED_LEADER_EPOCH), clients
// holding older metadata refresh it, and followers re-check where their
// logs diverge. A step that already moved leadership has its bump.
func bumpEpoch(plan reassignPlan, cur meta.PartitionState) reassignPlan {
	if plan.replicas == nil || cur.Leader < 0 {
		return plan
	}
	if plan.state == nil {
		st := cur
		st.Replicas = slices.Clone(plan.replicas)
		st.ISR = slices.Clone(cur.ISR)
		plan.state = &st
	}
	if plan.state.Leader >= 0 && plan.state.LeaderEpoch == cur.LeaderEpoch {
		plan.state.LeaderEpoch++
	}
	return plan
}

// planReassignStep is planReassign before the epoch bump.
func planReassignStep(r meta.Reassignment, cur meta.PartitionState, live map[int32]bool) (reassignPlan, bool) {
	// Only a hand-written (or another tool's) ZooKeeper entry has an
	// invalid replica set (AlterPartitionReassignments refuses them):
	// carrying it out would leave the partition with no or duplicate
	// replicas. Kafka's controller skips such a reassignment: one not
	// started is dropped, a started one with a bad new target rolls back
	// to its original set, and one whose original set is bad is dropped
	// where it stands.
	switch {
	case r.Started() && !validTarget(r.Original):
		return reassignPlan{why: "invalid original replicas dropped"}, true
	case r.Target != nil && !validTarget(r.Target) && !r.Started():
		return reassignPlan{why: "invalid target dropped"}, true
	case r.Target != nil && !validTarget(r.Target):
		r.Target = nil // cancelled, below
	}
	switch {
	case r.Target == nil && !r.Started():
		return reassignPlan{why: "cancelled before start"}, true
	case r.Target == nil:
		st := restrictState(cur, r.Original, live)
		return reassignPlan{replicas: slices.Clone(r.Original), state: st, why: "cancelled"}, true
	case !r.Started() && sameSet(r.Target, cur.Replicas):
		// Only the order changes: done at once.
		return reassignPlan{replicas: slices.Clone(r.Target), why: "completed"}, true
	case !r.Started():
		e := r
		e.Original = slices.Clone(cur.Replicas)
		return reassignPlan{replicas: expanded(r.Target, cur.Replicas), entry: &e, why: "started"}, true
	}
	want := expanded(r.Target, r.Original)
	if !slices.Equal(cur.Replicas, want) {
		// The target changed while moving (or the order was disturbed):
		// regrow from the original set, dropping replicas of the old
		// target that the new one does not want.
		e := r
		return reassignPlan{replicas: want, state: restrictState(cur, want, live), entry: &e, why: "retargeted"}, true
	}
	for _, id := range r.Target {
		if !slices.Contains(cur.ISR, id) {
			return reassignPlan{}, false // still catching up
		}
	}
	return reassignPlan{replicas: slices.Clone(r.Target), state: restrictState(cur, r.Target, live), why: "completed"}, true
}

// validTarget reports whether a target replica set is non-empty with
// distinct, non-negative broker ids.
func validTarget(target []int32) bool {
	if len(target) == 0 {
		return false
	}
	for i, id := range target {
		if id < 0 || slices.Contains(target[:i], id) {
			return false
		}
	}
	return true
}

// expanded is target ++ (original − target): Kafka's replica set while
// moving, the target's preferred leader first.
func expanded(target, original []int32) []int32 {
	out := slices.Clone(target)
	for _, id := range original {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// restrictState is cur with its ISR limited to replicas and, if the
// leader is not among them, leadership moved to the first live in-sync one
// (a new leader epoch) or offline if there is none. nil when nothing
// changes.
func restrictState(cur meta.PartitionState, replicas []int32, live map[int32]bool) *meta.PartitionState {
	next := cur
	next.Replicas = slices.Clone(replicas)
	next.ISR = nil
	for _, id := range cur.ISR {
		if slices.Contains(replicas, id) {
			next.ISR = append(next.ISR, id)
		}
	}
	if cur.Leader < 0 || !slices.Contains(replicas, cur.Leader) {
		next.Leader = -1
		for _, id := range replicas {
			if live[id] && slices.Contains(next.ISR, id) {
				next.Leader = id
				break
			}
		}
		if next.Leader != cur.Leader {
			next.LeaderEpoch = cur.LeaderEpoch + 1
		}
	}
	if len(next.ISR) == 0 {
		// Nobody in sync is left: keep the leader's last ISR
		// members that stay, or none; the controller waits for one.
		next.ISR = []int32{}
	}
	if next.Leader == cur.Leader && slices.Equal(next.ISR, cur.ISR) {
		return nil
	}
	return &next
}

// reassignPass advances every reassignment that can move now, one
// transaction per step. Each step is compare-and-set on the list, the
// assignment and the partition state, so a concurrent request or ISR
// change makes it re-read and decide again.
func (c *Controller) reassignPass(epoch int32) {
	rs, ok := c.store.(reassignStore)
	if !ok {
		return
	}
	// Each commit changes the list's version: re-read after each, and
	// stop after a bounded number of steps (the next pass goes on).
	for range 64 {
		list, ver, err := rs.ReassignmentsVersion()
		if err != nil {
			c.logger.Warn("reading reassignments", "err", err)
			return
		}
		if len(list) == 0 {
			return
		}
		live := map[int32]bool{}
		for _, b := range c.store.Brokers() {
			live[b.ID] = true
		}
		progressed := false
		for i, r := range list {
			step := meta.ReassignStep{Topic: r.Topic, Partition: r.Partition, ControllerEpoch: epoch}
			var plan reassignPlan
			cur, sver, err := c.store.PartitionStateVersion(r.Topic, r.Partition)
			switch {
			case errors.Is(err, meta.ErrUnknownTopic) || errors.Is(err, meta.ErrUnknownPartition):
				plan = reassignPlan{why: "partition gone"} // drop the entry only
			case err != nil:
				c.logger.Warn("reading partition state for reassignment", "topic", r.Topic, "partition", r.Partition, "err", err)
				continue
			default:
				var ok bool
				if plan, ok = planReassign(r, cur, live); !ok {
					continue
				}
				step.From, step.StateVersion = cur.Replicas, sver
			}
			step.Replicas, step.State = plan.replicas, plan.state
			step.List, step.ListVersion = slices.Clone(list), ver
			if plan.entry == nil {
				step.List = slices.Delete(step.List, i, i+1)
			} else {
				step.List[i] = *plan.entry
			}
			err = rs.CommitReassignment(step)
			if errors.Is(err, meta.ErrNotController) {
				return
			}
			if err != nil && !errors.Is(err, meta.ErrBadVersion) {
				c.logger.Warn("reassignment step failed", "topic", r.Topic, "partition", r.Partition, "step", plan.why, "err", err)
				continue
			}
			if err == nil {
				attrs := []any{"topic", r.Topic, "partition", r.Partition, "step", plan.why, "target", r.Target}
				if plan.replicas != nil {
					attrs = append(attrs, "replicas", plan.replicas)
				}
				if plan.state != nil {
					attrs = append(attrs, "leader", plan.state.Leader, "leader_epoch", plan.state.LeaderEpoch, "isr", plan.state.ISR)
				}
				c.logger.Info("partition reassignment", attrs...)
			}
			progressed = true
			break // the list changed (or raced): re-read it
		}
		if !progressed {
			return
		}
	}
}
