package itest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupServeFlags make group tests fast: no initial rebalance delay (Kafka
// waits 3s for more members), session timeouts down to 1s so a killed
// member is noticed quickly, and a small __consumer_offsets.
var groupServeFlags = []string{
	"--group-initial-rebalance-delay=-1ms",
	"--group-min-session-timeout=1s",
	"--offsets-topic-partitions=4",
}

// groupBroker is a harness broker started with groupServeFlags (every
// incarnation gets them).
type groupBroker struct{ *broker }

// startGroupBroker is startBroker with groupServeFlags.
func startGroupBroker(t *testing.T) *groupBroker {
	t.Helper()
	return &groupBroker{startBroker(t, brokerOptions{ExtraArgs: groupServeFlags})}
}

// KillAndRestart SIGKILLs the broker and starts it again.
func (g *groupBroker) KillAndRestart() {
	g.Kill()
	g.Start()
}

// delivery is one record as a group member handed it to the application.
type delivery struct {
	member    string
	partition int32
	offset    int64
	value     string
}

// deliveries collects what every member of a group consumed, so a test can
// prove each record was delivered exactly once across members.
type deliveries struct {
	mu  sync.Mutex
	all []delivery
}

func (d *deliveries) add(x delivery) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.all = append(d.all, x)
}

func (d *deliveries) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.all)
}

func (d *deliveries) snapshot() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.all)
}

// waitCount waits until at least n deliveries arrived.
func (d *deliveries) waitCount(ctx context.Context, t testing.TB, n int) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("%d deliveries", n), func() string {
		if got := d.count(); got < n {
			return fmt.Sprintf("%d so far", got)
		}
		return ""
	})
}

