package group

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

func TestConsumerRecordsRoundTrip(t *testing.T) {
	inst, rack, re, asg := "i-1", "r-1", "t.*", "range"
	id1, id2 := topicID("t"), topicID("u")
	for _, k := range []cgKey{
		{Type: recConsumerGroup, Group: "g"}, {Type: recPartitionMetadata, Group: "g"}, {Type: recTargetMetadata, Group: "g"},
		{Type: recMemberMetadata, Group: "g", MemberID: "m"}, {Type: recTargetMember, Group: "g", MemberID: "m"},
		{Type: recCurrentAssignment, Group: "gröup", MemberID: "member-1"},
	} {
		got, err := decodeCGKey(k.encode())
		if err != nil || got != k {
			t.Fatalf("key %+v: got %+v, %v", k, got, err)
		}
	}
	// The key layout is Kafka's: int16 type, then int16-length strings.
	if got, want := (cgKey{Type: recTargetMember, Group: "g", MemberID: "m"}).encode(), []byte{0, 7, 0, 1, 'g', 0, 1, 'm'}; !bytes.Equal(got, want) {
		t.Fatalf("target member key % x, want % x", got, want)
	}
	// ConsumerGroupMetadataKey matches kmsg's GroupMetadataKey layout
	// (same fields, type 3 instead of 2).
	gk := kmsg.GroupMetadataKey{Version: 3, Group: "grp"}
	if !bytes.Equal(gk.AppendTo(nil), consumerGroupKey("grp")) {
		t.Fatalf("group key differs from kmsg's layout")
	}

	roundTrip := func(name string, in interface{ encode() []byte }, out interface{ decode([]byte) error }) {
		t.Helper()
		b := in.encode()
		if err := out.decode(b); err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if got := reflect.ValueOf(out).Elem().Interface(); !reflect.DeepEqual(got, in) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, in)
		}
		// Every truncation is an error, never a panic.
		for i := 0; i < len(b); i++ {
			if err := out.decode(b[:i]); err == nil {
				t.Fatalf("%s: %d of %d bytes decoded without error", name, i, len(b))
			}
		}
	}
	roundTrip("group", consumerGroupMetadataValue{Epoch: 42}, &consumerGroupMetadataValue{})
	roundTrip("partition metadata", partitionMetadataValue{Epoch: 7, Topics: []TopicMeta{{Name: "t", ID: id1, Partitions: 6}, {Name: "u", ID: id2, Partitions: 1}}}, &partitionMetadataValue{})
	roundTrip("member", memberMetadataValue{InstanceID: &inst, RackID: &rack, ClientID: "c", ClientHost: "/127.0.0.1",
		SubscribedTopicNames: []string{"t", "u"}, SubscribedTopicRegex: &re, RebalanceTimeoutMs: 45000, ServerAssignor: &asg}, &memberMetadataValue{})
	roundTrip("member, nulls", memberMetadataValue{ClientID: "c", ClientHost: "h", SubscribedTopicNames: []string{}, RebalanceTimeoutMs: -1}, &memberMetadataValue{})
	roundTrip("target metadata", targetMetadataValue{AssignmentEpoch: 9}, &targetMetadataValue{})
	roundTrip("target member", targetMemberValue{TopicPartitions: []cgTopicPartitions{{TopicID: id1, Partitions: []int32{0, 2}}, {TopicID: id2, Partitions: []int32{0}}}}, &targetMemberValue{})
	roundTrip("current", currentAssignmentValue{MemberEpoch: 5, PreviousMemberEpoch: 4, State: int8(memberUnrevoked),
		AssignedPartitions:          []cgTopicPartitions{{TopicID: id1, Partitions: []int32{1, 3}, Epochs: []int32{4, 5}}},
		PartitionsPendingRevocation: []cgTopicPartitions{{TopicID: id2, Partitions: []int32{0}, Epochs: []int32{2}}, {TopicID: id1, Partitions: []int32{}}}}, &currentAssignmentValue{})

	// Value layouts byte by byte: version 0, fields, empty tag sections.
	if got, want := (consumerGroupMetadataValue{Epoch: 3}).encode(), []byte{0, 0, 0, 0, 0, 3, 0}; !bytes.Equal(got, want) {
		t.Fatalf("group value % x, want % x", got, want)
	}
	want := []byte{0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 1} // epochs 2, 1; state 1
	want = append(want, 2)                          // one topic
	want = append(want, id1[:]...)
	want = append(want, 2, 0, 0, 0, 3)          // partitions [3]
	want = append(want, 1, 0, 5, 2, 0, 0, 0, 1) // tag 0, 5 bytes: AssignmentEpochs [1]
	want = append(want, 1, 0)                   // nothing pending revocation; no group tags
	cur := currentAssignmentValue{MemberEpoch: 2, PreviousMemberEpoch: 1, State: 1,
		AssignedPartitions: []cgTopicPartitions{{TopicID: id1, Partitions: []int32{3}, Epochs: []int32{1}}}}
	if got := cur.encode(); !bytes.Equal(got, want) {
		t.Fatalf("current assignment value\n got % x\nwant % x", got, want)
	}
	// Tagged fields a newer Kafka writes (ConsumerGroupMetadataValue's
	// MetadataHash, tag 0) are skipped.
	tagged := []byte{0, 0, 0, 0, 0, 8, 1, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}
	var gv consumerGroupMetadataValue
	if err := gv.decode(tagged); err != nil || gv.Epoch != 8 {
		t.Fatalf("tagged group value: %+v %v", gv, err)
	}
	// Unknown value versions are refused, not guessed at.
	if err := gv.decode([]byte{0, 1, 0, 0, 0, 8, 0}); err == nil {
		t.Fatal("value version 1 decoded")
	}
	// An array count larger than the record is refused before allocating.
	huge := binary.AppendUvarint([]byte{0, 0}, 1<<40)
	var tm targetMemberValue
	if err := tm.decode(huge); err == nil {
		t.Fatal("huge array decoded")
	}
}

