package cluster_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/testkit"
)

// TestKIP848RackAware: brokers 1 (no rack), 2 (rack r2) and 3 (rack r1)
// (--broker-rack), a topic of 6 single-replica partitions, 2 on each, and
// kgo consumers of the new protocol in racks r1 and r2 (kgo.Rack): the
// coordinator's uniform assignor gives each member the partitions in its
// rack (and splits the rackless ones); a third member without a rack
// joins and gets the rackless ones, the others keep theirs.
func TestKIP848RackAware(t *testing.T) {
	kc := testkit.StartCluster(t, testkit.ClusterConfig{ZK: zktest.Need(t, zkServer), Processes: 1, HTTP: true,
		Args: []string{"--group-consumer-heartbeat-interval", "200ms"}})
	kc.AddProcess(t, 2, "--broker-rack", "r2")
	kc.AddProcess(t, 3, "--broker-rack", "r1")
	kc.WaitBrokers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := kadm.NewClient(kc.Client(t))
	const topic, group = "racks", "rack-group"
	if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// Where each partition's replica is, and the brokers' racks.
	replicaRack := map[int32]string{}
	pollUntil(ctx, t, "topic metadata with racks", func() string {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err.Error()
		}
		racks := map[int32]string{}
		for _, b := range md.Brokers {
			if b.Rack != nil {
				racks[b.NodeID] = *b.Rack
			}
		}
		ps := md.Topics[topic].Partitions
		if len(racks) != 2 || len(ps) != 6 {
			return fmt.Sprintf("racks %v, %d partitions", racks, len(ps))
		}
		for _, p := range ps {
			replicaRack[p.Partition] = racks[p.Replicas[0]]
		}
		return ""
	})
	inRack := map[string][]int32{}
	for p, r := range replicaRack {
		inRack[r] = append(inRack[r], p)
	}
	for _, ps := range inRack {
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	}
	if len(inRack["r1"]) != 2 || len(inRack["r2"]) != 2 || len(inRack[""]) != 2 {
		t.Fatalf("replicas by rack: %v (want 2 in each)", inRack)
	}
	member := func(name, rack string) {
		opts := []kgo.Opt{kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(),
			kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.HeartbeatInterval(200 * time.Millisecond), kgo.MetadataMinAge(100 * time.Millisecond)}
		if rack != "" {
			opts = append(opts, kgo.Rack(rack))
		}
		cl := kc.Client(t, opts...)
		go func() {
			for ctx.Err() == nil {
				if cl.PollFetches(ctx).IsClientClosed() {
					return
				}
			}
		}()
	}
	// assignments waits until the group is stable with members and
	// returns each member's partitions (by client id).
	assignments := func(members ...string) map[string][]int32 {
		var out map[string][]int32
		pollUntil(ctx, t, fmt.Sprintf("group stable with %v", members), func() string {
			ds, err := adm.DescribeConsumerGroups(ctx, group)
			if err != nil {
				return err.Error()
			}
			d := ds[group]
			if d.Err != nil {
				return d.Err.Error()
			}
			out = map[string][]int32{}
			n := 0
			for _, m := range d.Members {
				if m.MemberEpoch != d.Epoch {
					return fmt.Sprintf("member %s at epoch %d, group %d", m.ClientID, m.MemberEpoch, d.Epoch)
				}
				var ps []int32
				for p := range m.Assignment[topic] {
					ps = append(ps, p)
				}
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				out[m.ClientID] = ps
				n += len(ps)
			}
			if d.State != "Stable" || len(out) != len(members) || n != 6 {
				return fmt.Sprintf("state %s, assignments %v", d.State, out)
			}
			return ""
		})
		return out
	}
	member("a", "r1")
	member("b", "r2")
	got := assignments("a", "b")
	for name, rack := range map[string]string{"a": "r1", "b": "r2"} {
		if len(got[name]) != 3 || !contains(got[name], inRack[rack]) {
			t.Fatalf("assignments %v: want %s (%s) to hold %v and one more", got, name, rack, inRack[rack])
		}
	}
	member("c", "")
	got = assignments("a", "b", "c")
	want := map[string][]int32{"a": inRack["r1"], "b": inRack["r2"], "c": inRack[""]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("assignments %v, want %v", got, want)
	}
}

func contains(have, want []int32) bool {
	set := map[int32]bool{}
	for _, p := range have {
		set[p] = true
	}
	for _, p := range want {
		if !set[p] {
			return false
		}
	}
	return true
}

// pollUntil polls check (an empty string: done) every 100 ms until ctx ends.
func pollUntil(ctx context.Context, t *testing.T, what string, check func() string) {
	t.Helper()
	last := ""
	for {
		if last = check(); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %s", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