// waitUntil polls check until it returns "" (done) or ctx ends; check's
// last answer says what was still missing.
func waitUntil(ctx context.Context, t testing.TB, what string, check func() string) {
	t.Helper()
	for {
		missing := check()
		if missing == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; %s", what, ctx.Err(), missing)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// groupMember is a kgo consumer group member that commits everything it
// polled before it lets a rebalance proceed (BlockRebalanceOnPoll), so no
// record is handed to two members.
type groupMember struct {
	name      string
	cl        *kgo.Client
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// memberOpts are the kgo options of every test member: manual commits,
// quick heartbeats so members notice rebalances fast, short fetch waits.
func memberOpts(group, clientID string, topics ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}
}

// startMember joins group as clientID and records what it consumes into
// into until closed. ctx bounds its commits.
func startMember(ctx context.Context, t testing.TB, b *broker, group, clientID, topic string, into *deliveries, opts ...kgo.Opt) *groupMember {
	t.Helper()
	cl := newClient(t, b, append(memberOpts(group, clientID, topic), opts...)...)
	pollCtx, stop := context.WithCancel(ctx)
	m := &groupMember{name: clientID, cl: cl, stop: stop, done: make(chan struct{})}
	go m.run(ctx, pollCtx, t, into)
	t.Cleanup(m.Close)
	return m
}

func (m *groupMember) run(ctx, pollCtx context.Context, t testing.TB, into *deliveries) {
	defer close(m.done)
	for pollCtx.Err() == nil {
		fs := m.cl.PollFetches(pollCtx)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				t.Errorf("member %s: fetch %s[%d]: %v", m.name, topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			into.add(delivery{member: m.name, partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		})
		// Commit with the test's context, not pollCtx: a Close right after
		// a poll must still commit what that poll returned.
		if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Errorf("member %s: commit: %v", m.name, err)
		}
		m.cl.AllowRebalance()
	}
}

// Close stops polling (after committing the last poll) and leaves the group.
func (m *groupMember) Close() {
	m.closeOnce.Do(func() {
		m.stop()
		<-m.done
		m.cl.Close()
	})
}

// produceNumbered writes records from..to-1 of topic: record i goes to
// partition i%partitions with value "<prefix>-<i>", so its offset is
// i/partitions when a topic is filled only this way from 0. Batches are
// uncompressed so every client reads them (Debian's kafka-python has no
// snappy, kgo's default).
func produceNumbered(ctx context.Context, t testing.TB, b *broker, topic, prefix string, partitions int32, from, to int) {
	t.Helper()
	cl := newClient(t, b, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	defer cl.Close()
	rs := make([]*kgo.Record, 0, to-from)
	for i := from; i < to; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
	}
	produceSync(ctx, t, cl, rs...)
}

// checkNumbered verifies got holds records from..to-1 of produceNumbered
// exactly once each, at their partition and offset (topic filled from 0).
func checkNumbered(t testing.TB, what string, got []delivery, prefix string, partitions int32, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Errorf("%s: %d deliveries, want %d", what, len(got), to-from)
	}
	seen := make(map[string]int, len(got))
	for _, d := range got {
		seen[d.value]++
	}
	for i := from; i < to; i++ {
		v := fmt.Sprintf("%s-%d", prefix, i)
		if seen[v] != 1 {
			t.Fatalf("%s: record %s delivered %d times, want once", what, v, seen[v])
		}
	}
	for _, d := range got {
		var i int
		if _, err := fmt.Sscanf(d.value, prefix+"-%d", &i); err != nil || i < from || i >= to {
			t.Fatalf("%s: unexpected record %q (member %s, %d@%d)", what, d.value, d.member, d.partition, d.offset)
		}
		if d.partition != int32(i)%partitions || d.offset != int64(i)/int64(partitions) {
			t.Fatalf("%s: record %s at %d@%d, want %d@%d", what, d.value, d.partition, d.offset, int32(i)%partitions, int64(i)/int64(partitions))
		}
	}
}

// perMember counts deliveries by member.
func perMember(got []delivery) map[string]int {
	out := map[string]int{}
	for _, d := range got {
		out[d.member]++
	}
	return out
}

// waitAssignment polls DescribeGroups until group is Stable with exactly
// the members named by clientIDs, every partition of topic assigned to
// exactly one of them, balanced. It returns each client's sorted partitions
// and member id.
func waitAssignment(ctx context.Context, t testing.TB, adm *kadm.Client, group, topic string, partitions int32, clientIDs ...string) (assigned map[string][]int32, memberIDs map[string]string) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("group %s stable with %v over %d partitions", group, clientIDs, partitions), func() string {
		described, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return err.Error()
		}
		g := described[group]
		assigned, memberIDs = map[string][]int32{}, map[string]string{}
		owners := map[int32]int{}
		for _, m := range g.Members {
			memberIDs[m.ClientID] = m.MemberID
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, at := range a.Topics {
					if at.Topic == topic {
						assigned[m.ClientID] = append(assigned[m.ClientID], at.Partitions...)
						for _, p := range at.Partitions {
							owners[p]++
						}
					}
				}
			}
			slices.Sort(assigned[m.ClientID])
		}
		state := fmt.Sprintf("state %s, assignment %v", g.State, assigned)
		if g.State != "Stable" || len(g.Members) != len(clientIDs) || len(owners) != int(partitions) {
			return state
		}
		// Balanced: partition counts differ by at most one.
		low := int(partitions) / len(clientIDs)
		high := (int(partitions) + len(clientIDs) - 1) / len(clientIDs)
		for _, id := range clientIDs {
			if n := len(assigned[id]); n < low || n > high {
				return state
			}
		}
		for p, n := range owners {
			if p < 0 || p >= partitions || n != 1 {
				return state
			}
		}
		return ""
	})
	return assigned, memberIDs
}