// describeMembers is DescribeConsumer's members without client details.
func describeMembers(t *testing.T, c *Coordinator) ConsumerGroupDescription {
	t.Helper()
	d := c.DescribeConsumer(testGroup)
	if d.ErrorCode != 0 {
		t.Fatalf("describe: %v", kerr.ErrorForCode(d.ErrorCode))
	}
	return d
}

// TestConsumerGroupLoadMidReconcile: three members, a fourth topic
// partition layout mid-move (one member revoking, one waiting for
// partitions), the broker restarts: the group comes back exactly as it
// was and the move completes with no partition owned twice.
func TestConsumerGroupLoadMidReconcile(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 6})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3, 4, 5)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1, 2)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"t": parts(0, 1, 2)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(3, 4, 5)})
	// c joins (epoch 3): a and b must each give up one partition.
	cf.want("c", cf.hb("c", hbOpts{}), nil, 3, map[string][]int32{})
	resA := cf.hb("a", hbOpts{owned: map[string][]int32{"t": parts(0, 1, 2)}})
	cf.want("a", resA, nil, 2, nil)
	if n := len(cf.owned["a"]["t"]); n != 2 {
		t.Fatalf("a keeps %v", cf.owned["a"])
	}
	// b confirms at once: it moves to epoch 3; c gets b's partition.
	cf.want("b", cf.hb("b", hbOpts{owned: map[string][]int32{"t": parts(3, 4, 5)}}), nil, 2, nil)
	cf.want("b", cf.hb("b", hbOpts{}), nil, 3, nil)
	cf.want("c", cf.hb("c", hbOpts{}), nil, 3, nil)
	if n := len(cf.owned["c"]["t"]); n != 1 {
		t.Fatalf("c has %v", cf.owned["c"])
	}
	before := describeMembers(t, cf.c)
	if before.State != "Reconciling" || before.Epoch != 3 {
		t.Fatalf("before restart: %+v", before)
	}
	states := map[string]string{}
	for _, m := range before.Members {
		states[m.MemberID] = m.State
	}
	if states["m-a"] != "UnrevokedPartitions" || states["m-c"] != "UnreleasedPartitions" || states["m-b"] != "Stable" {
		t.Fatalf("member states before restart: %v", states)
	}

	cf.clk.Advance(time.Second)
	runSteps(cf.fixture, restart())
	cf.c = cf.f().c
	after := describeMembers(t, cf.c)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("group changed across the restart\nbefore %+v\n after %+v", before, after)
	}
	// Heartbeats carry on with the same epochs: a now releases, c gets
	// the rest of its target.
	cf.want("b", cf.hb("b", hbOpts{}), nil, 3, nil)
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, nil)
	cf.want("c", cf.hb("c", hbOpts{}), nil, 3, nil)
	d := describeMembers(t, cf.c)
	if d.State != "Stable" || d.Epoch != 3 {
		t.Fatalf("after reconciling: %+v", d)
	}
	total := 0
	for _, alias := range []string{"a", "b", "c"} {
		if n := len(cf.owned[alias]["t"]); n != 2 {
			t.Fatalf("%s owns %v", alias, cf.owned[alias])
		}
		total += 2
	}
	if total != 6 {
		t.Fatalf("%d partitions owned", total)
	}
}

