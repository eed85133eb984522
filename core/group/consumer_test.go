package group

import (
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The KIP-848 state machine driven step by step on a ManualClock: members
// are aliases ("a", "b") whose member id is "m-<alias>"; topics are a
// mutable map the coordinator reads as its metadata. After every
// heartbeat, no partition may be assigned to two members at once.

const cgSession = 10 * time.Second

type cgFixture struct {
	*fixture
	mu     sync.Mutex
	topics map[string]int32
	epoch  map[string]int32              // alias -> last member epoch
	owned  map[string]map[string][]int32 // alias -> last assignment received
}

func topicID(name string) [16]byte {
	var id [16]byte
	copy(id[:], "id-"+name)
	return id
}

func newCGFixture(t *testing.T, topics map[string]int32) *cgFixture {
	cf := &cgFixture{topics: topics, epoch: map[string]int32{}, owned: map[string]map[string][]int32{}}
	cfg := Config{
		ConsumerSessionTimeout:    cgSession,
		ConsumerHeartbeatInterval: time.Second,
		Topics: func() []TopicMeta {
			cf.mu.Lock()
			defer cf.mu.Unlock()
			var out []TopicMeta
			for n, p := range cf.topics {
				out = append(out, TopicMeta{Name: n, ID: topicID(n), Partitions: p})
			}
			return out
		},
	}
	cf.fixture = newFixture(t, cfg)
	return cf
}

func (cf *cgFixture) setTopic(name string, parts int32) {
	cf.mu.Lock()
	cf.topics[name] = parts
	cf.mu.Unlock()
}

type hbOpts struct {
	epoch    *int32 // default: the alias's last epoch
	topics   []string
	regex    *string
	assignor *string
	instance *string
	rack     *string
	owned    map[string][]int32 // default: what it was last given
	keep     bool               // Topics nil (owned unchanged)
	memberID string
}

func i32(v int32) *int32   { return &v }
func str(v string) *string { return &v }

func (cf *cgFixture) hb(alias string, o hbOpts) ConsumerHeartbeatResult {
	cf.t.Helper()
	req := ConsumerHeartbeatRequest{GroupID: testGroup, MemberID: "m-" + alias, MemberEpoch: cf.epoch[alias], RebalanceTimeout: -1,
		TopicNames: o.topics, TopicRegex: o.regex, ServerAssignor: o.assignor, InstanceID: o.instance, RackID: o.rack}
	if o.memberID != "" {
		req.MemberID = o.memberID
	}
	if o.epoch != nil {
		req.MemberEpoch = *o.epoch
	}
	if req.MemberEpoch == 0 {
		req.RebalanceTimeout = 5 * time.Second
		if req.TopicNames == nil && req.TopicRegex == nil {
			req.TopicNames = []string{"t"}
		}
	}
	if !o.keep {
		owned := o.owned
		if owned == nil {
			owned = cf.owned[alias]
		}
		req.Owned = []ConsumerTopic{}
		if req.MemberEpoch != 0 {
			for t, ps := range owned {
				req.Owned = append(req.Owned, ConsumerTopic{TopicID: topicID(t), Partitions: ps})
			}
		}
	}
	res := cf.c.ConsumerHeartbeat(req)
	if res.ErrorCode == 0 {
		cf.epoch[alias] = res.MemberEpoch
		if res.Assignment != nil {
			a := map[string][]int32{}
			for _, t := range res.Assignment {
				a[t.Topic] = t.Partitions
			}
			cf.owned[alias] = a
		}
	}
	cf.checkExclusive()
	return res
}

// checkExclusive: no partition is in two members' last assignments.
func (cf *cgFixture) checkExclusive() {
	cf.t.Helper()
	seen := map[TopicPartition]string{}
	for alias, a := range cf.owned {
		for t, ps := range a {
			for _, p := range ps {
				tp := TopicPartition{t, p}
				if o, dup := seen[tp]; dup {
					cf.t.Fatalf("partition %v given to both %s and %s", tp, o, alias)
				}
				seen[tp] = alias
			}
		}
	}
}

func (cf *cgFixture) want(alias string, res ConsumerHeartbeatResult, code *kerr.Error, epoch int32, asg map[string][]int32) {
	cf.t.Helper()
	var wantCode int16
	if code != nil {
		wantCode = code.Code
	}
	if res.ErrorCode != wantCode {
		cf.t.Fatalf("%s: error %v, want %v (%s)", alias, kerr.ErrorForCode(res.ErrorCode), code, res.ErrorMessage)
	}
	if code != nil {
		return
	}
	if res.MemberEpoch != epoch {
		cf.t.Fatalf("%s: epoch %d, want %d", alias, res.MemberEpoch, epoch)
	}
	if asg != nil {
		got := map[string][]int32{}
		for _, t := range res.Assignment {
			got[t.Topic] = t.Partitions
		}
		if res.Assignment == nil || !reflect.DeepEqual(got, asg) {
			cf.t.Fatalf("%s: assignment %v (sent %v), want %v", alias, got, res.Assignment != nil, asg)
		}
	}
}

func parts(ps ...int32) []int32 { return ps }

func TestConsumerGroupJoinRevokeLeave(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 6})
	// a joins alone: everything at epoch 1.
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3, 4, 5)})
	// b joins (epoch 2): its half is still a's, so it gets nothing yet.
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{})
	// a is told to revoke 3 partitions, keeping its epoch.
	res := cf.hb("a", hbOpts{owned: map[string][]int32{"t": parts(0, 1, 2, 3, 4, 5)}})
	cf.want("a", res, nil, 1, map[string][]int32{"t": parts(0, 1, 2)})
	// b still waits: a has not confirmed.
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
	if len(cf.owned["b"]) != 0 {
		t.Fatalf("b got %v before a released it", cf.owned["b"])
	}
	// a keeps reporting the revoked partitions (keepalive, Topics nil):
	// still revoking.
	cf.want("a", cf.hb("a", hbOpts{keep: true}), nil, 1, nil)
	cf.want("a", cf.hb("a", hbOpts{owned: map[string][]int32{"t": parts(0, 1, 2, 3)}}), nil, 1, nil)
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
	if len(cf.owned["b"]) != 0 {
		t.Fatalf("b got %v before a released it", cf.owned["b"])
	}
	// a released them: epoch 2; b gets them on its next heartbeat.
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"t": parts(0, 1, 2)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(3, 4, 5)})
	d := cf.c.DescribeConsumer(testGroup)
	if d.State != "Stable" || d.Epoch != 2 || d.TargetEpoch != 2 || d.Assignor != AssignorUniform || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	// b leaves: a gets everything at epoch 3.
	cf.want("b", cf.hb("b", hbOpts{epoch: i32(-1)}), nil, -1, nil)
	delete(cf.owned, "b")
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"t": parts(0, 1, 2, 3, 4, 5)})
	// a member that left is unknown.
	cf.want("b", cf.hb("b", hbOpts{epoch: i32(2)}), kerr.UnknownMemberID, 0, nil)
	// epochs from the future are fenced; the previous one is accepted
	// only with a subset of the assignment.
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(9)}), kerr.FencedMemberEpoch, 0, nil)
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(2), owned: map[string][]int32{"t": parts(0)}}), nil, 3, nil)
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(1)}), kerr.FencedMemberEpoch, 0, nil)
	// a leaves: the group is Empty.
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(-1)}), nil, -1, nil)
	if d := cf.c.DescribeConsumer(testGroup); d.State != "Empty" || d.Epoch != 4 {
		t.Fatalf("describe: %+v", d)
	}
}