// committed fetches group's committed offsets on topic.
func committed(ctx context.Context, t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range offs[topic] {
		if o.Err != nil {
			t.Fatalf("FetchOffsets %s %s[%d]: %v", group, topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

// wantCommitted fails unless group's commits on topic are exactly want.
func wantCommitted(ctx context.Context, t testing.TB, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	if got := committed(ctx, t, adm, group, topic); !mapsEqual(got, want) {
		t.Fatalf("group %s committed %v on %s, want %v", group, got, topic, want)
	}
}

// waitCommitted waits until group's commits on topic are exactly want.
func waitCommitted(ctx context.Context, t testing.TB, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	waitUntil(ctx, t, fmt.Sprintf("group %s commits %v on %s", group, want, topic), func() string {
		if got := committed(ctx, t, adm, group, topic); !mapsEqual(got, want) {
			return fmt.Sprintf("committed %v", got)
		}
		return ""
	})
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// uniform is {0: n, 1: n, ...} for partitions partitions.
func uniform(partitions int32, n int64) map[int32]int64 {
	out := make(map[int32]int64, partitions)
	for p := range partitions {
		out[p] = n
	}
	return out
}

// describeGroup describes one group and fails on any error.
func describeGroup(ctx context.Context, t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("DescribeGroups %s: %v", group, err)
	}
	g, ok := described[group]
	if !ok {
		t.Fatalf("DescribeGroups %s: group missing from response", group)
	}
	if g.Err != nil {
		t.Fatalf("DescribeGroups %s: %v", group, g.Err)
	}
	return g
}

// TestGroupBalancers: three franz-go members share six partitions with an
// eager (range, round-robin) or the cooperative-sticky balancer. 30,000
// records, half produced while members join and rebalance, half once the
// group is stable, are each delivered once; commits reach the log end; after
// every member left, a new member reads only records produced since.
func TestGroupBalancers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		protocol string
		balancer func() kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer},
		{"roundrobin", kgo.RoundRobinBalancer},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			t.Parallel()
			const (
				topic      = "balanced"
				group      = "balanced-group"
				partitions = 6
				total      = 30000
				later      = 600
			)
			ctx := testContext(t, 90*time.Second)
			b := startGroupBroker(t)
			adm := newAdmin(t, b.broker)
			createTopic(ctx, t, adm, topic, partitions, nil)

			produceNumbered(ctx, t, b.broker, topic, "r", partitions, 0, total/2)
			consumed := &deliveries{}
			names := []string{"member-a", "member-b", "member-c"}
			var members []*groupMember
			for _, name := range names {
				members = append(members, startMember(ctx, t, b.broker, group, name, topic, consumed, kgo.Balancers(tc.balancer())))
			}
			waitAssignment(ctx, t, adm, group, topic, partitions, names...)
			if g := describeGroup(ctx, t, adm, group); g.Protocol != tc.protocol || g.ProtocolType != "consumer" {
				t.Fatalf("group protocol %q/%q, want consumer/%s", g.ProtocolType, g.Protocol, tc.protocol)
			}
			produceNumbered(ctx, t, b.broker, topic, "r", partitions, total/2, total)
			consumed.waitCount(ctx, t, total)
			for _, m := range members {
				m.Close()
			}
			got := consumed.snapshot()
			checkNumbered(t, "group", got, "r", partitions, 0, total)
			counts := perMember(got)
			for _, name := range names {
				// The second half spreads over all six partitions.
				if counts[name] == 0 {
					t.Errorf("member %s consumed nothing; per member: %v", name, counts)
				}
			}
			wantCommitted(ctx, t, adm, group, topic, uniform(partitions, total/partitions))
			if g := describeGroup(ctx, t, adm, group); g.State != "Empty" || len(g.Members) != 0 {
				t.Fatalf("after all members left: state %s with %d members, want Empty with 0", g.State, len(g.Members))
			}

			produceNumbered(ctx, t, b.broker, topic, "r", partitions, total, total+later)
			consumed = &deliveries{}
			late := startMember(ctx, t, b.broker, group, "member-late", topic, consumed, kgo.Balancers(tc.balancer()))
			consumed.waitCount(ctx, t, later)
			late.Close()
			checkNumbered(t, "new member", consumed.snapshot(), "r", partitions, total, total+later)
			wantCommitted(ctx, t, adm, group, topic, uniform(partitions, (total+later)/partitions))
		})
	}
}

