package meta

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestZKReassignments: requests merge into /admin/reassign_partitions,
// cancellations drop unstarted moves and mark started ones, and a step
// commits the assignment, the state and the list in one transaction that
// a stale replica set, state version or controller epoch fails whole.
func TestZKReassignments(t *testing.T) {
	connect := testConnect(t)
	z := openTestZK(t, connect, 1, ZKOptions{})
	other := openTestZK(t, connect, 2, ZKOptions{})
	if _, err := z.CreateTopic(Topic{Name: "t", Partitions: []PartitionState{
		{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1},
		{Replicas: []int32{2, 1}, ISR: []int32{2, 1}, Leader: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	if rs, err := z.Reassignments(); err != nil || len(rs) != 0 {
		t.Fatalf("initially %v, %v", rs, err)
	}
	errs := other.AlterReassignments([]Reassignment{
		{Topic: "t", Partition: 0, Target: []int32{2, 3}},
		{Topic: "t", Partition: 1, Target: []int32{3, 1}},
		{Topic: "t", Partition: 1}, // cancels the line above: not started
		{Topic: "t", Partition: 5}, // nothing to cancel
	})
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.Is(errs[3], ErrNoReassignment) {
		t.Fatalf("alter errors %v", errs)
	}
	list, ver, err := z.ReassignmentsVersion()
	if err != nil || len(list) != 1 || list[0].Topic != "t" || list[0].Partition != 0 || !slices.Equal(list[0].Target, []int32{2, 3}) || list[0].Started() {
		t.Fatalf("list %+v, %v", list, err)
	}

	ctx := context.Background()
	epoch, err := z.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, sver, err := z.PartitionStateVersion("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	started := []Reassignment{{Topic: "t", Partition: 0, Target: []int32{2, 3}, Original: []int32{1, 2}}}
	step := ReassignStep{Topic: "t", Partition: 0, From: []int32{1, 2}, Replicas: []int32{2, 3, 1},
		StateVersion: sver, ControllerEpoch: epoch, List: started, ListVersion: ver}

	// A stale replica set writes nothing.
	stale := step
	stale.From = []int32{2, 1}
	if err := z.CommitReassignment(stale); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale From: %v, want ErrBadVersion", err)
	}
	// Nor does a foreign controller epoch.
	foreign := step
	foreign.ControllerEpoch = epoch + 7
	if err := z.CommitReassignment(foreign); !errors.Is(err, ErrNotController) {
		t.Fatalf("foreign epoch: %v, want ErrNotController", err)
	}
	if err := z.CommitReassignment(step); err != nil {
		t.Fatalf("start: %v", err)
	}
	waitUntil(t, other, "the grown replica set", func() bool {
		got, _ := other.Topic("t")
		return slices.Equal(got.Partitions[0].Replicas, []int32{2, 3, 1})
	})
	list, ver, _ = z.ReassignmentsVersion()
	if len(list) != 1 || !slices.Equal(list[0].Original, []int32{1, 2}) {
		t.Fatalf("after start %+v", list)
	}
	// A cancellation now only marks it for the controller.
	if errs := other.AlterReassignments([]Reassignment{{Topic: "t", Partition: 0}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	list, ver, _ = z.ReassignmentsVersion()
	if len(list) != 1 || list[0].Target != nil || !slices.Equal(list[0].Original, []int32{1, 2}) {
		t.Fatalf("after cancel %+v", list)
	}

	// The roll back: a stale state version fails the whole step.
	next := st
	next.ISR, next.Replicas = []int32{1, 2}, []int32{1, 2}
	back := ReassignStep{Topic: "t", Partition: 0, From: []int32{2, 3, 1}, Replicas: []int32{1, 2},
		State: &next, StateVersion: sver + 5, ControllerEpoch: epoch, ListVersion: ver}
	if err := z.CommitReassignment(back); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale state version: %v, want ErrBadVersion", err)
	}
	if got, _ := z.Topic("t"); !slices.Equal(got.Partitions[0].Replicas, []int32{2, 3, 1}) {
		t.Fatalf("a failed step changed the replicas to %v", got.Partitions[0].Replicas)
	}
	back.StateVersion = sver
	if err := z.CommitReassignment(back); err != nil {
		t.Fatalf("roll back: %v", err)
	}
	if list, ver, err := z.ReassignmentsVersion(); err != nil || len(list) != 0 || ver != -1 {
		t.Fatalf("after the last step the node should be gone: %+v version %d, %v", list, ver, err)
	}
	waitUntil(t, other, "the original replica set", func() bool {
		got, _ := other.Topic("t")
		return slices.Equal(got.Partitions[0].Replicas, []int32{1, 2}) && got.Partitions[0].Version == sver+1
	})
}