func TestConsumerGroupSessionTimeout(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"t": parts(0, 1)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(2, 3)})
	// b stops heartbeating; a goes on every 4 s.
	delete(cf.owned, "b")
	for i := 0; i < 3; i++ {
		cf.clk.Advance(4 * time.Second)
		cf.hb("a", hbOpts{})
	}
	if d := cf.c.DescribeConsumer(testGroup); len(d.Members) != 1 || d.Epoch != 3 {
		t.Fatalf("b not fenced after its session timeout: %+v", d)
	}
	if got := cf.owned["a"]["t"]; !reflect.DeepEqual(got, parts(0, 1, 2, 3)) {
		t.Fatalf("a has %v", got)
	}
	cf.want("b", cf.hb("b", hbOpts{}), kerr.UnknownMemberID, 0, nil)
	// A member that never revokes is fenced after its rebalance timeout.
	cf.epoch["b"] = 0
	cf.owned["b"] = nil
	cf.want("b", cf.hb("b", hbOpts{}), nil, 4, map[string][]int32{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"t": parts(0, 1)})
	cf.clk.Advance(3 * time.Second)
	cf.hb("b", hbOpts{})
	cf.hb("a", hbOpts{owned: map[string][]int32{"t": parts(0, 1, 2, 3)}}) // still has them
	cf.clk.Advance(3 * time.Second)                                       // past a's 5 s rebalance timeout
	if d := cf.c.DescribeConsumer(testGroup); len(d.Members) != 1 || d.Members[0].MemberID != "m-b" {
		t.Fatalf("a not fenced after its rebalance timeout: %+v", d)
	}
	delete(cf.owned, "a")
	cf.want("b", cf.hb("b", hbOpts{}), nil, 5, map[string][]int32{"t": parts(0, 1, 2, 3)})
}

