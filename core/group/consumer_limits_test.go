package group

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// TestConsumerGroupMaxSize: a consumer group of MaxSize members refuses
// new members with GROUP_MAX_SIZE_REACHED; members already in it (a
// rejoin with epoch 0, a static instance taking its place back) are not
// refused, and a place freed by a leave is taken.
func TestConsumerGroupMaxSize(t *testing.T) {
	type hb struct {
		alias string
		o     hbOpts
		want  *kerr.Error
		epoch int32
	}
	cases := []struct {
		name string
		max  int
		hbs  []hb
	}{
		{"unlimited", 0, []hb{
			{"a", hbOpts{}, nil, 1}, {"b", hbOpts{}, nil, 2}, {"c", hbOpts{}, nil, 3}, {"d", hbOpts{}, nil, 4},
		}},
		{"two", 2, []hb{
			{"a", hbOpts{}, nil, 1},
			{"b", hbOpts{}, nil, 2},
			{"c", hbOpts{}, kerr.GroupMaxSizeReached, 0},
			{"a", hbOpts{keep: true}, nil, 1},                // a member of a full group heartbeats on
			{"a", hbOpts{epoch: i32(0), owned: nil}, nil, 4}, // and may rejoin with epoch 0 (out, in: two bumps)
			{"c", hbOpts{}, kerr.GroupMaxSizeReached, 0},     // still full
			{"b", hbOpts{epoch: i32(-1)}, nil, -1},           // b leaves (epoch 5)
			{"c", hbOpts{}, nil, 6},                          // its place is free
			{"d", hbOpts{}, kerr.GroupMaxSizeReached, 0},
		}},
		{"static", 1, []hb{
			{"a", hbOpts{instance: str("i-a")}, nil, 1},
			{"a", hbOpts{instance: str("i-a"), epoch: i32(-2)}, nil, -2},
			{"b", hbOpts{}, kerr.GroupMaxSizeReached, 0},                   // a's instance keeps its place
			{"a2", hbOpts{instance: str("i-a"), memberID: "m-a2"}, nil, 1}, // and takes it back with a new id
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := newCGFixture(t, map[string]int32{"t": 4})
			cf.c.cfg.MaxSize = tc.max
			for i, h := range tc.hbs {
				res := cf.hb(h.alias, h.o)
				var want int16
				if h.want != nil {
					want = h.want.Code
				}
				if res.ErrorCode != want {
					t.Fatalf("step %d (%s): %v %q, want %v", i, h.alias, kerr.ErrorForCode(res.ErrorCode), res.ErrorMessage, h.want)
				}
				if h.want == kerr.GroupMaxSizeReached {
					if msg := consumerFullMessage(tc.max); res.ErrorMessage != msg {
						t.Fatalf("step %d: message %q, want %q", i, res.ErrorMessage, msg)
					}
					continue
				}
				if res.MemberEpoch != h.epoch {
					t.Fatalf("step %d (%s): epoch %d, want %d", i, h.alias, res.MemberEpoch, h.epoch)
				}
				if h.epoch < 0 {
					delete(cf.owned, h.alias)
				}
			}
			if n, max := len(describeMembers(t, cf.c).Members), tc.max; max > 0 && n > max {
				t.Fatalf("%d members, max %d", n, max)
			}
		})
	}
}

