package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestTopicReassignEndToEnd: `sluice topic reassign` against a three-broker
// ZooKeeper cluster prints a plan without changing anything, executes it
// with a throttle, reports progress until done (then removes the
// throttle), and has nothing to cancel afterwards.
func TestTopicReassignEndToEnd(t *testing.T) {
	c := testkit.StartCluster(t, testkit.ClusterConfig{InProcess: 3})
	brokers := "--brokers=" + strings.Join(c.Seeds(), ",")
	t.Setenv("SLUICE_BROKERS", "")
	mustSluice(t, "topic", "create", "spread", "--partitions", "2", "--replicas", "2", brokers)

	out := mustSluice(t, "topic", "reassign", "spread", "--broker-ids", "1,2,3", "--replicas", "3", brokers)
	for _, want := range []string{
		"0          1,2      1,2,3\n", "1          2,3      2,3,1\n",
		`{"version":1,"partitions":[{"topic":"spread","partition":0,"replicas":[1,2,3]},{"topic":"spread","partition":1,"replicas":[2,3,1]}]}`,
		"Nothing changed",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("plan output lacks %q:\n%s", want, out)
		}
	}

	out = mustSluice(t, "topic", "reassign", "spread", "--broker-ids", "1,2,3", "--replicas", "3", "--execute", "--throttle", "--throttle-rate", "50000000", brokers)
	for _, want := range []string{"follower.replication.throttled.replicas=0:3,1:1",
		"Set leader.replication.throttled.rate and follower.replication.throttled.rate to 50000000 bytes/s on brokers 1,2,3.",
		"leader.replication.throttled.replicas=0:1,0:2,1:2,1:3", `Started reassigning 2 partition(s) of "spread"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("execute output lacks %q:\n%s", want, out)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out = mustSluice(t, "topic", "reassign", "spread", "--status", brokers)
		if strings.HasPrefix(out, `No reassignment of "spread" in progress.`) {
			break
		}
		if !strings.Contains(out, "ADDING") {
			t.Fatalf("status output:\n%s", out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still moving after 60s:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{"Removed the replication throttle (follower.replication.throttled.replicas)",
		"Removed the replication throttle (leader.replication.throttled.replicas)",
		"Removed the throttle rates of broker 1.", "Removed the throttle rates of broker 2.", "Removed the throttle rates of broker 3."} {
		if !strings.Contains(out, want) {
			t.Fatalf("status after the move lacks %q:\n%s", want, out)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, "spread")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range [][]int32{{1, 2, 3}, {2, 3, 1}} {
		if got := md.Topics["spread"].Partitions[int32(p)].Replicas; !slices.Equal(got, want) {
			t.Fatalf("partition %d replicas %v, want %v", p, got, want)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "spread")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rc.On("spread", nil)
	for _, cfg := range r.Configs {
		if cfg.Key == "follower.replication.throttled.replicas" && cfg.Value != nil && *cfg.Value != "" {
			t.Fatalf("throttle still set: %q", *cfg.Value)
		}
	}
	for _, id := range []int32{1, 2, 3} {
		rcs, err := adm.DescribeBrokerConfigs(ctx, id)
		if err != nil || len(rcs) != 1 {
			t.Fatalf("describe broker %d: %v %v", id, rcs, err)
		}
		for _, cfg := range rcs[0].Configs {
			if strings.HasSuffix(cfg.Key, ".replication.throttled.rate") && cfg.Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("broker %d: %s still %v from %v", id, cfg.Key, *cfg.Value, cfg.Source)
			}
		}
	}
	if out := mustSluice(t, "topic", "reassign", "spread", "--cancel", brokers); out != "No reassignment of \"spread\" in progress.\n" {
		t.Fatalf("cancel: %q", out)
	}
}
