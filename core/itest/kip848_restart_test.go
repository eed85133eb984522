package itest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// kip848RestartFlags: a session timeout long enough for a SIGKILLed broker
// to come back on a loaded machine before anyone is fenced (sessions
// start over when the group is loaded).
var kip848RestartFlags = append([]string{
	"--group-consumer-session-timeout=10s",
	"--group-consumer-heartbeat-interval=200ms",
}, groupServeFlags...)

// memberView is a consumer group member as ConsumerGroupDescribe shows it.
type memberView struct {
	client string
	epoch  int32
	parts  []int32
}

func consumerGroupView(d kadm.DescribedConsumerGroup, topic string) map[string]memberView {
	out := map[string]memberView{}
	for _, m := range d.Members {
		v := memberView{client: m.ClientID, epoch: m.MemberEpoch}
		for p := range m.Assignment[topic] {
			v.parts = append(v.parts, p)
		}
		sort.Slice(v.parts, func(i, j int) bool { return v.parts[i] < v.parts[j] })
		out[m.MemberID] = v
	}
	return out
}

// TestKIP848RestartKeepsAssignments: three kgo members on the new
// protocol consume while records are produced; the broker is SIGKILLed
// and restarted. The group comes back from __consumer_offsets with the
// same member ids, member epochs and assignments: the members' next
// heartbeats carry on (no rejoin, no partition changes owner), and every
// record is still committed exactly once.
func TestKIP848RestartKeepsAssignments(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-client group run with a broker restart (skipped by -short)")
	}
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, brokerOptions{ExtraArgs: kip848RestartFlags})
	adm := newAdmin(t, b)
	const topic, group = "k848r", "g848r"
	createTopic(ctx, t, adm, topic, 6, nil)

	prod := newClient(t, b, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	prodCtx, stopProd := context.WithCancel(ctx)
	prodDone := make(chan struct{})
	var produced int
	var prodMu sync.Mutex
	go func() {
		defer close(prodDone)
		for i := 0; prodCtx.Err() == nil; i++ {
			var rs []*kgo.Record
			for j := 0; j < 10; j++ {
				rs = append(rs, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r-%d-%d", i, j)})
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				if prodCtx.Err() != nil || errors.Is(err, kgo.ErrClientClosed) {
					return
				}
				t.Logf("produce (broker restarting?): %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			prodMu.Lock()
			produced += len(rs)
			prodMu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	got := newCommittedRecords(false)
	members := map[string]*kip848Member{}
	for _, n := range []string{"m1", "m2", "m3"} {
		members[n] = startKIP848Member(ctx, t, b, group, n, topic, true, got)
	}
	waitConsumerGroup(ctx, t, adm, group, 6, "m1", "m2", "m3")
	time.Sleep(time.Second) // some commits
	before := describeConsumerGroup(ctx, t, adm, group)
	viewBefore := consumerGroupView(before, topic)
	joinsBefore := strings.Count(b.stderr.String(), "member joined consumer group")
	if joinsBefore != 3 {
		t.Fatalf("%d member joins logged before the restart, want 3", joinsBefore)
	}

	b.Kill()
	b.Start()

	// Right after the load, before members could have done anything but
	// heartbeat: the same group.
	after := describeConsumerGroup(ctx, t, adm, group)
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch {
		t.Fatalf("group epoch %d/%d after restart, %d/%d before", after.Epoch, after.AssignmentEpoch, before.Epoch, before.AssignmentEpoch)
	}
	if v := consumerGroupView(after, topic); fmt.Sprint(v) != fmt.Sprint(viewBefore) {
		t.Fatalf("members after restart\n %v\nbefore\n %v", v, viewBefore)
	}
	// Members heartbeat on with their epochs for a while: nothing moves.
	waitConsumerGroup(ctx, t, adm, group, 6, "m1", "m2", "m3")
	time.Sleep(3 * time.Second)
	later := describeConsumerGroup(ctx, t, adm, group)
	if v := consumerGroupView(later, topic); later.State != "Stable" || later.Epoch != before.Epoch || fmt.Sprint(v) != fmt.Sprint(viewBefore) {
		t.Fatalf("3 s after restart: state %s epoch %d, members\n %v\nbefore (epoch %d)\n %v", later.State, later.Epoch, v, before.Epoch, viewBefore)
	}
	if joins := strings.Count(b.stderr.String(), "member joined consumer group"); joins != joinsBefore {
		t.Fatalf("%d member joins after the restart", joins-joinsBefore)
	}
	if !strings.Contains(b.stderr.String(), "consumer group loaded") {
		t.Fatal("no consumer group loaded after the restart")
	}
	t.Logf("group epoch %d kept across SIGKILL; members %v", before.Epoch, viewBefore)
	// `sluice group describe` shows each member at its epoch of before.
	bin, err := testkit.SluiceBinary()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := exec.CommandContext(ctx, bin, "group", "describe", group, "--brokers", b.Addr()).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice group describe: %v\n%s", err, cli)
	}
	for id, v := range viewBefore {
		line := ""
		for _, l := range strings.Split(string(cli), "\n") {
			if strings.HasPrefix(l, id+" ") {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) < 5 || f[2] != v.client || f[4] != fmt.Sprint(v.epoch) {
			t.Fatalf("sluice group describe: member %s (%s at epoch %d) shown as %q\n%s", id, v.client, v.epoch, line, cli)
		}
	}

	stopProd()
	<-prodDone
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	waitCommitted(ctx, t, adm, group, topic, want)
	all := readAllRecords(ctx, t, b, topic, want)
	for _, m := range members {
		m.leave()
	}
	if len(got.dup) > 0 {
		t.Errorf("%d records committed twice, e.g. %v", len(got.dup), got.dup[:min(5, len(got.dup))])
	}
	var missing []string
	unknown := 0
	for _, v := range all {
		if _, ok := got.by[v]; !ok {
			if got.maybe[v] {
				unknown++
				continue
			}
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 || len(got.by)+unknown != len(all) {
		t.Errorf("%d records committed (%d by failed commits the killed broker may have applied), %d in the log, %d missing (e.g. %v)",
			len(got.by), unknown, len(all), len(missing), missing[:min(5, len(missing))])
	}
	prodMu.Lock()
	t.Logf("produced %d records; %d committed once, %d by failed commits the killed broker may have applied", produced, len(got.by), unknown)
	prodMu.Unlock()
}