func TestConsumerGroupStatic(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 4})
	inst := str("i1")
	cf.want("a", cf.hb("a", hbOpts{instance: inst}), nil, 1, map[string][]int32{"t": parts(0, 1, 2, 3)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{})
	cf.hb("a", hbOpts{instance: inst})
	cf.want("a", cf.hb("a", hbOpts{instance: inst}), nil, 2, map[string][]int32{"t": parts(0, 1)})
	// Another member id can't take a live instance.
	cf.want("a2", cf.hb("a2", hbOpts{instance: inst}), kerr.UnreleasedInstanceID, 0, nil)
	// a leaves as a static member (-2): no rebalance, b keeps its half.
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(-2), instance: inst}), nil, -2, nil)
	delete(cf.owned, "a")
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(2, 3)})
	// It comes back with a new member id: same assignment, same epoch.
	cf.want("a2", cf.hb("a2", hbOpts{instance: inst}), nil, 2, map[string][]int32{"t": parts(0, 1)})
	if d := cf.c.DescribeConsumer(testGroup); d.Epoch != 2 || len(d.Members) != 2 || d.State != "Stable" {
		t.Fatalf("describe: %+v", d)
	}
	// A static member that left and never came back is removed after
	// the session timeout.
	cf.want("a2", cf.hb("a2", hbOpts{epoch: i32(-2), instance: inst}), nil, -2, nil)
	delete(cf.owned, "a2")
	for i := 0; i < 3; i++ {
		cf.clk.Advance(4 * time.Second)
		cf.hb("b", hbOpts{})
	}
	cf.want("b", cf.hb("b", hbOpts{}), nil, 3, nil)
	if got := cf.owned["b"]["t"]; !reflect.DeepEqual(got, parts(0, 1, 2, 3)) {
		t.Fatalf("b has %v", got)
	}
}

