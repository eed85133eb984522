package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta"
)

func TestPlanReassign(t *testing.T) {
	live := map[int32]bool{0: true, 1: true, 2: true, 3: true}
	st := func(replicas, isr []int32, leader, epoch int32) meta.PartitionState {
		return meta.PartitionState{Replicas: replicas, ISR: isr, Leader: leader, LeaderEpoch: epoch}
	}
	for _, tc := range []struct {
		name  string
		r     meta.Reassignment
		cur   meta.PartitionState
		wait  bool
		why   string
		repl  []int32 // nil: unchanged
		state *meta.PartitionState
		entry *meta.Reassignment // nil: dropped
	}{
		{name: "start grows to target ++ removed",
			r:   meta.Reassignment{Target: []int32{1, 2, 3}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4),
			why: "started", repl: []int32{1, 2, 3, 0},
			state: &meta.PartitionState{Replicas: []int32{1, 2, 3, 0}, ISR: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 5},
			entry: &meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{0, 1, 2}}},
		{name: "waits while an added replica is out of the ISR",
			r:    meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{0, 1, 2}},
			cur:  st([]int32{1, 2, 3, 0}, []int32{0, 1, 2}, 0, 4),
			wait: true},
		{name: "completes: leader moved off the removed replica, new epoch",
			r:   meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{0, 1, 2, 3}, 0, 4),
			why: "completed", repl: []int32{1, 2, 3},
			state: &meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5}},
		{name: "completes: a kept leader gets a new epoch too (the set changed)",
			r:   meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{0, 1, 2, 3}, 2, 4),
			why: "completed", repl: []int32{1, 2, 3},
			state: &meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 2, LeaderEpoch: 5}},
		{name: "an offline partition's set changes without an epoch",
			r:   meta.Reassignment{Target: []int32{1, 2, 3}},
			cur: st([]int32{0, 1, 2}, []int32{0}, -1, 4),
			why: "started", repl: []int32{1, 2, 3, 0},
			entry: &meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{0, 1, 2}}},
		{name: "new leader skips dead target replicas",
			r:   meta.Reassignment{Target: []int32{4, 2, 3}, Original: []int32{0, 2, 3}},
			cur: st([]int32{4, 2, 3, 0}, []int32{0, 2, 3, 4}, 0, 1),
			why: "completed", repl: []int32{4, 2, 3},
			state: &meta.PartitionState{Replicas: []int32{4, 2, 3}, ISR: []int32{2, 3, 4}, Leader: 2, LeaderEpoch: 2}},
		{name: "cancel rolls back to the original set",
			r:   meta.Reassignment{Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{0, 1, 2, 3}, 0, 4),
			why: "cancelled", repl: []int32{0, 1, 2},
			state: &meta.PartitionState{Replicas: []int32{0, 1, 2}, ISR: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 5}},
		{name: "cancel moves leadership back into the original set",
			r:   meta.Reassignment{Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{1, 3}, 3, 6),
			why: "cancelled", repl: []int32{0, 1, 2},
			state: &meta.PartitionState{Replicas: []int32{0, 1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 7}},
		{name: "cancel before the start only drops the entry",
			r:   meta.Reassignment{},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4),
			why: "cancelled before start"},
		{name: "same set in another order completes at once",
			r:   meta.Reassignment{Target: []int32{2, 0, 1}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4),
			why: "completed", repl: []int32{2, 0, 1},
			state: &meta.PartitionState{Replicas: []int32{2, 0, 1}, ISR: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 5}},
		{name: "a new target regrows from the original set",
			r:   meta.Reassignment{Target: []int32{1, 2, 0}, Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{0, 1, 2}, 0, 4),
			why: "retargeted", repl: []int32{1, 2, 0},
			state: &meta.PartitionState{Replicas: []int32{1, 2, 0}, ISR: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 5},
			entry: &meta.Reassignment{Target: []int32{1, 2, 0}, Original: []int32{0, 1, 2}}},
		// Invalid entries (a hand-written ZooKeeper node) never become a
		// partition's replica set.
		{name: "an empty target is dropped", r: meta.Reassignment{Target: []int32{}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4), why: "invalid target dropped"},
		{name: "a duplicate target is dropped", r: meta.Reassignment{Target: []int32{1, 1}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4), why: "invalid target dropped"},
		{name: "a negative replica is dropped", r: meta.Reassignment{Target: []int32{1, -2}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4), why: "invalid target dropped"},
		{name: "a bad new target of a started move rolls back",
			r:   meta.Reassignment{Target: []int32{}, Original: []int32{0, 1, 2}},
			cur: st([]int32{1, 2, 3, 0}, []int32{0, 1, 2, 3}, 0, 4),
			why: "cancelled", repl: []int32{0, 1, 2},
			state: &meta.PartitionState{Replicas: []int32{0, 1, 2}, ISR: []int32{0, 1, 2}, Leader: 0, LeaderEpoch: 5}},
		{name: "a bad original set is dropped where it stands",
			r:   meta.Reassignment{Target: []int32{1, 2, 3}, Original: []int32{}},
			cur: st([]int32{0, 1, 2}, []int32{0, 1, 2}, 0, 4), why: "invalid original replicas dropped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, ok := planReassign(tc.r, tc.cur, live)
			if ok == tc.wait {
				t.Fatalf("ok = %v, want %v", ok, !tc.wait)
			}
			if tc.wait {
				return
			}
			if plan.why != tc.why || !slices.Equal(plan.replicas, tc.repl) {
				t.Fatalf("plan %q replicas %v, want %q %v", plan.why, plan.replicas, tc.why, tc.repl)
			}
			switch {
			case (plan.state == nil) != (tc.state == nil):
				t.Fatalf("state %+v, want %+v", plan.state, tc.state)
			case plan.state != nil && (!slices.Equal(plan.state.ISR, tc.state.ISR) || plan.state.Leader != tc.state.Leader ||
				plan.state.LeaderEpoch != tc.state.LeaderEpoch || !slices.Equal(plan.state.Replicas, tc.state.Replicas)):
				t.Fatalf("state %+v, want %+v", *plan.state, *tc.state)
			}
			switch {
			case (plan.entry == nil) != (tc.entry == nil):
				t.Fatalf("entry %+v, want %+v", plan.entry, tc.entry)
			case plan.entry != nil && (!slices.Equal(plan.entry.Target, tc.entry.Target) || !slices.Equal(plan.entry.Original, tc.entry.Original)):
				t.Fatalf("entry %+v, want %+v", *plan.entry, *tc.entry)
			}
		})
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	th := NewThrottle(1000)
	th.now = func() time.Time { return now }
	th.last = now
	if !th.Allow() {
		t.Fatal("a full bucket refuses")
	}
	th.Take(1500) // one fetch may overdraw: 500 bytes of debt
	if th.Allow() {
		t.Fatal("allowed in debt")
	}
	now = now.Add(400 * time.Millisecond) // +400: still 100 in debt
	if th.Allow() {
		t.Fatal("allowed 100 bytes in debt")
	}
	now = now.Add(200 * time.Millisecond) // +200: 100 tokens
	if !th.Allow() {
		t.Fatal("refused with 100 tokens")
	}
	now = now.Add(time.Hour) // capped at one second's worth
	th.Take(1000)
	if th.Allow() {
		t.Fatal("a quiet hour banked more than one second of tokens")
	}
	if got := th.ChunkBytes(); got != 16<<10 {
		t.Fatalf("chunk %d, want the 16 KiB floor", got)
	}
	if got := NewThrottle(1 << 30).ChunkBytes(); got != 4<<20 {
		t.Fatalf("chunk %d, want the 4 MiB cap", got)
	}
	var unlimited *Throttle
	if !unlimited.Allow() || !NewThrottle(0).Allow() || unlimited.Limited() {
		t.Fatal("no throttle must allow everything")
	}
	unlimited.Take(1 << 30)
}

func TestThrottledReplica(t *testing.T) {
	for _, tc := range []struct {
		config       string
		part, broker int32
		want         bool
	}{
		{"", 0, 1, false},
		{"*", 7, 3, true},
		{"0:4", 0, 4, true},
		{"0:4", 0, 3, false},
		{"0:4", 1, 4, false},
		{" 1:2 , 0:4 ", 0, 4, true},
		{"0-4", 0, 4, false},
	} {
		if got := ThrottledReplica(tc.config, tc.part, tc.broker); got != tc.want {
			t.Errorf("ThrottledReplica(%q, %d, %d) = %v, want %v", tc.config, tc.part, tc.broker, got, tc.want)
		}
	}
}
