package group

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// The coordinator's state machine, driven deterministically: every
// scenario below is a list of steps (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, partition growth, and moving a ManualClock) with the
// expected answers and group state after each. No step sleeps: session
// and rebalance timeouts fire exactly when the clock is advanced past
// them. The one asynchronous edge is the leader's SyncGroup, answered
// once its assignments are committed to __consumer_offsets (a real
// single-replica partition here), which wantSync waits for.

const (
	testGroup     = "g"
	testSession   = 10 * time.Second
	testRebalance = 5 * time.Second
)

// fixture is one coordinator on a manual clock, with members named by
// alias ("a", "b") in the steps.
type fixture struct {
	t     *testing.T
	clk   *ManualClock
	c     *Coordinator
	cfg   Config               // c's config, for a restart
	p     *partition.Partition // __consumer_offsets partition 0
	id    map[string]string    // alias -> member id
	gen   map[string]int32     // alias -> generation of its last join
	joins map[string]chan JoinResult
	syncs map[string]chan SyncResult
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	pcfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          1,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := partition.Open(OffsetsTopic, 0, t.TempDir(), pcfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.BecomeLeader(1, []int32{1}, []int32{1})
	clk := NewManualClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	cfg.Clock = clk
	cfg.Logger = logger
	if cfg.MinSessionTimeout == 0 {
		cfg.MinSessionTimeout = time.Second
	}
	if cfg.OffsetsRetentionCheckInterval == 0 {
		// No retention timer unless a test asks: wantTimers counts
		// session and rebalance timers only.
		cfg.OffsetsRetentionCheckInterval = -1
	}
	c, err := New(cfg, NewStore(1, func(int32) (*partition.Partition, error) { return p, nil }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &fixture{t: t, clk: clk, c: c, cfg: cfg, p: p, id: map[string]string{}, gen: map[string]int32{},
		joins: map[string]chan JoinResult{}, syncs: map[string]chan SyncResult{}}
}

// group is the coordinator's group, for checks of its internal state.
func (f *fixture) group() *group { return f.c.group(testGroup, false) }

// step is one action or check of a scenario.
type step struct {
	desc string
	do   func(f *fixture)
}

// consumerMeta is a consumer protocol subscription to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return m.AppendTo(nil)
}

// joinOpts vary a JoinGroup from the default: a dynamic consumer member
// subscribed to "t" with protocol "range", 10 s session, 5 s rebalance.
type joinOpts struct {
	instance  string // group.instance.id (static member)
	protocols []Protocol
	session   time.Duration
	rebalance time.Duration
	protoType string
	requireID bool   // JoinGroup v4+: MEMBER_ID_REQUIRED first
	memberID  string // join with this literal member id
	as        string // join with this alias's member id
}

func join(alias string) step { return joinWith(alias, joinOpts{}) }

// joinWith sends a JoinGroup for alias (with its known member id, if any);
// wantJoin or wantJoinPending checks the answer.
func joinWith(alias string, o joinOpts) step {
	return step{"join " + alias, func(f *fixture) {
		req := JoinRequest{
			GroupID:              testGroup,
			MemberID:             f.id[alias],
			ClientID:             "client-" + alias,
			ClientHost:           "/127.0.0.1",
			SessionTimeout:       testSession,
			RebalanceTimeout:     testRebalance,
			ProtocolType:         "consumer",
			Protocols:            []Protocol{{Name: "range", Metadata: consumerMeta("t")}},
			RequireKnownMemberID: o.requireID,
		}
		if o.instance != "" {
			inst := o.instance
			req.InstanceID = &inst
			req.MemberID = "" // a restarted static member forgot its id
		}
		if o.memberID != "" {
			req.MemberID = o.memberID
		}
		if o.as != "" {
			req.MemberID = f.id[o.as]
		}
		if o.protocols != nil {
			req.Protocols = o.protocols
		}
		if o.session != 0 {
			req.SessionTimeout = o.session
		}
		if o.rebalance != 0 {
			req.RebalanceTimeout = o.rebalance
		}
		if o.protoType != "" {
			req.ProtocolType = o.protoType
		}
		ch := make(chan JoinResult, 1)
		f.joins[alias] = ch
		f.c.Join(req, func(r JoinResult) {
			// Learn the id at once: the leader's answer may list members
			// whose own answers the scenario checks later. Join answers
			// come on the goroutine of the call that completes the join
			// phase, which is the test's.
			if r.ErrorCode == 0 || r.ErrorCode == kerr.MemberIDRequired.Code {
				f.id[alias] = r.MemberID
			}
			ch <- r
		})
	}}
}

// wantJoin: alias's JoinGroup was answered with code (and, on success,
// generation gen, leader alias leader and, for the leader, members).
func wantJoin(alias string, code *kerr.Error, gen int32, leader string, members ...string) step {
	return step{fmt.Sprintf("want join %s: %v gen %d leader %q members %v", alias, code, gen, leader, members), func(f *fixture) {
		var r JoinResult
		select {
		case r = <-f.joins[alias]:
		default:
			f.t.Fatal("no JoinGroup answer yet")
		}
		if got := errCode(code); r.ErrorCode != got {
			f.t.Fatalf("code %v, want %v", kerr.ErrorForCode(r.ErrorCode), code)
		}
		if r.ErrorCode == kerr.MemberIDRequired.Code {
			f.id[alias] = r.MemberID
			return
		}
		if code != nil {
			return
		}
		f.id[alias] = r.MemberID
		f.gen[alias] = r.Generation
		if r.Generation != gen {
			f.t.Fatalf("generation %d, want %d", r.Generation, gen)
		}
		if r.LeaderID != f.id[leader] {
			f.t.Fatalf("leader %q, want %s's id %q", r.LeaderID, leader, f.id[leader])
		}
		var got []string
		for _, m := range r.Members {
			got = append(got, f.alias(m.MemberID))
		}
		if !slices.Equal(got, members) {
			f.t.Fatalf("members %v, want %v", got, members)
		}
		if r.Protocol != "range" {
			f.t.Fatalf("protocol %q, want range", r.Protocol)
		}
	}}
}

// wantJoinPending: alias's JoinGroup is held (the rebalance is open).
func wantJoinPending(alias string) step {
	return step{"want join " + alias + " pending", func(f *fixture) {
		select {
		case r := <-f.joins[alias]:
			f.t.Fatalf("answered early: %+v", r)
		default:
		}
	}}
}

// syncGroup sends alias's SyncGroup for its generation; a leader hands out
// "assign-<alias>" to every member.
func syncGroup(alias string) step {
	return step{"sync " + alias, func(f *fixture) {
		req := SyncRequest{GroupID: testGroup, Generation: f.gen[alias], MemberID: f.id[alias]}
		if g := f.group(); g != nil {
			g.lock()
			if g.leader == f.id[alias] {
				req.Assignments = map[string][]byte{}
				for id := range g.members {
					req.Assignments[id] = []byte("assign-" + f.alias(id))
				}
			}
			g.unlock()
		}
		ch := make(chan SyncResult, 1)
		f.syncs[alias] = ch
		f.c.Sync(req, func(r SyncResult) { ch <- r })
	}}
}

// wantSync: alias's SyncGroup was answered with code and, on success, its
// own assignment. A leader's sync completes once its write is committed,
// so this waits for it (bounded: the write is to a local log).
func wantSync(alias string, code *kerr.Error) step {
	return step{fmt.Sprintf("want sync %s: %v", alias, code), func(f *fixture) {
		var r SyncResult
		select {
		case r = <-f.syncs[alias]:
		case <-time.After(10 * time.Second):
			f.t.Fatal("no SyncGroup answer")
		}
		if got := errCode(code); r.ErrorCode != got {
			f.t.Fatalf("code %v, want %v", kerr.ErrorForCode(r.ErrorCode), code)
		}
		if code == nil && string(r.Assignment) != "assign-"+alias {
			f.t.Fatalf("assignment %q, want assign-%s", r.Assignment, alias)
		}
	}}
}

func wantSyncPending(alias string) step {
	return step{"want sync " + alias + " pending", func(f *fixture) {
		select {
		case r := <-f.syncs[alias]:
			f.t.Fatalf("answered early: %+v", r)
		default:
		}
	}}
}

// heartbeat sends alias's Heartbeat for its generation.
func heartbeat(alias string, want *kerr.Error) step {
	return heartbeatAs(alias, "", want)
}

// heartbeatAs is heartbeat carrying a group.instance.id.
func heartbeatAs(alias, instance string, want *kerr.Error) step {
	return step{fmt.Sprintf("heartbeat %s: want %v", alias, want), func(f *fixture) {
		var inst *string
		if instance != "" {
			inst = &instance
		}
		if got := f.c.Heartbeat(testGroup, f.id[alias], inst, f.gen[alias]); got != errCode(want) {
			f.t.Fatalf("code %v", kerr.ErrorForCode(got))
		}
	}}
}

// heartbeatGen is heartbeat for an explicit generation.
func heartbeatGen(alias string, gen int32, want *kerr.Error) step {
	return step{fmt.Sprintf("heartbeat %s gen %d: want %v", alias, gen, want), func(f *fixture) {
		if got := f.c.Heartbeat(testGroup, f.id[alias], nil, gen); got != errCode(want) {
			f.t.Fatalf("code %v", kerr.ErrorForCode(got))
		}
	}}
}

// leave sends a LeaveGroup for alias.
func leave(alias string, want *kerr.Error) step {
	return step{fmt.Sprintf("leave %s: want %v", alias, want), func(f *fixture) {
		top, codes := f.c.Leave(testGroup, []LeaveMember{{MemberID: f.id[alias]}})
		if top != 0 || codes[0] != errCode(want) {
			f.t.Fatalf("codes %d %v", top, codes)
		}
	}}
}

// advance moves the clock; want is how many timers fire on the way.
func advance(d time.Duration, want int) step {
	return step{fmt.Sprintf("advance %v (want %d timers)", d, want), func(f *fixture) {
		if got := f.clk.Advance(d); got != want {
			f.t.Fatalf("%d timers fired", got)
		}
	}}
}

// leaveInstance sends a LeaveGroup naming group.instance.id instance
// (and alias's member id, unless alias is empty).
func leaveInstance(alias, instance string, want *kerr.Error) step {
	return step{fmt.Sprintf("leave instance %s (%s): want %v", instance, alias, want), func(f *fixture) {
		top, codes := f.c.Leave(testGroup, []LeaveMember{{MemberID: f.id[alias], InstanceID: &instance}})
		if top != 0 || codes[0] != errCode(want) {
			f.t.Fatalf("codes %d %v", top, codes)
		}
	}}
}

// remember keeps alias's current member id and generation as old (a
// static member's id before its restart).
func remember(alias, old string) step {
	return step{"remember " + alias + " as " + old, func(f *fixture) {
		f.id[old], f.gen[old] = f.id[alias], f.gen[alias]
	}}
}

// commit commits offset off of t-0 as alias in its generation and checks
// the codes and, on success, what FetchOffsets returns (commit time from
// the clock).
func commit(alias string, off int64, want *kerr.Error) step {
	return step{fmt.Sprintf("commit %s offset %d: want %v", alias, off, want), func(f *fixture) {
		tp := TopicPartition{Topic: "t", Partition: 0}
		codes := f.c.Commit(CommitRequest{GroupID: testGroup, Generation: f.gen[alias], MemberID: f.id[alias],
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}})
		if len(codes) != 1 || codes[tp] != errCode(want) {
			f.t.Fatalf("codes %v", codes)
		}
		if want != nil {
			return
		}
		offs, code := f.c.FetchOffsets(testGroup, []TopicPartition{tp})
		if o := offs[tp]; code != 0 || o.Offset != off || o.CommitTime != f.clk.Now().UnixMilli() {
			f.t.Fatalf("fetched %+v (code %d), want offset %d committed at %d", o, code, off, f.clk.Now().UnixMilli())
		}
	}}
}

func topicChanged(topic string) step {
	return step{"partitions of " + topic + " changed", func(f *fixture) { f.c.TopicChanged(topic) }}
}

// want checks the group's state, generation and members (in join order).
func want(state State, gen int32, members ...string) step {
	return step{fmt.Sprintf("want %v gen %d members %v", state, gen, members), func(f *fixture) {
		g := f.group()
		if g == nil {
			f.t.Fatal("no group")
		}
		g.lock()
		defer g.unlock()
		var got []string
		for _, id := range g.order {
			got = append(got, f.alias(id))
		}
		if g.state != state || g.generation != gen || !slices.Equal(got, members) {
			f.t.Fatalf("%v gen %d members %v", g.state, g.generation, got)
		}
	}}
}

// wantTimers checks how many timers are armed: one session timer per
// member, plus the rebalance timer while a rebalance is open.
func wantTimers(n int) step {
	return step{fmt.Sprintf("want %d timers armed", n), func(f *fixture) {
		if got := f.clk.Pending(); got != n {
			f.t.Fatalf("%d armed", got)
		}
	}}
}

// stable is the common prefix: members join one after another in one
// generation (no initial delay), the leader (the first) syncs, everyone
// gets its assignment.
func stable(aliases ...string) []step {
	var s []step
	s = append(s, join(aliases[0]), wantJoin(aliases[0], nil, 1, aliases[0], aliases[0]), syncGroup(aliases[0]), wantSync(aliases[0], nil))
	gen := int32(1)
	for i, a := range aliases[1:] {
		// Each newcomer rebalances the group: everyone rejoins.
		gen++
		s = append(s, join(a))
		members := aliases[:i+2]
		for _, m := range members[:len(members)-1] {
			s = append(s, join(m))
		}
		for _, m := range members {
			s = append(s, wantJoin(m, nil, gen, aliases[0], leaderView(m, aliases[0], members)...))
		}
		for _, m := range members {
			s = append(s, syncGroup(m))
		}
		for _, m := range members {
			s = append(s, wantSync(m, nil))
		}
	}
	return append(s, want(Stable, gen, aliases...))
}

// leaderView is the member list a JoinGroup answer carries: all members
// for the leader, none for the others.
func leaderView(m, leader string, members []string) []string {
	if m == leader {
		return members
	}
	return nil
}

// alias names a member id by its client id, "client-<alias>", which the
// coordinator puts before the unique part of the ids it hands out.
func (f *fixture) alias(id string) string {
	rest, ok := strings.CutPrefix(id, "client-")
	i := strings.LastIndexByte(rest, '-')
	if !ok || i < 0 {
		return "?" + id
	}
	return rest[:i]
}

func errCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("steps: %T", p))
		}
	}
	return out
}