// TestClassicGroupMaxSize: group.max.size for classic groups: a JoinGroup
// from a new member of a full group gets GROUP_MAX_SIZE_REACHED, members
// handed an id with MEMBER_ID_REQUIRED hold their place.
func TestClassicGroupMaxSize(t *testing.T) {
	f := newFixture(t, Config{MaxSize: 2})
	join := func(memberID string, requireID bool) chan JoinResult {
		ch := make(chan JoinResult, 1)
		f.c.Join(JoinRequest{GroupID: testGroup, MemberID: memberID, ClientID: "c", SessionTimeout: testSession, RebalanceTimeout: testRebalance,
			ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t")}}, RequireKnownMemberID: requireID},
			func(r JoinResult) { ch <- r })
		return ch
	}
	now := func(ch chan JoinResult) (JoinResult, bool) {
		select {
		case r := <-ch:
			return r, true
		default:
			return JoinResult{}, false
		}
	}
	// a is handed an id (a place held), b joins (pending the rebalance).
	ra, ok := now(join("", true))
	if !ok || ra.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("a: %+v %v", ra, ok)
	}
	if r, ok := now(join("", false)); ok {
		t.Fatalf("b answered at once: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	for _, tc := range []struct {
		name      string
		memberID  string
		requireID bool
		want      *kerr.Error // nil: accepted (answered at the rebalance)
	}{
		{"new member", "", false, kerr.GroupMaxSizeReached},
		{"new member asking for an id", "", true, kerr.GroupMaxSizeReached},
		{"unknown id", "x-1", false, kerr.GroupMaxSizeReached},
		{"a with its id", ra.MemberID, true, nil},
	} {
		r, answered := now(join(tc.memberID, tc.requireID))
		switch {
		case tc.want == nil && answered:
			t.Fatalf("%s: answered %v", tc.name, kerr.ErrorForCode(r.ErrorCode))
		case tc.want != nil && (!answered || r.ErrorCode != tc.want.Code):
			t.Fatalf("%s: %v (answered %v), want %v", tc.name, kerr.ErrorForCode(r.ErrorCode), answered, tc.want)
		}
	}
	if n := len(f.group().members); n != 2 {
		t.Fatalf("%d members, want 2", n)
	}
}

// failingStore makes the fixture's __consumer_offsets writes fail with
// err while *fail is set (the partition can't be had, as when it moved or
// is offline).
func failingStore(cf *cgFixture, fail *error) {
	p := cf.p
	cf.c.store.part = func(int32) (*partition.Partition, error) {
		if *fail != nil {
			return nil, *fail
		}
		return p, nil
	}
}

// groupView is what a consumer group looks like from outside, for
// comparing before and after.
func groupView(t *testing.T, c *Coordinator) ConsumerGroupDescription {
	t.Helper()
	d := c.DescribeConsumer(testGroup)
	d.ErrorMessage = ""
	return d
}

// TestConsumerHeartbeatWriteFailure: a heartbeat whose records can't be
// appended changes nothing (the group describes exactly as before and
// the member may retry), is answered NOT_COORDINATOR or
// COORDINATOR_NOT_AVAILABLE, and the log catches up with the next
// successful write (a restart loads the group as memory has it).
func TestConsumerHeartbeatWriteFailure(t *testing.T) {
	errDisk := errors.New("disk gone")
	// Each case builds a group with setup, then fails heartbeat h.
	cases := []struct {
		name  string
		setup func(cf *cgFixture, fail *error)
		alias string
		o     hbOpts
		err   error
		want  *kerr.Error
		// after the failure: the retried heartbeat's epoch
		retryEpoch int32
	}{
		{"first member (group created)", func(cf *cgFixture, _ *error) {}, "a", hbOpts{}, partition.ErrNotLeader, kerr.NotCoordinator, 1},
		{"second member joins", func(cf *cgFixture, _ *error) {
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
		}, "b", hbOpts{}, errDisk, kerr.CoordinatorNotAvailable, 2},
		{"revocation", func(cf *cgFixture, _ *error) {
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
			cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
		}, "a", hbOpts{}, partition.ErrStorage, kerr.NotCoordinator, 1},
		{"member leaves", func(cf *cgFixture, _ *error) {
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
			cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
		}, "b", hbOpts{epoch: i32(-1)}, errDisk, kerr.CoordinatorNotAvailable, -1},
		{"subscription change", func(cf *cgFixture, _ *error) {
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
		}, "a", hbOpts{topics: []string{"t", "u"}}, partition.ErrNotLeader, kerr.NotCoordinator, 2},
		{"static leave", func(cf *cgFixture, _ *error) {
			cf.want("a", cf.hb("a", hbOpts{instance: str("i")}), nil, 1, nil)
		}, "a", hbOpts{instance: str("i"), epoch: i32(-2)}, errDisk, kerr.CoordinatorNotAvailable, -2},
		{"keepalive after a failure (rewrites everything)", func(cf *cgFixture, fail *error) {
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
			cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
			cf.want("a", cf.hb("a", hbOpts{}), nil, 1, nil)
			cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
			cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
			cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
			*fail = partition.ErrNotLeader
			cf.want("b", cf.hb("b", hbOpts{epoch: i32(-1)}), kerr.NotCoordinator, 0, nil)
			*fail = nil
		}, "a", hbOpts{keep: true}, errDisk, kerr.CoordinatorNotAvailable, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := newCGFixture(t, map[string]int32{"t": 4, "u": 2})
			var fail error
			failingStore(cf, &fail)
			tc.setup(cf, &fail)
			before := groupView(t, cf.c)
			beforeEnd := cf.p.LogEndOffset()
			fail = tc.err
			res := cf.hb(tc.alias, tc.o)
			if res.ErrorCode != tc.want.Code {
				t.Fatalf("failed heartbeat: %v, want %v", kerr.ErrorForCode(res.ErrorCode), tc.want)
			}
			if res.Assignment != nil {
				t.Fatalf("failed heartbeat carried an assignment: %+v", res.Assignment)
			}
			if after := groupView(t, cf.c); !sameView(before, after) {
				t.Fatalf("group changed by a failed heartbeat:\nbefore %s\nafter  %s", describeString(before), describeString(after))
			}
			if end := cf.p.LogEndOffset(); end != beforeEnd {
				t.Fatalf("log end %d, was %d", end, beforeEnd)
			}
			// The retry succeeds as the first attempt would have.
			fail = nil
			res = cf.hb(tc.alias, tc.o)
			if res.ErrorCode != 0 || res.MemberEpoch != tc.retryEpoch {
				t.Fatalf("retry: %v epoch %d, want epoch %d", kerr.ErrorForCode(res.ErrorCode), res.MemberEpoch, tc.retryEpoch)
			}
			// Memory and log agree: a restart loads the same group.
			mem := groupView(t, cf.c)
			runSteps(cf.fixture, restart())
			if loaded := groupView(t, cf.c); !sameView(mem, loaded) {
				t.Fatalf("restart loads another group:\nmemory %s\nloaded %s", describeString(mem), describeString(loaded))
			}
		})
	}
}

