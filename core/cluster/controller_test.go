package cluster

import (
	"slices"
	"testing"

	"github.com/sluicemq/sluice/core/meta"
)

// TestDecide is the controller's decision table, deterministic and
// independent of ZooKeeper.
func TestDecide(t *testing.T) {
	live := func(ids ...int32) map[int32]bool {
		m := map[int32]bool{}
		for _, id := range ids {
			m[id] = true
		}
		return m
	}
	st := func(leader, epoch int32, isr ...int32) meta.PartitionState {
		return meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader, LeaderEpoch: epoch}
	}
	for _, tc := range []struct {
		name      string
		in        meta.PartitionState
		live      map[int32]bool
		unclean   bool
		preferred bool
		want      meta.PartitionState
		changed   bool
	}{
		{"healthy", st(1, 0, 1, 2, 3), live(1, 2, 3), false, true, st(1, 0, 1, 2, 3), false},
		{"leader dies: next ISR member in replica order", st(1, 4, 1, 2, 3), live(2, 3), false, false, st(2, 5, 2, 3), true},
		{"leader dies, only out-of-sync replica alive: offline", st(1, 4, 1, 2), live(3), false, false, st(-1, 5, 1, 2), true},
		{"same, unclean allowed", st(1, 4, 1, 2), live(3), true, false, st(3, 5, 3), true},
		{"offline partition: ISR member returns", st(-1, 5, 1, 2), live(2, 3), false, false, st(2, 6, 2), true},
		{"follower dies: ISR shrinks, same epoch", st(1, 4, 1, 2, 3), live(1, 2), false, false, st(1, 4, 1, 2), true},
		{"preferred replica back in sync", st(2, 5, 1, 2, 3), live(1, 2, 3), false, true, st(1, 6, 1, 2, 3), true},
		{"preferred replica alive but not in sync", st(2, 5, 2, 3), live(1, 2, 3), false, true, st(2, 5, 2, 3), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := decide(tc.in, tc.live, tc.unclean, tc.preferred)
			if (why != "") != tc.changed {
				t.Fatalf("changed = %q, want changed=%v", why, tc.changed)
			}
			if got.Leader != tc.want.Leader || got.LeaderEpoch != tc.want.LeaderEpoch || !slices.Equal(got.ISR, tc.want.ISR) {
				t.Fatalf("got leader %d epoch %d isr %v, want leader %d epoch %d isr %v",
					got.Leader, got.LeaderEpoch, got.ISR, tc.want.Leader, tc.want.LeaderEpoch, tc.want.ISR)
			}
		})
	}
}
