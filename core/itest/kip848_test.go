package itest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KIP-848 consumer groups with real franz-go clients using the new
// protocol (kgo.ServerSideBalancer): members join, leave and are killed
// (their connections cut, so they never leave) while records are
// produced and partitions are added; every record is committed by exactly
// one member. A classic group consumes the same topic meanwhile.

// kip848Flags: consumer group members killed are fenced after 3 s; they
// heartbeat every 200 ms so reassignments are quick.
var kip848Flags = append([]string{
	"--group-consumer-session-timeout=3s",
	"--group-consumer-heartbeat-interval=200ms",
}, groupServeFlags...)

// cutDialer dials normally until cut: then its connections are closed and
// new dials fail, as for a client whose machine died.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errors.New("network cut")
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// committedRecords are the records ("partition/offset") each member
// consumed and then committed successfully.
type committedRecords struct {
	mu  sync.Mutex
	by  map[string]string // record -> member that committed it
	dup []string
	// maybe are records of a commit that failed: with the broker killed
	// meanwhile, it may still have been applied.
	maybe map[string]bool
	// classic: a classic group, where a member whose commit failed
	// (UNKNOWN_MEMBER_ID from the restarted coordinator) rejoins still
	// owning its partitions as far as it knows, and goes on consuming
	// them until the rebalance settles while the new owner consumes them
	// too: both commits are a current member's and the classic protocol
	// (Kafka's too) does not check partition ownership. Records committed
	// twice with such a member involved are at-least-once delivery, not
	// a coordinator error; they are counted in rejoinDup. A KIP-848
	// group's coordinator fences that, so there every duplicate counts.
	classic   bool
	failed    map[string]bool // members with a failed commit
	rejoinDup []string
}

func newCommittedRecords(classic bool) *committedRecords {
	return &committedRecords{by: map[string]string{}, maybe: map[string]bool{}, failed: map[string]bool{}, classic: classic}
}

func (c *committedRecords) addMaybe(member string, values []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed[member] = true
	for _, v := range values {
		c.maybe[v] = true
	}
}

func (c *committedRecords) add(member string, values []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range values {
		if prev, ok := c.by[v]; ok {
			d := fmt.Sprintf("%s by %s and %s", v, prev, member)
			if c.classic && (c.failed[prev] || c.failed[member]) {
				c.rejoinDup = append(c.rejoinDup, d)
			} else {
				c.dup = append(c.dup, d)
			}
		}
		c.by[v] = member
	}
}

type kip848Member struct {
	name   string
	cl     *kgo.Client
	dialer *cutDialer
	stop   context.CancelFunc
	done   chan struct{}
}

// startKIP848Member consumes topic in group, committing after every poll;
// what a commit covered goes to into. serverSide picks the new protocol.
func startKIP848Member(ctx context.Context, t *testing.T, b *broker, group, name, topic string, serverSide bool, into *committedRecords) *kip848Member {
	t.Helper()
	d := &cutDialer{}
	opts := []kgo.Opt{
		kgo.ClientID(name),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMaxAge(500 * time.Millisecond),
		kgo.SessionTimeout(3 * time.Second),
		kgo.Dialer(d.dial),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if serverSide {
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	// pending are records polled and not yet covered by a successful
	// commit. A failed commit's records leave pending as "maybe": the
	// broker may have applied it before dying, a later commit covers them
	// if the member kept the partition, and the next owner consumes them
	// again if it lost it. A partition's pending records also go when it
	// is assigned, revoked or lost: kept, they could be counted by a
	// commit made after the member lost the partition and got it back (a
	// classic member rejoining a restarted coordinator), though the
	// interim owner consumed and committed them and this member never
	// polled them again. The member's polls and ownership changes are
	// logged (shown when the test fails) to tell such a miscount from a
	// record really consumed twice.
	var mu sync.Mutex
	pending := map[int32]map[int64]bool{}
	owner := func(what string) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ps[topic] {
				delete(pending, p)
			}
			t.Logf("member %s: %s %v", name, what, ps[topic])
		}
	}
	opts = append(opts, kgo.OnPartitionsAssigned(owner("assigned")), kgo.OnPartitionsRevoked(owner("revoked")), kgo.OnPartitionsLost(owner("lost")))
	cl := newClient(t, b, opts...)
	pollCtx, stop := context.WithCancel(ctx)
	m := &kip848Member{name: name, cl: cl, dialer: d, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for pollCtx.Err() == nil {
			fs := cl.PollFetches(pollCtx)
			if pollCtx.Err() != nil {
				// Stopped (killed) between poll and commit: what this
				// poll returned is re-consumed by the next owner.
				return
			}
			fs.EachPartition(func(p kgo.FetchTopicPartition) {
				if len(p.Records) > 0 {
					t.Logf("member %s: polled %d/%d-%d", name, p.Partition, p.Records[0].Offset, p.Records[len(p.Records)-1].Offset)
				}
			})
			mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if pending[r.Partition] == nil {
					pending[r.Partition] = map[int64]bool{}
				}
				pending[r.Partition][r.Offset] = true
			})
			mu.Unlock()
			err := cl.CommitUncommittedOffsets(ctx)
			mu.Lock()
			var covered, maybe []string
			committed := cl.CommittedOffsets()[topic]
			for p, offs := range pending {
				for o := range offs {
					v := fmt.Sprintf("%d/%d", p, o)
					switch {
					case err == nil && o < committed[p].Offset:
						covered = append(covered, v)
						delete(offs, o)
					case err != nil:
						maybe = append(maybe, v)
						delete(offs, o)
					}
				}
			}
			mu.Unlock()
			if err != nil {
				// The commit may still have been applied: kgo retries a
				// commit whose connection died with the broker, and the
				// retry's UNKNOWN_MEMBER_ID from the restarted broker
				// hides that the first attempt was written. Records it
				// did not cover are consumed again by the next owner.
				into.addMaybe(name, maybe)
				t.Logf("member %s: commit failed: %v", name, err)
			}
			into.add(name, covered)
			cl.AllowRebalance()
		}
	}()
	return m
}

