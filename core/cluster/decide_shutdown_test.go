package cluster

import (
	"errors"
	"slices"
	"testing"

	"github.com/sluicemq/sluice/core/meta"
)

// TestDecideControlledShutdown: brokers in controlled shutdown hand over
// leadership to another live ISR member and leave ISRs, unless nobody
// else can take over; they are not picked while others can be.
func TestDecideControlledShutdown(t *testing.T) {
	set := func(ids ...int32) map[int32]bool {
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
		name    string
		in      meta.PartitionState
		live    map[int32]bool
		down    map[int32]bool
		pref    bool
		want    meta.PartitionState
		changed bool
	}{
		{name: "leader stopping: next ISR member leads, ISR without it", in: st(1, 3, 1, 2, 3), live: set(1, 2, 3), down: set(1), want: st(2, 4, 2, 3), changed: true},
		{name: "leader stopping, next replica out of sync", in: st(1, 3, 1, 3), live: set(1, 2, 3), down: set(1), want: st(3, 4, 3), changed: true},
		{name: "leader stopping, alone in the ISR: stays", in: st(1, 3, 1), live: set(1, 2, 3), down: set(1), want: st(1, 3, 1)},
		{name: "follower stopping: leaves the ISR, same epoch", in: st(1, 3, 1, 2, 3), live: set(1, 2, 3), down: set(2), want: st(1, 3, 1, 3), changed: true},
		{name: "leader dead: a stopping broker is skipped", in: st(1, 3, 1, 2, 3), live: set(2, 3), down: set(2), want: st(3, 4, 2, 3), changed: true},
		{name: "leader dead: a stopping broker when nobody else", in: st(1, 3, 1, 2), live: set(2, 3), down: set(2), want: st(2, 4, 2), changed: true},
		{name: "no preferred election to a stopping broker", in: st(2, 3, 2, 3), live: set(1, 2, 3), down: set(1), pref: true, want: st(2, 3, 2, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := decideWith(tc.in, tc.live, tc.down, false, tc.pref)
			if (why != "") != tc.changed {
				t.Fatalf("why = %q, want changed=%v", why, tc.changed)
			}
			if got.Leader != tc.want.Leader || got.LeaderEpoch != tc.want.LeaderEpoch || !slices.Equal(got.ISR, tc.want.ISR) {
				t.Fatalf("got leader %d epoch %d isr %v, want leader %d epoch %d isr %v",
					got.Leader, got.LeaderEpoch, got.ISR, tc.want.Leader, tc.want.LeaderEpoch, tc.want.ISR)
			}
		})
	}
}

// TestRequestedElections: ElectLeaders' decisions.
func TestRequestedElections(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true}
	st := func(leader int32, isr ...int32) meta.PartitionState {
		return meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader, LeaderEpoch: 5}
	}
	if got, err := electPreferred(st(2, 1, 2, 3), live, nil); err != nil || got.Leader != 1 || got.LeaderEpoch != 6 {
		t.Fatalf("preferred back in sync: %+v %v", got, err)
	}
	if _, err := electPreferred(st(1, 1, 2, 3), live, nil); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("already preferred: %v", err)
	}
	if _, err := electPreferred(st(2, 2, 3), live, nil); !errors.Is(err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred out of sync: %v", err)
	}
	if _, err := electPreferred(st(2, 1, 2, 3), live, map[int32]bool{1: true}); !errors.Is(err, ErrPreferredLeaderNotAvailable) {
		t.Fatalf("preferred shutting down: %v", err)
	}
	if _, err := electUnclean(st(2, 2), live, nil); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	if got, err := electUnclean(st(-1, 2), map[int32]bool{3: true}, nil); err != nil || got.Leader != 3 || !slices.Equal(got.ISR, []int32{3}) {
		t.Fatalf("unclean, only an out-of-sync replica alive: %+v %v", got, err)
	}
	if _, err := electUnclean(st(-1, 2), map[int32]bool{}, nil); !errors.Is(err, ErrEligibleLeadersNotAvailable) {
		t.Fatalf("unclean, nobody alive: %v", err)
	}
}