// TestGroupCreatePartitions: partitions added to a consumed topic are
// assigned to the group (the broker rebalances it; kgo also notices through
// metadata) and their records consumed.
func TestGroupCreatePartitions(t *testing.T) {
	t.Parallel()
	const (
		topic = "growing"
		group = "growing-group"
	)
	ctx := testContext(t, 60*time.Second)
	b := startGroupBroker(t)
	adm := newAdmin(t, b.broker)
	createTopic(ctx, t, adm, topic, 2, nil)

	consumed := &deliveries{}
	names := []string{"grow-a", "grow-b"}
	for _, name := range names {
		startMember(ctx, t, b.broker, group, name, topic, consumed, kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(500*time.Millisecond))
	}
	waitAssignment(ctx, t, adm, group, topic, 2, names...)
	produceNumbered(ctx, t, b.broker, topic, "old", 2, 0, 200)
	consumed.waitCount(ctx, t, 200)
	checkNumbered(t, "before growing", consumed.snapshot(), "old", 2, 0, 200)

	resp, err := adm.CreatePartitions(ctx, 2, topic)
	if err != nil {
		t.Fatalf("CreatePartitions: %v", err)
	}
	if r := resp[topic]; r.Err != nil {
		t.Fatalf("CreatePartitions %s: %v (%s)", topic, r.Err, r.ErrMessage)
	}
	waitAssignment(ctx, t, adm, group, topic, 4, names...)
	// kgo would rejoin on its own once its metadata shows the new
	// partitions; the broker must not wait for that.
	if logs := b.stderr.String(); !strings.Contains(logs, `partitions of growing changed`) {
		t.Errorf("broker did not rebalance the group for the new partitions itself; its log:\n%s", logs)
	}

	// Records numbered so that each of the four partitions gets 100, the
	// new ones from offset 0; the members keep recording into consumed.
	produceNumbered(ctx, t, b.broker, topic, "new", 4, 0, 400)
	consumed.waitCount(ctx, t, 200+400)
	var afterGrowing []delivery
	for _, d := range consumed.snapshot() {
		if strings.HasPrefix(d.value, "new-") {
			afterGrowing = append(afterGrowing, d)
		}
	}
	if len(afterGrowing) != 400 {
		t.Fatalf("%d records consumed after growing, want 400", len(afterGrowing))
	}
	seen := map[string]bool{}
	inNew := 0
	for _, d := range afterGrowing {
		var i int
		if _, err := fmt.Sscanf(d.value, "new-%d", &i); err != nil || seen[d.value] || d.partition != int32(i%4) {
			t.Fatalf("unexpected or repeated delivery %+v", d)
		}
		seen[d.value] = true
		if d.partition >= 2 {
			inNew++
		}
	}
	if inNew != 200 {
		t.Fatalf("%d records consumed from the new partitions, want 200", inNew)
	}
	waitCommitted(ctx, t, adm, group, topic, map[int32]int64{0: 200, 1: 200, 2: 100, 3: 100})
}