// leave stops polling and closes the client, leaving the group.
func (m *kip848Member) leave() {
	m.stop()
	<-m.done
	m.cl.AllowRebalance()
	m.cl.Close()
}

// kill stops polling, cuts the network and closes: the member never
// leaves; the coordinator fences it after its session timeout.
func (m *kip848Member) kill() {
	m.stop()
	<-m.done
	m.dialer.kill()
	m.cl.AllowRebalance()
	m.cl.Close()
}

func TestKIP848ConsumerGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-client group run")
	}
	ctx := testContext(t, 4*time.Minute)
	b := startBroker(t, brokerOptions{ExtraArgs: kip848Flags})
	adm := newAdmin(t, b)
	const topic, group, classic = "k848", "g848", "gclassic"
	createTopic(ctx, t, adm, topic, 6, nil)

	// The producer writes numbered records all along the run.
	prod := newClient(t, b, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MetadataMinAge(100*time.Millisecond), kgo.MetadataMaxAge(500*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	var produced []string
	var prodMu sync.Mutex
	prodCtx, stopProd := context.WithCancel(ctx)
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for i := 0; prodCtx.Err() == nil; i++ {
			var rs []*kgo.Record
			for j := 0; j < 10; j++ {
				rs = append(rs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r-%d-%d", i, j)})
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			prodMu.Lock()
			for _, r := range rs {
				produced = append(produced, string(r.Value))
			}
			prodMu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	got, gotClassic := newCommittedRecords(false), newCommittedRecords(true)
	members := map[string]*kip848Member{}
	for _, n := range []string{"m1", "m2", "m3"} {
		members[n] = startKIP848Member(ctx, t, b, group, n, topic, true, got)
	}
	for _, n := range []string{"c1", "c2"} {
		members[n] = startKIP848Member(ctx, t, b, classic, n, topic, false, gotClassic)
	}

	// Three members share the six partitions, each partition once.
	waitConsumerGroup(ctx, t, adm, group, 6, "m1", "m2", "m3")
	// The classic group shows as such next to it.
	for typ, want := range map[string]string{"consumer": group, "classic": classic} {
		listed, err := adm.ListGroupsByType(ctx, []string{typ})
		if err != nil {
			t.Fatal(err)
		}
		if gs := listed.Groups(); len(gs) != 1 || gs[0] != want {
			t.Fatalf("ListGroups of type %s: %v, want [%s]", typ, gs, want)
		}
	}

	// A member joins, one leaves.
	members["m4"] = startKIP848Member(ctx, t, b, group, "m4", topic, true, got)
	waitConsumerGroup(ctx, t, adm, group, 6, "m1", "m2", "m3", "m4")
	members["m1"].leave()
	waitConsumerGroup(ctx, t, adm, group, 6, "m2", "m3", "m4")

	// Partitions added mid-run are assigned.
	if _, err := adm.CreatePartitions(ctx, 2, topic); err != nil {
		t.Fatal(err)
	}
	waitConsumerGroup(ctx, t, adm, group, 8, "m2", "m3", "m4")

	// A member is killed: fenced after its session timeout, its
	// partitions move on.
	members["m2"].kill()
	waitConsumerGroup(ctx, t, adm, group, 8, "m3", "m4")
	// It was fenced, not left.
	if out := b.stderr.String(); !strings.Contains(out, "consumer group member session expired") {
		t.Fatalf("killed member not fenced by its session timeout")
	}
	members["m5"] = startKIP848Member(ctx, t, b, group, "m5", topic, true, got)
	waitConsumerGroup(ctx, t, adm, group, 8, "m3", "m4", "m5")

	// The broker is SIGKILLed and restarted: the group comes back from
	// __consumer_offsets with its members, epochs and assignments
	// (kip848_restart_test.go checks that closely), and consumption goes
	// on.
	b.Kill()
	b.Start()
	waitConsumerGroup(ctx, t, adm, group, 8, "m3", "m4", "m5")
	time.Sleep(time.Second)

	stopProd()
	<-prodDone
	prodMu.Lock()
	t.Logf("produced %d records", len(produced))
	prodMu.Unlock()

	// Both groups commit the log end of every partition.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	if len(want) != 8 {
		t.Fatalf("end offsets of %d partitions", len(want))
	}
	waitCommitted(ctx, t, adm, group, topic, want)
	waitCommitted(ctx, t, adm, classic, topic, want)
	// Every record of the log, as a plain (group-less) consumer reads it:
	// offsets can have gaps (the restart), and producer retries around
	// the restart may have written some twice: they are records too.
	all := readAllRecords(ctx, t, b, topic, want)
	for _, n := range []string{"m3", "m4", "m5", "c1", "c2"} {
		members[n].leave()
	}
	for name, c := range map[string]*committedRecords{group: got, classic: gotClassic} {
		if len(c.dup) > 0 {
			t.Errorf("%s: %d records committed twice, e.g. %v", name, len(c.dup), c.dup[:min(5, len(c.dup))])
		}
		if len(c.rejoinDup) > 0 {
			t.Logf("%s: %d records committed twice by a member rejoining after the restart and the partition's new owner (at-least-once in the classic protocol), e.g. %v",
				name, len(c.rejoinDup), c.rejoinDup[:min(5, len(c.rejoinDup))])
		}
		var missing []string
		unknown := 0
		for _, v := range all {
			if _, ok := c.by[v]; !ok {
				if c.maybe[v] {
					unknown++ // by a failed commit the broker applied before dying
					continue
				}
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 || len(c.by)+unknown != len(all) {
			t.Errorf("%s: %d records committed (%d more by failed commits the killed broker may have applied), %d in the log, %d missing (e.g. %v)", name, len(c.by), unknown, len(all), len(missing), missing[:min(5, len(missing))])
		}
		t.Logf("%s: %d records committed once, %d by failed commits the killed broker may have applied", name, len(c.by), unknown)
	}
	byMember := map[string]int{}
	for _, m := range got.by {
		byMember[m]++
	}
	t.Logf("records committed per member: %v", byMember)

	// The group is Empty once everyone left; describe says so.
	waitUntil(ctx, t, "consumer group empty", func() string {
		d := describeConsumerGroup(ctx, t, adm, group)
		if d.State != "Empty" || len(d.Members) != 0 {
			return fmt.Sprintf("state %s, %d members", d.State, len(d.Members))
		}
		return ""
	})
}

// describeConsumerGroup is ConsumerGroupDescribe for one group.
func describeConsumerGroup(ctx context.Context, t testing.TB, adm *kadm.Client, group string) kadm.DescribedConsumerGroup {
	t.Helper()
	ds, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		t.Fatalf("DescribeConsumerGroups: %v", err)
	}
	d, ok := ds[group]
	if !ok || d.Err != nil {
		t.Fatalf("DescribeConsumerGroups %s: %v", group, d.Err)
	}
	return d
}

// waitConsumerGroup waits until exactly the named clients are the group's
// members, stable at one epoch, with every one of the topic's partitions
// assigned once.
func waitConsumerGroup(ctx context.Context, t testing.TB, adm *kadm.Client, group string, partitions int, clients ...string) {
	t.Helper()
	want := append([]string(nil), clients...)
	sort.Strings(want)
	waitUntil(ctx, t, fmt.Sprintf("consumer group %s stable with %v over %d partitions", group, want, partitions), func() string {
		ds, err := adm.DescribeConsumerGroups(ctx, group)
		if err != nil {
			return err.Error()
		}
		d := ds[group]
		if d.Err != nil {
			// GROUP_ID_NOT_FOUND until the first member joined.
			return d.Err.Error()
		}
		var names []string
		seen := map[int32]string{}
		for _, m := range d.Members {
			names = append(names, m.ClientID)
			if m.MemberEpoch != d.Epoch {
				return fmt.Sprintf("member %s at epoch %d, group at %d", m.ClientID, m.MemberEpoch, d.Epoch)
			}
			for _, ps := range m.Assignment {
				for p := range ps {
					if o, dup := seen[p]; dup {
						t.Fatalf("partition %d assigned to %s and %s", p, o, m.ClientID)
					}
					seen[p] = m.ClientID
				}
			}
		}
		sort.Strings(names)
		if fmt.Sprint(names) != fmt.Sprint(want) || d.State != "Stable" || len(seen) != partitions {
			return fmt.Sprintf("state %s, members %v, %d partitions assigned", d.State, names, len(seen))
		}
		return ""
	})
}

// readAllRecords reads every partition of topic from the start up to end
// ("partition/offset" of each record).
func readAllRecords(ctx context.Context, t *testing.T, b *broker, topic string, end map[int32]int64) []string {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range end {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := newClient(t, b, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var out []string
	reached := map[int32]bool{}
	for len(reached) < len(end) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end[r.Partition] {
				out = append(out, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
			}
			if r.Offset >= end[r.Partition]-1 {
				reached[r.Partition] = true
			}
		})
		for p, e := range end {
			if e == 0 {
				reached[p] = true
			}
		}
	}
	return out
}