func sameView(a, b ConsumerGroupDescription) bool {
	return describeString(a) == describeString(b)
}

func describeString(d ConsumerGroupDescription) string {
	s := fmt.Sprintf("%d %s %s %d %d", d.ErrorCode, d.State, d.Assignor, d.Epoch, d.TargetEpoch)
	for _, m := range d.Members {
		inst := ""
		if m.InstanceID != nil {
			inst = *m.InstanceID
		}
		s += fmt.Sprintf("\n%s(%s) epoch %d %s subs %v regex %q has %s target %s", m.MemberID, inst, m.MemberEpoch, m.State,
			m.SubscribedTopicNames, m.SubscribedTopicRegex, topicsString(m.Assignment), topicsString(m.TargetAssignment))
	}
	return s
}

func topicsString(ts []ConsumerTopic) string {
	s := ""
	for _, t := range ts {
		s += fmt.Sprintf("%s%v", t.Topic, t.Partitions)
	}
	return s
}

// TestConsumerHeartbeatCommitFailure: the records of a heartbeat are
// appended but never committed (the __consumer_offsets leader lost its
// leadership while waiting for a follower): the member gets
// NOT_COORDINATOR, the change is undone, and though those records were
// committed later after all (leadership came back with them), the group's
// next write rewrites it so that a restart loads what memory holds.
func TestConsumerHeartbeatCommitFailure(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3)})
	before := groupView(t, cf.c)
	end := cf.p.LogEndOffset()
	cf.p.BecomeLeader(2, []int32{1, 2}, []int32{1, 2}) // commits wait for broker 2 now
	done := make(chan ConsumerHeartbeatResult, 1)
	go func() {
		done <- cf.c.ConsumerHeartbeat(ConsumerHeartbeatRequest{GroupID: testGroup, MemberID: "m-b", RebalanceTimeout: time.Second, TopicNames: []string{"t"}})
	}()
	for deadline := time.Now().Add(10 * time.Second); cf.p.LogEndOffset() == end; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the heartbeat appended nothing")
		}
	}
	if d := groupView(t, cf.c); len(d.Members) != 2 {
		t.Fatalf("while the commit is pending: %s", describeString(d))
	}
	cf.p.BecomeFollower(3, 2, []int32{1, 2})
	res := <-done
	if res.ErrorCode != kerr.NotCoordinator.Code || res.Assignment != nil {
		t.Fatalf("heartbeat: %v %+v, want NOT_COORDINATOR without assignment", kerr.ErrorForCode(res.ErrorCode), res)
	}
	if after := groupView(t, cf.c); len(after.Members) != 1 || after.Members[0].MemberEpoch != 1 ||
		topicsString(after.Members[0].Assignment) != topicsString(before.Members[0].Assignment) {
		t.Fatalf("group changed by an uncommitted heartbeat:\nbefore %s\nafter  %s", describeString(before), describeString(after))
	}
	// Leadership comes back with b's records, which commit now.
	cf.p.BecomeLeader(4, []int32{1}, []int32{1})
	end = cf.p.LogEndOffset()
	// The group epoch does not go back to 1: b's epoch 2 may be
	// committed (it is, here), so a moves on to 2.
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
	if cf.p.LogEndOffset() == end {
		t.Fatal("a's heartbeat after the failure rewrote nothing")
	}
	mem := groupView(t, cf.c)
	runSteps(cf.fixture, restart())
	if loaded := groupView(t, cf.c); !sameView(mem, loaded) || len(loaded.Members) != 1 {
		t.Fatalf("restart loads another group:\nmemory %s\nloaded %s", describeString(mem), describeString(loaded))
	}
	// b joins for real.
	cf.want("b", cf.hb("b", hbOpts{}), nil, 3, map[string][]int32{})
}