func TestConsumerGroupMetadataChanges(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"orders": 2, "other": 1})
	cf.want("a", cf.hb("a", hbOpts{regex: str("ord.*"), topics: []string{}}), nil, 1, map[string][]int32{"orders": parts(0, 1)})
	// A topic matching the regex is created: picked up once the
	// coordinator hears of it (and also from a heartbeat alone).
	cf.setTopic("orders-eu", 2)
	cf.c.TopicsChanged()
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"orders": parts(0, 1), "orders-eu": parts(0, 1)})
	// Partitions added to a subscribed topic.
	cf.setTopic("orders", 3)
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"orders": parts(0, 1, 2), "orders-eu": parts(0, 1)})
	// A topic not matching changes nothing.
	cf.setTopic("zzz", 5)
	cf.c.TopicsChanged()
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, nil)
	// A deleted topic is revoked.
	cf.mu.Lock()
	delete(cf.topics, "orders-eu")
	cf.mu.Unlock()
	cf.c.TopicsChanged()
	cf.want("a", cf.hb("a", hbOpts{}), nil, 3, map[string][]int32{"orders": parts(0, 1, 2)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 4, map[string][]int32{"orders": parts(0, 1, 2)})
	// As Kafka's, a regex may name an internal topic.
	cf.setTopic(OffsetsTopic, 1)
	cf.want("y", cf.hb("y", hbOpts{regex: str("__consumer_.*")}), nil, 5, map[string][]int32{OffsetsTopic: parts(0)})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 5, map[string][]int32{"orders": parts(0, 1, 2)})
	// Invalid regexes and assignors are refused.
	cf.want("x", cf.hb("x", hbOpts{regex: str("(")}), kerr.InvalidRegularExpression, 0, nil)
	cf.want("x", cf.hb("x", hbOpts{assignor: str("sticky")}), kerr.UnsupportedAssignor, 0, nil)
	cf.want("x", cf.hb("x", hbOpts{memberID: "-", epoch: i32(-3)}), kerr.InvalidRequest, 0, nil)
	cf.want("x", cf.hb("x", hbOpts{owned: map[string][]int32{"orders": parts(0)}, epoch: i32(0)}), nil, 6, nil)
}

