package group_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// TestOffsetsRetentionE2E: a broker with a 4 s offsets retention (2 s under -short), checked
// every 250 ms. A kgo consumer group commits and leaves; a tool commits
// for a group nobody joins; a third group keeps a member. Past the
// retention, the first two answer OffsetFetch with -1 and are neither
// listed nor described, while the group with a member keeps its offset.
func TestOffsetsRetentionE2E(t *testing.T) {
	// 2 s under -short: the test waits the retention out; the checks
	// before it are bounded by the time since the group emptied.
	retention := testkit.ShortOr(2*time.Second, 4*time.Second)
	n := testkit.StartNode(t, testkit.WithLogCapture(slog.LevelInfo), testkit.WithConfig(func(c *node.Config) {
		c.OffsetsRetention = retention
		c.OffsetsRetentionCheckInterval = 250 * time.Millisecond
		c.GroupInitialRebalanceDelay = -1
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "retained"
	n.CreateTopic(t, topic, 1)
	prod := n.Client(t)
	for i := 0; i < 3; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(prod)

	// consumeAndCommit joins group, reads the 3 records and commits them.
	consumeAndCommit := func(group string) *kgo.Client {
		cl := n.Client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := 0
		for got < 3 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("%s poll: %v", group, err)
			}
			got += fs.NumRecords()
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("%s commit: %v", group, err)
		}
		return cl
	}
	left := consumeAndCommit("ret-left")
	live := consumeAndCommit("ret-live")
	simple := kadm.Offsets{}
	simple.Add(kadm.Offset{Topic: topic, Partition: 0, At: 2, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "ret-simple", simple); err != nil {
		t.Fatal(err)
	}
	left.Close() // leaves the group: Empty from now on
	emptied := time.Now()

	offsetOf := func(group string) int64 {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = group
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, prod)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("offset fetch %s: %+v", group, resp)
		}
		return resp.Topics[0].Partitions[0].Offset
	}
	listed := func() map[string]string {
		resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, prod)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("list groups: %v %+v", err, resp)
		}
		out := map[string]string{}
		for _, g := range resp.Groups {
			out[g.Group] = g.GroupState
		}
		return out
	}
	for g, want := range map[string]int64{"ret-left": 3, "ret-live": 3, "ret-simple": 2} {
		if got := offsetOf(g); got != want && time.Since(emptied) < retention {
			t.Fatalf("%s offset %d before the retention, want %d", g, got, want)
		}
	}

	// Wait (bounded) for both memberless groups to go.
	for {
		l := listed()
		_, a := l["ret-left"]
		_, b := l["ret-simple"]
		if !a && !b {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("groups still listed: %v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if waited := time.Since(emptied); waited < retention {
		t.Fatalf("groups removed after %v, before the %v retention", waited, retention)
	} else {
		t.Logf("groups removed %v after the group emptied (retention %v)", waited, retention)
	}
	for g, want := range map[string]int64{"ret-left": -1, "ret-simple": -1, "ret-live": 3} {
		if got := offsetOf(g); got != want {
			t.Errorf("%s offset %d, want %d", g, got, want)
		}
	}
	if l := listed(); len(l) != 1 || l["ret-live"] != "Stable" {
		t.Errorf("listed groups %v, want only ret-live (Stable)", l)
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"ret-left", "ret-simple", "ret-live"}
	resp, err := req.RequestWith(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, g := range resp.Groups {
		if g.ErrorCode != 0 {
			t.Errorf("describe %s: code %d", g.Group, g.ErrorCode)
		}
		states[g.Group] = g.State
	}
	if states["ret-left"] != "Dead" || states["ret-simple"] != "Dead" || states["ret-live"] != "Stable" || len(states) != 3 {
		t.Errorf("described states %v", states)
	}
	live.Close()
}
