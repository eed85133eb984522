package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupCommandsEndToEnd(t *testing.T) {
	addr := startSluice(t)
	brokers := "--brokers=" + addr
	t.Setenv("SLUICE_BROKERS", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if got := mustSluice(t, "group", "list", brokers); got != "No groups.\n" {
		t.Errorf("list with no groups: got %q", got)
	}

	mustSluice(t, "topic", "create", "orders", "--partitions", "3", brokers)
	produceToPartition(t, addr, "orders", 0, 5)
	produceToPartition(t, addr, "orders", 1, 3)

	adm := newTestAdmin(t, addr)
	// A tool's commit (no members) creates an Empty group with no protocol.
	toolCommit := kadm.Offsets{}
	toolCommit.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 2, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "tool", toolCommit); err != nil {
		t.Fatalf("commit for tool: %v", err)
	}

	// Two range members: member ids start with the client id, and range
	// gives the lower member id partitions 0 and 1 of 3.
	a := startCommittingConsumer(ctx, t, addr, "billing", "billing-a", "orders")
	b := startCommittingConsumer(ctx, t, addr, "billing", "billing-b", "orders")
	members := waitGroup(ctx, t, adm, "billing", func(g kadm.DescribedGroup) bool {
		return g.State == "Stable" && len(g.Members) == 2 && len(g.AssignedPartitions()["orders"]) == 3
	}).Members
	aID, bID := members[0].MemberID, members[1].MemberID
	if !strings.HasPrefix(aID, "billing-a-") || !strings.HasPrefix(bID, "billing-b-") {
		t.Fatalf("member ids %q, %q: want billing-a-… and billing-b-…", aID, bID)
	}
	waitCommitted(ctx, t, adm, "billing", map[int32]int64{0: 5, 1: 3})

	out := mustSluice(t, "group", "describe", "billing", brokers)
	wantLines(t, "describe stable billing", out,
		`Group: +billing`,
		`Type: +classic`,
		`State: +Stable`,
		`Protocol type: +consumer`,
		`Protocol: +range`,
		`Members: +2`,
		`MEMBER-ID +INSTANCE-ID +CLIENT-ID +HOST +ASSIGNMENT`,
		regexp.QuoteMeta(aID)+` +- +billing-a +/127\.0\.0\.1 +orders:0,1`,
		regexp.QuoteMeta(bID)+` +- +billing-b +/127\.0\.0\.1 +orders:2`,
		`TOPIC +PARTITION +COMMITTED +LOG-END +LAG +MEMBER-ID`,
		`orders +0 +5 +5 +0 +`+regexp.QuoteMeta(aID),
		`orders +1 +3 +3 +0 +`+regexp.QuoteMeta(aID),
		// Nothing was ever produced to (or committed for) partition 2.
		`orders +2 +- +0 +0 +`+regexp.QuoteMeta(bID),
	)

	wantList := "" +
		"GROUP    TYPE     STATE   PROTOCOL-TYPE\n" +
		"billing  classic  Stable  consumer\n" +
		"tool     classic  Empty   -\n"
	if got := mustSluice(t, "group", "list", brokers); got != wantList {
		t.Errorf("list:\n got %q\nwant %q", got, wantList)
	}

	// Once the members leave, the group is Empty and records produced since
	// show up as lag on the committed partitions.
	a.close()
	b.close()
	waitGroup(ctx, t, adm, "billing", func(g kadm.DescribedGroup) bool { return g.State == "Empty" })
	produceToPartition(t, addr, "orders", 0, 4)
	out = mustSluice(t, "group", "describe", "billing", brokers)
	wantLines(t, "describe empty billing", out,
		`Group: +billing`,
		`Type: +classic`,
		`State: +Empty`,
		`Protocol type: +consumer`,
		`Protocol: +-`,
		`Members: +0`,
		`TOPIC +PARTITION +COMMITTED +LOG-END +LAG +MEMBER-ID`,
		`orders +0 +5 +9 +4 +-`,
		`orders +1 +3 +3 +0 +-`,
	)

	out = mustSluice(t, "group", "describe", "tool", brokers)
	wantLines(t, "describe tool", out,
		`Group: +tool`,
		`Type: +classic`,
		`State: +Empty`,
		`Protocol type: +-`,
		`Protocol: +-`,
		`Members: +0`,
		`TOPIC +PARTITION +COMMITTED +LOG-END +LAG +MEMBER-ID`,
		`orders +1 +2 +3 +1 +-`,
	)

	// A consumer (KIP-848) group: one member with the new protocol.
	n := startCommittingConsumer(ctx, t, addr, "nextgen", "nextgen-a", "orders", kgo.ServerSideBalancer())
	waitCommitted(ctx, t, adm, "nextgen", map[int32]int64{0: 9, 1: 3})
	out = mustSluice(t, "group", "describe", "nextgen", brokers)
	wantLines(t, "describe consumer group", out,
		`Group: +nextgen`,
		`Type: +consumer`,
		`State: +Stable`,
		`Protocol type: +consumer`,
		`Protocol: +range`,
		`Group epoch: +1`,
		`Assignment epoch: +1`,
		`Assignor: +range`,
		`Members: +1`,
		`MEMBER-ID +INSTANCE-ID +CLIENT-ID +HOST +MEMBER-EPOCH +ASSIGNMENT +TARGET`,
		`\S+ +- +nextgen-a +/127\.0\.0\.1 +1 +orders:0,1,2 +orders:0,1,2`,
		`TOPIC +PARTITION +COMMITTED +LOG-END +LAG +MEMBER-ID`,
		`orders +0 +9 +9 +0 +\S+`,
		`orders +1 +3 +3 +0 +\S+`,
		`orders +2 +- +0 +0 +\S+`,
	)
	if got := mustSluice(t, "group", "list", brokers); !strings.Contains(got, "nextgen  consumer  Stable  consumer\n") {
		t.Errorf("list with a consumer group:\n%s", got)
	}
	n.close()

	r := runSluice("group", "describe", "nope", brokers)
	wantPrefix := `sluice: describe group "nope": GROUP_ID_NOT_FOUND`
	if r.code != exitError || r.stdout != "" || !strings.HasPrefix(r.stderr, wantPrefix) {
		t.Errorf("describe unknown group: exit %d stdout %q stderr %q, want exit 1 and %q", r.code, r.stdout, r.stderr, wantPrefix)
	}
}

func TestGroupCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"group"}, "sluice: group: missing subcommand"},
		{[]string{"group", "delete"}, `sluice: group: unknown subcommand "delete"`},
		{[]string{"group", "describe"}, "sluice: group describe: want 1 argument(s) (GROUP), got 0"},
		{[]string{"group", "list", "extra"}, "sluice: group list: want 0 argument(s) (), got 1"},
	} {
		r := runSluice(tc.args...)
		if r.code != exitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, tc.want+"\n") {
			t.Errorf("sluice %s: exit %d stdout %q stderr %q, want exit 2 and %q",
				strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

// wantLines fails unless out has exactly the given lines (regular
// expressions for whole lines, blank lines ignored), in this order.
func wantLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != len(patterns) {
		t.Errorf("%s: %d lines, want %d:\n%s", what, len(lines), len(patterns), out)
		return
	}
	for i, p := range patterns {
		if !regexp.MustCompile(`^` + p + `$`).MatchString(lines[i]) {
			t.Errorf("%s: line %d is %q, want /%s/ in:\n%s", what, i+1, lines[i], p, out)
		}
	}
}

func newTestAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// committingConsumer is a kgo group member that commits everything it
// polled before it lets a rebalance proceed.
type committingConsumer struct {
	cl        *kgo.Client
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

func startCommittingConsumer(ctx context.Context, t *testing.T, addr, group, clientID, topic string, opts ...kgo.Opt) *committingConsumer {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.HeartbeatInterval(250 * time.Millisecond),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	pollCtx, stop := context.WithCancel(ctx)
	c := &committingConsumer{cl: cl, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for pollCtx.Err() == nil {
			fs := cl.PollFetches(pollCtx)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s: fetch %s[%d]: %v", clientID, topic, p, err)
				}
			})
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Errorf("%s: commit: %v", clientID, err)
			}
			cl.AllowRebalance()
		}
	}()
	t.Cleanup(c.close)
	return c
}

// close stops polling and leaves the group.
func (c *committingConsumer) close() {
	c.closeOnce.Do(func() {
		c.stop()
		<-c.done
		c.cl.Close()
	})
}

// waitGroup polls DescribeGroups until ok accepts the group.
func waitGroup(ctx context.Context, t *testing.T, adm *kadm.Client, group string, ok func(kadm.DescribedGroup) bool) kadm.DescribedGroup {
	t.Helper()
	var last kadm.DescribedGroup
	for {
		groups, err := adm.DescribeGroups(ctx, group)
		if err == nil {
			last = groups[group]
			if ok(last) {
				return last
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s: condition not met; last described %+v (err %v)", group, last, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitCommitted polls until the group's commits on "orders" are exactly want.
func waitCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, group string, want map[int32]int64) {
	t.Helper()
	var got map[int32]int64
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			got = map[int32]int64{}
			offs.Each(func(o kadm.OffsetResponse) { got[o.Partition] = o.At })
			if fmt.Sprint(got) == fmt.Sprint(want) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s: committed %v, want %v (err %v)", group, got, want, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
