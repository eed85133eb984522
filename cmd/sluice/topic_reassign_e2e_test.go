package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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

	out = mustSluice(t, "topic", "reassign", "spread", "--broker-ids", "1,2,3", "--replicas", "3", "--execute", "--throttle", brokers)
	for _, want := range []string{"follower.replication.throttled.replicas=0:3,1:1", `Started reassigning 2 partition(s) of "spread"`} {
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
	if !strings.Contains(out, "Removed the replication throttle") {
		t.Fatalf("status after the move did not remove the throttle:\n%s", out)
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
	if out := mustSluice(t, "topic", "reassign", "spread", "--cancel", brokers); out != "No reassignment of \"spread\" in progress.\n" {
		t.Fatalf("cancel: %q", out)
	}
}