func TestConsumerGroupAssignors(t *testing.T) {
	subs := []memberSub{{"a", map[string]bool{"t1": true, "t2": true}}, {"b", map[string]bool{"t1": true, "t2": true}}}
	p := map[string]int32{"t1": 3, "t2": 3}
	for _, tc := range []struct {
		name string
		got  map[string]assignment
		want map[string]assignment
	}{
		{"range co-partitions", assignRange(subs, p), map[string]assignment{
			"a": {"t1": parts(0, 1), "t2": parts(0, 1)}, "b": {"t1": parts(2), "t2": parts(2)}}},
		{"uniform balances", assignUniform(subs, p, nil), map[string]assignment{
			"a": {"t1": parts(0, 2), "t2": parts(1)}, "b": {"t1": parts(1), "t2": parts(0, 2)}}},
		{"uniform is sticky", assignUniform(subs, p, map[string]assignment{"a": {"t2": parts(0, 1, 2)}, "b": {"t1": parts(0, 1, 2)}}), map[string]assignment{
			"a": {"t2": parts(0, 1, 2)}, "b": {"t1": parts(0, 1, 2)}}},
		{"uniform with uneven subscriptions", assignUniform([]memberSub{{"a", map[string]bool{"t1": true}}, {"b", map[string]bool{"t1": true, "t2": true}}}, p, nil), map[string]assignment{
			"a": {"t1": parts(0, 1, 2)}, "b": {"t2": parts(0, 1, 2)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	// Balance over many members: counts differ by at most one and every
	// partition is assigned once.
	var many []memberSub
	for i := 0; i < 7; i++ {
		many = append(many, memberSub{fmt.Sprintf("m%d", i), map[string]bool{"t1": true, "t2": true}})
	}
	big := map[string]int32{"t1": 10, "t2": 13}
	for _, a := range []map[string]assignment{assignUniform(many, big, nil), assignRange(many, map[string]int32{"t1": 23})} {
		var counts []int
		seen := map[TopicPartition]bool{}
		for _, as := range a {
			counts = append(counts, as.size())
			for _, tp := range as.list() {
				if seen[tp] {
					t.Fatalf("%v assigned twice", tp)
				}
				seen[tp] = true
			}
		}
		sort.Ints(counts)
		if len(seen) != 23 || counts[len(counts)-1]-counts[0] > 1 {
			t.Fatalf("unbalanced: %v (%d partitions)", counts, len(seen))
		}
	}
	// The group uses what its members ask for.
	cf := newCGFixture(t, map[string]int32{"t1": 3, "t2": 3})
	cf.want("a", cf.hb("a", hbOpts{topics: []string{"t1", "t2"}, assignor: str("range")}), nil, 1, nil)
	cf.want("b", cf.hb("b", hbOpts{topics: []string{"t1", "t2"}, assignor: str("range")}), nil, 2, nil)
	cf.hb("a", hbOpts{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, map[string][]int32{"t1": parts(0, 1), "t2": parts(0, 1)})
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t1": parts(2), "t2": parts(2)})
	if d := cf.c.DescribeConsumer(testGroup); d.Assignor != AssignorRange {
		t.Fatalf("assignor %q", d.Assignor)
	}
}

func TestConsumerGroupCoexistenceAndCommits(t *testing.T) {
	cf := newCGFixture(t, map[string]int32{"t": 2})
	f := cf.fixture
	// A classic group with members can't be used with the new protocol.
	f.cfg.InitialRebalanceDelay = -1
	runSteps(f, restart())
	cf.c = f.c
	runSteps(f, steps(stable("c1"))...)
	res := cf.c.ConsumerHeartbeat(ConsumerHeartbeatRequest{GroupID: testGroup, MemberID: "m-a", RebalanceTimeout: time.Second, TopicNames: []string{"t"}})
	if res.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("heartbeat on a classic group: %v", kerr.ErrorForCode(res.ErrorCode))
	}
	if d := cf.c.DescribeConsumer(testGroup); d.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of a classic group: %v", kerr.ErrorForCode(d.ErrorCode))
	}
	// Once it is empty it converts, keeping its offsets.
	runSteps(f, leave("c1", nil))
	if codes := cf.c.Commit(CommitRequest{GroupID: testGroup, Generation: -1, Offsets: map[TopicPartition]Offset{{"t", 0}: {Offset: 7}}}); codes[TopicPartition{"t", 0}] != 0 {
		t.Fatalf("simple commit: %v", codes)
	}
	cf.want("a", cf.hb("a", hbOpts{}), nil, 1, map[string][]int32{"t": parts(0, 1)})
	if l := cf.c.List(); len(l) != 1 || l[0].Type != "consumer" || l[0].State != "Stable" {
		t.Fatalf("list: %+v", l)
	}
	if d := cf.c.Describe(testGroup); d.ProtocolType != "consumer" || len(d.Members) != 1 || d.Protocol != AssignorUniform {
		t.Fatalf("classic describe: %+v", d)
	}
	// Classic members can't join it now.
	joinCh := make(chan JoinResult, 1)
	cf.c.Join(JoinRequest{GroupID: testGroup, SessionTimeout: testSession, RebalanceTimeout: testRebalance, ProtocolType: "consumer",
		Protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t")}}}, func(r JoinResult) { joinCh <- r })
	if r := <-joinCh; r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("join: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	commit := func(member string, epoch int32) int16 {
		codes := cf.c.Commit(CommitRequest{GroupID: testGroup, MemberID: member, Generation: epoch, Offsets: map[TopicPartition]Offset{{"t", 1}: {Offset: 3}}})
		return codes[TopicPartition{"t", 1}]
	}
	for _, tc := range []struct {
		member string
		epoch  int32
		want   *kerr.Error
	}{
		{"m-a", 1, nil},
		{"m-a", 2, kerr.FencedMemberEpoch},
		{"m-x", 1, kerr.UnknownMemberID},
		{"", -1, kerr.UnknownMemberID}, // simple commits only for empty groups
	} {
		var want int16
		if tc.want != nil {
			want = tc.want.Code
		}
		if got := commit(tc.member, tc.epoch); got != want {
			t.Fatalf("commit %s@%d: %v, want %v", tc.member, tc.epoch, kerr.ErrorForCode(got), tc.want)
		}
	}
	// b joins; a moves to epoch 2 keeping t-0: a commit of t-0 at epoch
	// 1 is still fine (assigned since epoch 1), t-1 is b's since epoch 2.
	cf.hb("b", hbOpts{})
	cf.hb("a", hbOpts{})
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, map[string][]int32{"t": parts(1)})
	if codes := cf.c.Commit(CommitRequest{GroupID: testGroup, MemberID: "m-a", Generation: 1, Offsets: map[TopicPartition]Offset{{"t", 0}: {Offset: 4}}}); codes[TopicPartition{"t", 0}] != 0 {
		t.Fatalf("commit of a still-owned partition at the previous epoch: %v", codes)
	}
	if got := commit("m-a", 1); got != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit of a revoked partition at an old epoch: %v", kerr.ErrorForCode(got))
	}
	if got := commit("m-b", 2); got != 0 {
		t.Fatalf("commit by b: %v", kerr.ErrorForCode(got))
	}
	// Transactional commits are checked the same way.
	txn := func(member string, epoch int32) int16 {
		codes := cf.c.TxnCommit(TxnCommitRequest{GroupID: testGroup, ProducerID: 7, MemberID: member, Generation: epoch, Offsets: map[TopicPartition]Offset{{"t", 1}: {Offset: 3}}})
		return codes[TopicPartition{"t", 1}]
	}
	if got := txn("m-b", 3); got != kerr.FencedMemberEpoch.Code {
		t.Fatalf("txn commit from the future: %v", kerr.ErrorForCode(got))
	}
	if got := txn("m-x", 2); got != kerr.UnknownMemberID.Code {
		t.Fatalf("txn commit of an unknown member: %v", kerr.ErrorForCode(got))
	}
	if got := txn("m-b", 2); got != 0 {
		t.Fatalf("txn commit: %v", kerr.ErrorForCode(got))
	}
	if code := cf.c.CheckConsumerFetch(testGroup, "m-b", 1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("offset fetch at an old epoch: %v", kerr.ErrorForCode(code))
	}
	if code := cf.c.DeleteGroup(testGroup); code != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete: %v", kerr.ErrorForCode(code))
	}

	// A restart brings the group back as it was (consumer_persist.go):
	// both members keep their epochs and partitions, with their offsets.
	runSteps(f, restart())
	cf.c = f.c
	if l := cf.c.List(); len(l) != 1 || l[0].Type != "consumer" || l[0].State != "Stable" {
		t.Fatalf("list after restart: %+v", l)
	}
	offs, _ := cf.c.FetchOffsets(testGroup, nil)
	if offs[TopicPartition{"t", 0}].Offset != 4 || offs[TopicPartition{"t", 1}].Offset != 3 {
		t.Fatalf("offsets after restart: %v", offs)
	}
	cf.want("a", cf.hb("a", hbOpts{}), nil, 2, nil)
	cf.want("b", cf.hb("b", hbOpts{}), nil, 2, nil)
	// t-0 has been a's since epoch 1: a commit at epoch 1 still passes.
	if codes := cf.c.Commit(CommitRequest{GroupID: testGroup, MemberID: "m-a", Generation: 1, Offsets: map[TopicPartition]Offset{{"t", 0}: {Offset: 5}}}); codes[TopicPartition{"t", 0}] != 0 {
		t.Fatalf("commit at the previous epoch after restart: %v", codes)
	}
	// Both leave (epochs 3, 4); after another restart the group is Empty
	// at epoch 4 and a new member goes on from there.
	cf.want("b", cf.hb("b", hbOpts{epoch: i32(-1)}), nil, -1, nil)
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(-1)}), nil, -1, nil)
	runSteps(f, restart())
	cf.c = f.c
	if l := cf.c.List(); len(l) != 1 || l[0].Type != "consumer" || l[0].State != "Empty" {
		t.Fatalf("list after restart: %+v", l)
	}
	cf.want("a", cf.hb("a", hbOpts{}), kerr.UnknownMemberID, 0, nil)
	cf.epoch["a"], cf.owned = 0, map[string]map[string][]int32{}
	cf.want("a", cf.hb("a", hbOpts{}), nil, 5, map[string][]int32{"t": parts(0, 1)})
	// Empty again, it can go back to classic.
	cf.want("a", cf.hb("a", hbOpts{epoch: i32(-1)}), nil, -1, nil)
	runSteps(f, join("c2"))
	if r := <-f.joins["c2"]; r.ErrorCode != 0 || r.Generation != 3 {
		t.Fatalf("classic join after the downgrade: %v generation %d", kerr.ErrorForCode(r.ErrorCode), r.Generation)
	}
	if l := cf.c.List(); len(l) != 1 || l[0].Type != "classic" {
		t.Fatalf("list after downgrade: %+v", l)
	}
}

func runSteps(f *fixture, ss ...step) {
	for _, s := range ss {
		s.do(f)
	}
}