// TestGroupOffsetsSurviveRestart: committed offsets (a member's and a
// tool's, with metadata) are there after a clean restart and after SIGKILL,
// and a member of the group resumes right after them.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		restart func(*groupBroker)
	}{
		{"sigterm", (*groupBroker).Restart},
		{"sigkill", (*groupBroker).KillAndRestart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const (
				topic      = "durable"
				group      = "durable-group"
				toolGroup  = "durable-tool"
				partitions = 3
			)
			ctx := testContext(t, 90*time.Second)
			b := startGroupBroker(t)
			adm := newAdmin(t, b.broker)
			createTopic(ctx, t, adm, topic, partitions, nil)
			produceNumbered(ctx, t, b.broker, topic, "d", partitions, 0, 300)

			consumed := &deliveries{}
			m := startMember(ctx, t, b.broker, group, "durable-member", topic, consumed)
			consumed.waitCount(ctx, t, 300)
			m.Close()
			checkNumbered(t, "before restart", consumed.snapshot(), "d", partitions, 0, 300)
			wantCommitted(ctx, t, adm, group, topic, uniform(partitions, 100))

			toolOffsets := kadm.Offsets{}
			for p, at := range map[int32]int64{0: 7, 1: 42, 2: 99} {
				toolOffsets.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1, Metadata: fmt.Sprintf("meta-%d", p)})
			}
			if err := adm.CommitAllOffsets(ctx, toolGroup, toolOffsets); err != nil {
				t.Fatalf("tool commit: %v", err)
			}

			tc.restart(b)

			adm = newAdmin(t, b.broker)
			wantCommitted(ctx, t, adm, group, topic, uniform(partitions, 100))
			wantCommitted(ctx, t, adm, toolGroup, topic, map[int32]int64{0: 7, 1: 42, 2: 99})
			toolGot, err := adm.FetchOffsets(ctx, toolGroup)
			if err != nil {
				t.Fatalf("FetchOffsets %s: %v", toolGroup, err)
			}
			for p := range int32(partitions) {
				if o, _ := toolGot.Lookup(topic, p); o.Metadata != fmt.Sprintf("meta-%d", p) {
					t.Errorf("tool commit %s[%d] metadata %q after restart, want meta-%d", topic, p, o.Metadata, p)
				}
			}
			if g := describeGroup(ctx, t, adm, group); g.State != "Empty" || g.ProtocolType != "consumer" || len(g.Members) != 0 {
				t.Errorf("after restart: group %s state %s type %q with %d members, want Empty consumer with 0", group, g.State, g.ProtocolType, len(g.Members))
			}

			produceNumbered(ctx, t, b.broker, topic, "d", partitions, 300, 450)
			consumed = &deliveries{}
			m = startMember(ctx, t, b.broker, group, "durable-member", topic, consumed)
			consumed.waitCount(ctx, t, 150)
			m.Close()
			checkNumbered(t, "after restart", consumed.snapshot(), "d", partitions, 300, 450)
			wantCommitted(ctx, t, adm, group, topic, uniform(partitions, 150))
		})
	}
}

// A child group member is this test binary re-executed with these
// variables set: it then runs only runChildMember (see init).
const (
	childBrokerEnv = "ITEST_GROUP_CHILD_BROKER"
	childGroupEnv  = "ITEST_GROUP_CHILD_GROUP"
	childTopicEnv  = "ITEST_GROUP_CHILD_TOPIC"

	childClientID = "group-child"
	// childSessionTimeout is short so the broker notices the SIGKILLed
	// child quickly; groupServeFlags lowers the broker's minimum below it.
	childSessionTimeout = 2 * time.Second
)

func init() {
	// Before TestMain: the child neither builds sluice nor runs tests.
	if addr := os.Getenv(childBrokerEnv); addr != "" {
		os.Exit(runChildMember(addr, os.Getenv(childGroupEnv), os.Getenv(childTopicEnv)))
	}
}

// runChildMember is a group member in its own process. It commits each poll
// before printing its records as "<partition> <offset> <value>" lines, so
// whatever the parent has read is committed. It runs until killed, or until
// its stdin closes because the parent test process is gone.
func runChildMember(addr, group, topic string) int {
	opts := append(memberOpts(group, childClientID, topic), kgo.SeedBrokers(addr), kgo.SessionTimeout(childSessionTimeout))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child member:", err)
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	out := bufio.NewWriter(os.Stdout)
	ctx := context.Background()
	for {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			fmt.Fprintf(os.Stderr, "child member: fetch %s[%d]: %v\n", topic, p, err)
		})
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "child member: commit:", err)
			return 1
		}
		fs.EachRecord(func(r *kgo.Record) {
			fmt.Fprintf(out, "%d %d %s\n", r.Partition, r.Offset, r.Value)
		})
		if err := out.Flush(); err != nil {
			return 1
		}
		cl.AllowRebalance()
	}
}