func TestCoordinatorStateMachine(t *testing.T) {
	noDelay := Config{InitialRebalanceDelay: -1}
	static := func(inst string) joinOpts { return joinOpts{instance: inst} }
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "one member: join, sync, heartbeat",
			cfg:  noDelay,
			steps: steps(
				join("a"), wantJoin("a", nil, 1, "a", "a"), want(CompletingRebalance, 1, "a"),
				heartbeat("a", nil),
				syncGroup("a"), wantSync("a", nil), want(Stable, 1, "a"),
				heartbeat("a", nil), wantTimers(1),
				// The leader rejoining in Stable starts a new generation
				// (it may want to reassign).
				join("a"), wantJoin("a", nil, 2, "a", "a"), want(CompletingRebalance, 2, "a"),
			),
		},
		{
			name: "initial rebalance delay gathers members into one generation",
			cfg:  Config{InitialRebalanceDelay: 3 * time.Second},
			steps: steps(
				join("a"), wantJoinPending("a"), want(PreparingRebalance, 0, "a"),
				advance(time.Second, 0),
				// b extends the delay to 3 s after its join (t=4s).
				join("b"), wantJoinPending("a"), wantJoinPending("b"),
				advance(2999*time.Millisecond, 0), wantJoinPending("a"),
				advance(time.Millisecond, 1),
				wantJoin("a", nil, 1, "a", "a", "b"), wantJoin("b", nil, 1, "a"),
				want(CompletingRebalance, 1, "a", "b"),
			),
		},
		{
			name: "initial delay is capped by the rebalance timeout",
			cfg:  Config{InitialRebalanceDelay: 3 * time.Second},
			steps: steps(
				join("a"), advance(2*time.Second, 0),
				join("b"), advance(2*time.Second, 0),
				join("c"), advance(999*time.Millisecond, 0), wantJoinPending("a"),
				// t=5s: a's rebalance deadline (5 s) ends the delay.
				advance(time.Millisecond, 1),
				wantJoin("a", nil, 1, "a", "a", "b", "c"), wantJoin("b", nil, 1, "a"), wantJoin("c", nil, 1, "a"),
			),
		},
		{
			name: "follower's sync waits for the leader's assignments",
			cfg:  noDelay,
			steps: steps(
				join("a"), wantJoin("a", nil, 1, "a", "a"),
				join("b"), wantJoinPending("b"), want(PreparingRebalance, 1, "a", "b"),
				heartbeat("a", kerr.RebalanceInProgress),
				join("a"), wantJoin("a", nil, 2, "a", "a", "b"), wantJoin("b", nil, 2, "a"),
				syncGroup("b"), wantSyncPending("b"),
				syncGroup("a"), wantSync("a", nil), wantSync("b", nil),
				want(Stable, 2, "a", "b"), wantTimers(2),
				// A follower rejoining unchanged (it lost the answer) gets
				// the current generation back; nothing rebalances.
				join("b"), wantJoin("b", nil, 2, "a"), want(Stable, 2, "a", "b"),
				heartbeat("a", nil),
			),
		},
		{
			name: "sync and heartbeat with a stale generation or unknown member",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				heartbeatGen("a", 1, kerr.IllegalGeneration),
				heartbeatGen("a", 3, kerr.IllegalGeneration),
				step{"heartbeat from a stranger", func(f *fixture) {
					if got := f.c.Heartbeat(testGroup, "nobody", nil, 2); got != kerr.UnknownMemberID.Code {
						f.t.Fatalf("code %v", kerr.ErrorForCode(got))
					}
					if got := f.c.Heartbeat("other-group", "nobody", nil, 2); got != kerr.UnknownMemberID.Code {
						f.t.Fatalf("unknown group: code %v", kerr.ErrorForCode(got))
					}
				}},
				want(Stable, 2, "a", "b"),
			),
		},
		{
			name: "session timeout removes a silent member; the rest rebalance",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				advance(9*time.Second, 0),
				heartbeat("a", nil), // a's session now ends at t=19s, b's at t=10s
				advance(time.Second, 1),
				want(PreparingRebalance, 2, "a"),
				heartbeat("a", kerr.RebalanceInProgress),
				join("a"), wantJoin("a", nil, 3, "a", "a"),
				syncGroup("a"), wantSync("a", nil), want(Stable, 3, "a"),
				heartbeat("b", kerr.UnknownMemberID),
			),
		},
		{
			name: "offset commits: by a member of the current generation, not while assignments are pending",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				advance(time.Second, 0),
				commit("a", 42, nil),
				// While generation 3 forms, members may still commit what
				// they consumed in generation 2 (as Kafka allows).
				remember("b", "b-gen2"), join("c"), advance(time.Second, 0),
				commit("a", 43, nil),
				join("a"), join("b"), wantJoin("a", nil, 3, "a", "a", "b", "c"),
				wantJoin("b", nil, 3, "a"), wantJoin("c", nil, 3, "a"),
				commit("b", 44, kerr.RebalanceInProgress), // CompletingRebalance
				commit("b-gen2", 44, kerr.IllegalGeneration),
				syncGroup("b"), syncGroup("c"), syncGroup("a"),
				wantSync("a", nil), wantSync("b", nil), wantSync("c", nil),
				commit("b", 44, nil),
			),
		},
		{
			name: "heartbeats keep a member alive across many session timeouts",
			cfg:  noDelay,
			steps: func() []step {
				s := steps(stable("a"))
				for range 10 {
					s = append(s, advance(testSession-time.Millisecond, 0), heartbeat("a", nil))
				}
				return append(s, want(Stable, 1, "a"), advance(testSession, 1), want(Empty, 2))
			}(),
		},
		{
			name: "rebalance timeout drops members that do not rejoin",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				join("c"), want(PreparingRebalance, 2, "a", "b", "c"),
				join("a"), wantJoinPending("a"),
				heartbeat("b", kerr.RebalanceInProgress), // b keeps its session but never rejoins
				advance(testRebalance-time.Millisecond, 0), wantJoinPending("c"),
				advance(time.Millisecond, 1),
				wantJoin("a", nil, 3, "a", "a", "c"), wantJoin("c", nil, 3, "a"),
				want(CompletingRebalance, 3, "a", "c"),
				heartbeat("b", kerr.UnknownMemberID),
				syncGroup("c"), syncGroup("a"), wantSync("a", nil), wantSync("c", nil), want(Stable, 3, "a", "c"),
			),
		},
		{
			name: "rebalance timeout with nobody rejoining empties the group",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				topicChanged("t"), want(PreparingRebalance, 2, "a", "b"),
				advance(testRebalance, 1),
				want(Empty, 3), wantTimers(0),
			),
		},
		{
			name: "a new member's join fails the followers' pending syncs",
			cfg:  noDelay,
			steps: steps(
				join("a"), wantJoin("a", nil, 1, "a", "a"),
				join("b"), join("a"), wantJoin("a", nil, 2, "a", "a", "b"), wantJoin("b", nil, 2, "a"),
				syncGroup("b"), wantSyncPending("b"),
				join("c"), wantSync("b", kerr.RebalanceInProgress), want(PreparingRebalance, 2, "a", "b", "c"),
			),
		},
		{
			name: "leaving rebalances the rest; the last one out empties the group",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				leave("b", nil), want(PreparingRebalance, 2, "a"),
				leave("b", kerr.UnknownMemberID),
				join("a"), wantJoin("a", nil, 3, "a", "a"),
				syncGroup("a"), wantSync("a", nil), want(Stable, 3, "a"),
				leave("a", nil), want(Empty, 4), wantTimers(0),
			),
		},
		{
			name: "a member leaving during the join phase completes it",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				join("a"), wantJoinPending("a"), want(PreparingRebalance, 2, "a", "b"),
				leave("b", nil),
				wantJoin("a", nil, 3, "a", "a"), want(CompletingRebalance, 3, "a"),
			),
		},
		{
			name: "session expiry of the leader during sync rebalances",
			cfg:  noDelay,
			steps: steps(
				join("a"), wantJoin("a", nil, 1, "a", "a"),
				join("b"), join("a"), wantJoin("a", nil, 2, "a", "a", "b"), wantJoin("b", nil, 2, "a"),
				syncGroup("b"), wantSyncPending("b"),
				// The leader never syncs: its session ends at t=10s, and
				// b's too (re-armed by its sync, so it fires second). a's
				// expiry rebalances, which answers b's pending sync; then
				// b expires without having rejoined and the group empties.
				advance(testSession, 2),
				wantSync("b", kerr.RebalanceInProgress),
				want(Empty, 3), wantTimers(0),
			),
		},
		{
			name: "JoinGroup v4: MEMBER_ID_REQUIRED, then join with the id",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", joinOpts{requireID: true}), wantJoin("a", kerr.MemberIDRequired, 0, ""),
				step{"no group member yet", func(f *fixture) {
					if d := f.c.Describe(testGroup); len(d.Members) != 0 {
						f.t.Fatalf("members %+v", d.Members)
					}
				}},
				joinWith("a", joinOpts{requireID: true}), wantJoin("a", nil, 1, "a", "a"),
				joinWith("x", joinOpts{memberID: "made-up"}), wantJoin("x", kerr.UnknownMemberID, 0, ""),
			),
		},
		{
			name: "a pending member id can leave before joining",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", joinOpts{requireID: true}), wantJoin("a", kerr.MemberIDRequired, 0, ""),
				leave("a", nil),
				joinWith("a", joinOpts{requireID: true}), wantJoin("a", kerr.UnknownMemberID, 0, ""),
			),
		},
		{
			name: "join refusals: session timeout bounds, protocol mismatch",
			cfg:  Config{InitialRebalanceDelay: -1, MaxSessionTimeout: time.Minute},
			steps: steps(
				joinWith("a", joinOpts{session: 500 * time.Millisecond}), wantJoin("a", kerr.InvalidSessionTimeout, 0, ""),
				joinWith("a", joinOpts{session: 2 * time.Minute}), wantJoin("a", kerr.InvalidSessionTimeout, 0, ""),
				join("a"), wantJoin("a", nil, 1, "a", "a"),
				joinWith("b", joinOpts{protoType: "connect"}), wantJoin("b", kerr.InconsistentGroupProtocol, 0, ""),
				joinWith("b", joinOpts{protocols: []Protocol{{Name: "roundrobin", Metadata: consumerMeta("t")}}}),
				wantJoin("b", kerr.InconsistentGroupProtocol, 0, ""),
				want(CompletingRebalance, 1, "a"),
			),
		},
		{
			name: "a static member restarting unchanged gets its assignment back without a rebalance",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", static("ia")), wantJoin("a", nil, 1, "a", "a"),
				syncGroup("a"), wantSync("a", nil), want(Stable, 1, "a"),
				remember("a", "a-old"),
				joinWith("a", static("ia")), wantJoin("a", nil, 1, "a"), // a new id, the same generation
				want(Stable, 1, "a"), wantTimers(1),
				syncGroup("a"), wantSync("a", nil), // the old id's assignment
				// The old id is fenced when it names the instance, unknown
				// otherwise.
				heartbeatAs("a-old", "ia", kerr.FencedInstanceID),
				heartbeat("a-old", kerr.UnknownMemberID),
				joinWith("a-old", joinOpts{instance: "ia", as: "a-old"}), wantJoin("a-old", kerr.FencedInstanceID, 0, ""),
				heartbeatAs("a", "ia", nil),
			),
		},
		{
			name: "a static member restarting with other subscriptions rebalances",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", static("ia")), wantJoin("a", nil, 1, "a", "a"),
				join("b"), joinWith("a", joinOpts{instance: "ia", as: "a"}),
				wantJoin("a", nil, 2, "a", "a", "b"), wantJoin("b", nil, 2, "a"),
				syncGroup("a"), syncGroup("b"), wantSync("a", nil), wantSync("b", nil), want(Stable, 2, "a", "b"),
				joinWith("a", joinOpts{instance: "ia", protocols: []Protocol{{Name: "range", Metadata: consumerMeta("t", "u")}}}),
				wantJoinPending("a"), want(PreparingRebalance, 2, "b", "a"),
				join("b"), wantJoin("a", nil, 3, "a", "b", "a"), wantJoin("b", nil, 3, "a"),
			),
		},
		{
			name: "a static member leaves by instance id",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", static("ia")), wantJoin("a", nil, 1, "a", "a"),
				join("b"), joinWith("a", joinOpts{instance: "ia", as: "a"}),
				wantJoin("a", nil, 2, "a", "a", "b"), wantJoin("b", nil, 2, "a"),
				leaveInstance("", "nope", kerr.UnknownMemberID),
				leaveInstance("b", "ia", kerr.FencedInstanceID),
				leaveInstance("", "ia", nil),
				want(PreparingRebalance, 2, "b"),
				join("b"), wantJoin("b", nil, 3, "b", "b"),
			),
		},
		{
			name: "partition growth rebalances groups subscribed to the topic",
			cfg:  noDelay,
			steps: steps(stable("a", "b"),
				topicChanged("u"), want(Stable, 2, "a", "b"),
				topicChanged("t"), want(PreparingRebalance, 2, "a", "b"),
				heartbeat("b", kerr.RebalanceInProgress),
				topicChanged("t"), want(PreparingRebalance, 2, "a", "b"), // already rebalancing
				join("b"), join("a"), wantJoin("a", nil, 3, "a", "a", "b"), wantJoin("b", nil, 3, "a"),
				// During CompletingRebalance too: b's pending sync is failed.
				syncGroup("b"), wantSyncPending("b"),
				topicChanged("t"), wantSync("b", kerr.RebalanceInProgress), want(PreparingRebalance, 3, "a", "b"),
			),
		},
		{
			name: "partition growth leaves non-consumer groups alone",
			cfg:  noDelay,
			steps: steps(
				joinWith("a", joinOpts{protoType: "connect"}), wantJoin("a", nil, 1, "a", "a"),
				syncGroup("a"), wantSync("a", nil),
				topicChanged("t"), want(Stable, 1, "a"),
			),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.cfg)
			for i, s := range tc.steps {
				t.Logf("step %d: %s", i, s.desc)
				s.do(f)
				if t.Failed() {
					return
				}
			}
		})
	}
}
