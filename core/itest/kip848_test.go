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

// committedRecords are the records each member consumed and then
// committed successfully.
type committedRecords struct {
	mu  sync.Mutex
	by  map[string]string // value -> member that committed it
	dup []string
}

func (c *committedRecords) add(member string, values []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range values {
		if prev, ok := c.by[v]; ok {
			c.dup = append(c.dup, fmt.Sprintf("%s by %s and %s", v, prev, member))
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
		kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMinAge(100 * time.Millisecond), kgo.MetadataMaxAge(500 * time.Millisecond),
		kgo.SessionTimeout(3 * time.Second),
		kgo.Dialer(d.dial),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if serverSide {
		opts = append(opts, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	cl := newClient(t, b, opts...)
	pollCtx, stop := context.WithCancel(ctx)
	m := &kip848Member{name: name, cl: cl, dialer: d, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for pollCtx.Err() == nil {
			fs := cl.PollFetches(pollCtx)
			var values []string
			fs.EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
			if pollCtx.Err() != nil {
				// Stopped (killed) between poll and commit: what this
				// poll returned is re-consumed by the next owner.
				return
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Logf("member %s: commit failed (its records are consumed again): %v", name, err)
			} else {
				into.add(name, values)
			}
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

	got := &committedRecords{by: map[string]string{}}
	gotClassic := &committedRecords{by: map[string]string{}}
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
	time.Sleep(time.Second)

	stopProd()
	<-prodDone
	prodMu.Lock()
	all := append([]string(nil), produced...)
	prodMu.Unlock()
	t.Logf("produced %d records", len(all))

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
	for _, n := range []string{"m3", "m4", "m5", "c1", "c2"} {
		members[n].leave()
	}
	for name, c := range map[string]*committedRecords{group: got, classic: gotClassic} {
		if len(c.dup) > 0 {
			t.Errorf("%s: %d records committed twice, e.g. %v", name, len(c.dup), c.dup[:min(5, len(c.dup))])
		}
		var missing []string
		for _, v := range all {
			if _, ok := c.by[v]; !ok {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 || len(c.by) != len(all) {
			t.Errorf("%s: %d records committed, %d produced, %d missing (e.g. %v)", name, len(c.by), len(all), len(missing), missing[:min(5, len(missing))])
		}
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
		d := describeConsumerGroup(ctx, t, adm, group)
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