// childMember is a running child group member process.
type childMember struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser // never written; the child exits when it closes
	stderr *syncBuffer
	read   chan struct{} // closed when its stdout is drained
}

// startChildMember runs a child member of group on topic and records what
// it reports into into.
func startChildMember(t *testing.T, addr, group, topic string, into *deliveries) *childMember {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childBrokerEnv+"="+addr, childGroupEnv+"="+group, childTopicEnv+"="+topic)
	c := &childMember{cmd: cmd, stderr: &syncBuffer{}, read: make(chan struct{})}
	cmd.Stderr = c.stderr
	// Kept referenced: a collected pipe would close and end the child.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child member: %v", err)
	}
	go func() {
		defer close(c.read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var d delivery
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %s", &d.partition, &d.offset, &d.value); err != nil {
				t.Errorf("child member printed %q: %v", sc.Text(), err)
				continue
			}
			d.member = childClientID
			into.add(d)
		}
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("child member stderr:\n%s", c.stderr.String())
		}
	})
	return c
}

// kill SIGKILLs the child (no LeaveGroup) and waits for it.
func (c *childMember) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.read
	_ = c.cmd.Wait()
	_ = c.stdin.Close()
}

// TestGroupMemberKilled: a member in another process is SIGKILLed, so it
// never leaves the group. Once its session times out, the broker drops it
// and its partitions move to the surviving member, which consumes every
// record produced after the kill, starting right after the child's commits.
func TestGroupMemberKilled(t *testing.T) {
	t.Parallel()
	const (
		topic      = "killed"
		group      = "killed-group"
		survivor   = "group-survivor"
		partitions = 4
		batch      = 400
	)
	ctx := testContext(t, 60*time.Second)
	b := startGroupBroker(t)
	adm := newAdmin(t, b.broker)
	createTopic(ctx, t, adm, topic, partitions, nil)

	consumed := &deliveries{}
	child := startChildMember(t, b.Addr(), group, topic, consumed)
	startMember(ctx, t, b.broker, group, survivor, topic, consumed)
	assigned, memberIDs := waitAssignment(ctx, t, adm, group, topic, partitions, childClientID, survivor)
	owner := map[int32]string{}
	for clientID, ps := range assigned {
		for _, p := range ps {
			owner[p] = clientID
		}
	}

	produceNumbered(ctx, t, b.broker, topic, "k", partitions, 0, batch)
	consumed.waitCount(ctx, t, batch)
	child.kill()
	produceNumbered(ctx, t, b.broker, topic, "k", partitions, batch, 2*batch)
	consumed.waitCount(ctx, t, 2*batch)

	got := consumed.snapshot()
	checkNumbered(t, "kill", got, "k", partitions, 0, 2*batch)
	for _, d := range got {
		var i int
		_, _ = fmt.Sscanf(d.value, "k-%d", &i)
		want := survivor
		if i < batch {
			want = owner[d.partition]
		}
		if d.member != want {
			t.Fatalf("record %s (partition %d) consumed by %s, want %s", d.value, d.partition, d.member, want)
		}
	}
	waitAssignment(ctx, t, adm, group, topic, partitions, survivor)
	expired := regexp.MustCompile(`msg="member session expired".* member=` + regexp.QuoteMeta(memberIDs[childClientID]) + `\b`)
	if logs := b.stderr.String(); !expired.MatchString(logs) {
		t.Errorf("broker log does not say member %s's session expired:\n%s", memberIDs[childClientID], logs)
	}
	// The survivor commits right after recording a poll.
	waitCommitted(ctx, t, adm, group, topic, uniform(partitions, 2*batch/partitions))
}
