package main

import (
	"context"
	"errors"
	"fmt"
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Every broker answers from its own view of the metadata store, which
	// it applies from a ZooKeeper watch: a write made through one broker
	// shows on the others a moment later (seconds on a loaded machine).
	// Each command below may ask any broker, so the test waits until every
	// broker shows what the last command wrote before the next one.
	untilEveryBroker(t, cl, "lists brokers 1, 2 and 3", func(md *kmsg.MetadataResponse, _ []kmsg.DescribeConfigsResponseResourceConfig) error {
		if len(md.Brokers) != 3 {
			return fmt.Errorf("%d brokers", len(md.Brokers))
		}
		return nil
	})
	mustSluice(t, "topic", "create", "spread", "--partitions", "2", "--replicas", "2", brokers)
	untilEveryBroker(t, cl, "has spread on 1,2 and 2,3", replicasAre([][]int32{{1, 2}, {2, 3}}))

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
	untilEveryBroker(t, cl, "has the throttled replicas", throttleIs("0:3,1:1", "0:1,0:2,1:2,1:3"))
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

	// Every broker sees the new replicas and no throttle (waiting for the
	// watches, as above; the controller answered the status).
	untilEveryBroker(t, cl, "has spread on 1,2,3 and 2,3,1", replicasAre([][]int32{{1, 2, 3}, {2, 3, 1}}))
	untilEveryBroker(t, cl, "has no throttled replicas", throttleIs("", ""))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
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

// untilEveryBroker waits (30 s at most) until check passes on the metadata
// of topic spread and its configs as each of brokers 1, 2 and 3 answers
// them.
func untilEveryBroker(t *testing.T, cl *kgo.Client, what string, check func(*kmsg.MetadataResponse, []kmsg.DescribeConfigsResponseResourceConfig) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for id := 1; id <= 3; id++ {
		for start := time.Now(); ; {
			err := brokerView(cl.Broker(id), check)
			if err == nil {
				if d := time.Since(start); d > time.Second {
					t.Logf("broker %d %s after %v", id, what, d)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %d never %s: %v", id, what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func brokerView(b *kgo.Broker, check func(*kmsg.MetadataResponse, []kmsg.DescribeConfigsResponseResourceConfig) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("spread")
	mreq.Topics = append(mreq.Topics, mt)
	mreq.AllowAutoTopicCreation = false // before the create too
	mresp, err := mreq.RequestWith(ctx, b)
	if err != nil {
		return err
	}
	creq := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "spread"
	creq.Resources = append(creq.Resources, res)
	cresp, err := creq.RequestWith(ctx, b)
	if err != nil {
		return err
	}
	var configs []kmsg.DescribeConfigsResponseResourceConfig
	if len(cresp.Resources) == 1 && cresp.Resources[0].ErrorCode == 0 {
		configs = cresp.Resources[0].Configs
	}
	return check(mresp, configs)
}

// replicasAre checks topic spread's replicas, partition by partition.
func replicasAre(want [][]int32) func(*kmsg.MetadataResponse, []kmsg.DescribeConfigsResponseResourceConfig) error {
	return func(md *kmsg.MetadataResponse, _ []kmsg.DescribeConfigsResponseResourceConfig) error {
		if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) != len(want) {
			return errors.New("spread is not (fully) there")
		}
		for _, p := range md.Topics[0].Partitions {
			if int(p.Partition) >= len(want) || !slices.Equal(p.Replicas, want[p.Partition]) {
				return fmt.Errorf("partition %d replicas %v, want %v", p.Partition, p.Replicas, want)
			}
		}
		return nil
	}
}

// throttleIs checks spread's follower and leader throttled replicas ("":
// not set).
func throttleIs(follower, leader string) func(*kmsg.MetadataResponse, []kmsg.DescribeConfigsResponseResourceConfig) error {
	return func(_ *kmsg.MetadataResponse, configs []kmsg.DescribeConfigsResponseResourceConfig) error {
		if configs == nil {
			return errors.New("no configs of spread")
		}
		got := map[string]string{}
		for _, c := range configs {
			if c.Value != nil {
				got[c.Name] = *c.Value
			}
		}
		if got["follower.replication.throttled.replicas"] != follower || got["leader.replication.throttled.replicas"] != leader {
			return fmt.Errorf("follower %q leader %q, want %q and %q", got["follower.replication.throttled.replicas"],
				got["leader.replication.throttled.replicas"], follower, leader)
		}
		return nil
	}
}