func (cf *cgFixture) f() *fixture { return cf.fixture }

// TestConsumerGroupRestartKeepsEpochs: a stable group of three survives
// two restarts with its epochs and assignments, session timeouts start
// over from the load, and a member that leaves is tombstoned.
func TestConsumerGroupRestartKeepsEpochs(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 6})
	for _, a := range []string{"a", "b", "c"} {
		cf.hb(a, hbOpts{})
	}
	for i := 0; i < 4; i++ {
		for _, a := range []string{"a", "b", "c"} {
			cf.hb(a, hbOpts{})
		}
	}
	d := describeMembers(t, cf.c)
	if d.State != "Stable" || d.Epoch != 3 {
		t.Fatalf("before restart: %+v", d)
	}
	owned := map[string]map[string][]int32{}
	for k, v := range cf.owned {
		owned[k] = v
	}
	// A classic group next to it, in the same partition, with a commit.
	f := cf.fixture
	f.cfg.InitialRebalanceDelay = -1
	runSteps(f, restart())
	cf.c = f.c
	joined := make(chan JoinResult, 1)
	cf.c.Join(JoinRequest{GroupID: "classic", MemberID: "", ClientID: "x", SessionTimeout: testSession, RebalanceTimeout: testRebalance,
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t")}}}, func(r JoinResult) { joined <- r })
	jr := <-joined
	if jr.ErrorCode != 0 || jr.Generation != 1 {
		t.Fatalf("classic join: %v gen %d", kerr.ErrorForCode(jr.ErrorCode), jr.Generation)
	}
	synced := make(chan SyncResult, 1)
	cf.c.Sync(SyncRequest{GroupID: "classic", Generation: 1, MemberID: jr.MemberID, Assignments: map[string][]byte{jr.MemberID: {1}}}, func(r SyncResult) { synced <- r })
	if r := <-synced; r.ErrorCode != 0 {
		t.Fatalf("classic sync: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if codes := cf.c.Commit(CommitRequest{GroupID: "classic", MemberID: jr.MemberID, Generation: 1, Offsets: map[TopicPartition]Offset{{"t", 2}: {Offset: 11}}}); codes[TopicPartition{"t", 2}] != 0 {
		t.Fatalf("classic commit: %v", codes)
	}
	for round := 0; round < 2; round++ {
		cf.clk.Advance(8 * time.Second) // most of a session: the load restarts it
		runSteps(f, restart())
		cf.c = f.c
		cf.clk.Advance(8 * time.Second)
		for _, a := range []string{"a", "b", "c"} {
			cf.want(a, cf.hb(a, hbOpts{}), nil, 3, nil)
			if res := cf.hb(a, hbOpts{}); res.Assignment != nil {
				t.Fatalf("%s got a new assignment after restart: %v", a, res.Assignment)
			}
		}
		if !reflect.DeepEqual(cf.owned, owned) {
			t.Fatalf("assignments after restart %v, want %v", cf.owned, owned)
		}
	}
	// The classic group came through too (as classic groups do: Empty at
	// its generation, with its offsets).
	if l := cf.c.List(); len(l) != 2 || l[0].GroupID != "classic" || l[0].Type != "classic" || l[0].State != "Empty" ||
		l[1].Type != "consumer" || l[1].State != "Stable" {
		t.Fatalf("list: %+v", l)
	}
	if offs, _ := cf.c.FetchOffsets("classic", nil); offs[TopicPartition{"t", 2}].Offset != 11 {
		t.Fatalf("classic offsets: %v", offs)
	}
	// c stops heartbeating: fenced one session after its last heartbeat,
	// not earlier.
	cf.clk.Advance(6 * time.Second)
	cf.hb("a", hbOpts{})
	cf.hb("b", hbOpts{})
	if n := len(describeMembers(t, cf.c).Members); n != 3 {
		t.Fatalf("%d members before c's session ended", n)
	}
	cf.clk.Advance(5 * time.Second)
	if n := len(describeMembers(t, cf.c).Members); n != 2 {
		t.Fatalf("%d members after c's session ended", n)
	}
	// Its three records have tombstones; a restart does not bring it back.
	tombs := map[int16]int{}
	err := f.p.Scan(func(batch []byte) error {
		b, err := records.Decode(batch)
		if err != nil {
			return err
		}
		for _, r := range b.Records {
			if r.Value == nil {
				if k, err := decodeCGKey(r.Key); err == nil && k.MemberID == "m-c" {
					tombs[k.Type]++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if tombs[recMemberMetadata] != 1 || tombs[recTargetMember] != 1 || tombs[recCurrentAssignment] != 1 {
		t.Fatalf("tombstones of m-c: %v", tombs)
	}
	runSteps(f, restart())
	cf.c = f.c
	d = describeMembers(t, cf.c)
	if len(d.Members) != 2 || d.Epoch != 4 {
		t.Fatalf("after c left and a restart: %+v", d)
	}
}

// TestConsumerGroupCoordinatorMove: in cluster mode another broker takes
// the __consumer_offsets partition over (LoadPartition): it serves the
// group's members at their epochs and assignments.
func TestConsumerGroupCoordinatorMove(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	for i := 0; i < 3; i++ {
		cf.hb("a", hbOpts{})
		cf.hb("b", hbOpts{})
	}
	before := describeMembers(t, cf.c)
	if before.State != "Stable" || before.Epoch != 2 || len(before.Members) != 2 {
		t.Fatalf("before the move: %+v", before)
	}
	old := cf.c
	cfg := cf.cfg
	cfg.OnDemand = true
	moved, err := New(cfg, NewStore(1, func(int32) (*partition.Partition, error) { return cf.p, nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moved.Close)
	old.UnloadPartition(0)
	if err := moved.LoadPartition(cf.p); err != nil {
		t.Fatal(err)
	}
	cf.c = moved
	if after := describeMembers(t, moved); !reflect.DeepEqual(before, after) {
		t.Fatalf("group after the move\n %+v\nbefore\n %+v", after, before)
	}
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
	// A third member joins on the new coordinator: the move goes on from
	// the restored target (sticky: a and b each give up one partition).
	cf.want("c", cf.hb("c", hbOpts{}), nil, 3, map[string][]int32{})
	for i := 0; i < 3; i++ {
		for _, a := range []string{"a", "b", "c"} {
			cf.hb(a, hbOpts{})
		}
	}
	d := describeMembers(t, moved)
	if d.State != "Stable" || d.Epoch != 3 {
		t.Fatalf("after c joined: %+v", d)
	}
	for _, m := range d.Members {
		if n := len(m.Assignment); n != 1 || len(m.Assignment[0].Partitions) < 1 || len(m.Assignment[0].Partitions) > 2 {
			t.Fatalf("member %s has %+v", m.MemberID, m.Assignment)
		}
	}
}

// TestConsumerGroupStaticLeftRestart: a static member that left (epoch
// -2) is still waiting for its instance after a restart; the instance
// comes back under a new member id with its partitions and epoch.
func TestConsumerGroupStaticLeftRestart(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	inst := str("i1")
	cf.hb("a", hbOpts{instance: inst})
	cf.hb("b", hbOpts{})
	cf.hb("a", hbOpts{instance: inst})
	cf.want("a", cf.hb("a", hbOpts{instance: inst}), nil, 2, map[string][]int32{"t": parts(0, 1)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(2, 3)})
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(-2), instance: inst}), nil, -2, nil)
	delete(cf.owned, "a")
	runSteps(cf.fixture, restart())
	cf.c = cf.f().c
	d := describeMembers(t, cf.c)
	if d.Epoch != 2 || len(d.Members) != 2 || d.Members[0].MemberID != "m-a" || d.Members[0].MemberEpoch != -2 {
		t.Fatalf("after restart: %+v", d)
	}
	// Another id can take the instance over: same partitions, same epoch.
	cf.want("a2", cf.hb("a2", hbOpts{instance: inst}), nil, 2, map[string][]int32{"t": parts(0, 1)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
	// And that, too, survives a restart (the old id is gone).
	runSteps(cf.fixture, restart())
	cf.c = cf.f().c
	d = describeMembers(t, cf.c)
	if d.Epoch != 2 || len(d.Members) != 2 || d.Members[0].MemberID != "m-a2" || d.Members[0].MemberEpoch != 2 || d.State != "Stable" {
		t.Fatalf("after the second restart: %+v", d)
	}
	cf.want("a2", cf.hb("a2", hbOpts{instance: inst}), nil, 2, nil)
}