// BenchmarkConsumerHeartbeatKeepalive: a keepalive heartbeat (nothing
// changes, nothing is written) of a member of a stable group of 50
// members over 1,000 partitions, and the snapshot it takes.
func BenchmarkConsumerHeartbeatKeepalive(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := partition.Open(OffsetsTopic, 0, b.TempDir(), partition.Config{
		Log:             storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, BrokerID: 1,
	}, false, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.BecomeLeader(1, []int32{1}, []int32{1})
	c, err := New(Config{ConsumerSessionTimeout: cgSession, ConsumerHeartbeatInterval: time.Second, Logger: logger,
		Clock: NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), OffsetsRetentionCheckInterval: -1,
		Topics: func() []TopicMeta { return []TopicMeta{{Name: "t", ID: topicID("t"), Partitions: 1000}} }},
		NewStore(1, func(int32) (*partition.Partition, error) { return p, nil }))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f := &fixture{c: c}
	req := func(id string, epoch int32, owned []int32) ConsumerHeartbeatRequest {
		r := ConsumerHeartbeatRequest{GroupID: testGroup, MemberID: id, MemberEpoch: epoch, RebalanceTimeout: -1}
		if epoch == 0 {
			r.RebalanceTimeout, r.TopicNames, r.Owned = time.Second, []string{"t"}, []ConsumerTopic{}
		} else {
			r.Owned = []ConsumerTopic{{TopicID: topicID("t"), Partitions: owned}}
		}
		return r
	}
	epochs, owned := map[string]int32{}, map[string][]int32{}
	ids := []string{}
	for i := 0; i < 50; i++ {
		ids = append(ids, fmt.Sprintf("m-%02d", i))
	}
	for round := 0; round < 6; round++ {
		for _, id := range ids {
			res := f.c.ConsumerHeartbeat(req(id, epochs[id], owned[id]))
			if res.ErrorCode != 0 {
				b.Fatalf("%s: %v", id, kerr.ErrorForCode(res.ErrorCode))
			}
			epochs[id] = res.MemberEpoch
			if res.Assignment != nil {
				owned[id] = nil
				for _, t := range res.Assignment {
					owned[id] = t.Partitions
				}
			}
		}
	}
	if d := f.c.DescribeConsumer(testGroup); d.State != "Stable" {
		b.Fatalf("group %s", d.State)
	}
	b.Run("heartbeat", func(b *testing.B) {
		r := ConsumerHeartbeatRequest{GroupID: testGroup, MemberID: ids[0], MemberEpoch: epochs[ids[0]], RebalanceTimeout: -1}
		for i := 0; i < b.N; i++ {
			if res := f.c.ConsumerHeartbeat(r); res.ErrorCode != 0 {
				b.Fatal(kerr.ErrorForCode(res.ErrorCode))
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		g := f.group()
		for i := 0; i < b.N; i++ {
			g.lock()
			f.c.cgSnapshot(g)
			g.unlock()
		}
	})
}

// TestConsumerSubscriptionBounds: a subscription list past
// MaxSubscribedTopicNames distinct names, past maxSubscribedNameBytes, or
// with a name no topic can have is refused with INVALID_REQUEST and a
// message saying which bound, before the member joins; repeated names
// count once and are stored once.
func TestConsumerSubscriptionBounds(t *testing.T) {
	names := func(n int, f string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(f, i)
		}
		return out
	}
	atMax := names(MaxSubscribedTopicNames, "t%d")
	repeated := append(append([]string{}, atMax...), atMax[:100]...)
	long := names(maxSubscribedNameBytes/200+1, "%0200d")
	cases := []struct {
		name    string
		topics  []string
		wantMsg string // "" = accepted
	}{
		{"at the count bound", atMax, ""},
		{"repeats count once", repeated, ""},
		{"one past the count bound", names(MaxSubscribedTopicNames+1, "t%d"),
			"SubscribedTopicNames lists 10001 topics; at most 10000 are accepted (subscribe by regex instead)"},
		{"past the byte bound", long,
			fmt.Sprintf("SubscribedTopicNames totals %d bytes of names; at most %d are accepted (subscribe by regex instead)", 200*len(long), maxSubscribedNameBytes)},
		{"a name too long to exist", []string{"t", string(make([]byte, 250))},
			"SubscribedTopicNames holds a name of 250 bytes; topic names are 1 to 249"},
		{"an empty name", []string{""}, "SubscribedTopicNames holds a name of 0 bytes; topic names are 1 to 249"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := newCGFixture(t, map[string]int32{"t1": 2})
			res := cf.hb("a", hbOpts{topics: tc.topics})
			if tc.wantMsg == "" {
				if res.ErrorCode != 0 {
					t.Fatalf("refused: %d %s", res.ErrorCode, res.ErrorMessage)
				}
				d := cf.c.DescribeConsumer(testGroup)
				if len(d.Members) != 1 || len(d.Members[0].SubscribedTopicNames) != MaxSubscribedTopicNames {
					t.Fatalf("described %d members, subscription of %d names; want 1 and %d", len(d.Members), len(d.Members[0].SubscribedTopicNames), MaxSubscribedTopicNames)
				}
				return
			}
			if res.ErrorCode != kerr.InvalidRequest.Code || res.ErrorMessage != tc.wantMsg {
				t.Fatalf("got %d %q, want INVALID_REQUEST %q", res.ErrorCode, res.ErrorMessage, tc.wantMsg)
			}
			if d := cf.c.DescribeConsumer(testGroup); len(d.Members) != 0 {
				t.Fatalf("a refused member joined: %+v", d.Members)
			}
		})
	}
}
