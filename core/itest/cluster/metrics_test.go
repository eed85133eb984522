package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// sumMetric adds one series over the running brokers' /metrics.
func (c *testCluster) sumMetric(t *testing.T, series string) float64 {
	t.Helper()
	return c.sumMetricExcept(t, series, -1)
}

// sumMetricExcept is sumMetric without broker skip's counters (a stopped
// broker's counters leave the sum; baselines must not include them).
func (c *testCluster) sumMetricExcept(t *testing.T, series string, skip int32) float64 {
	t.Helper()
	var sum float64
	for _, nd := range c.nodes {
		if nd.running() && nd.id != skip {
			sum += scrapeMetrics(t, nd.http)[series]
		}
	}
	return sum
}

// replicasOn counts the partitions (internal topics included) that have a
// replica on broker id, and how many of them it leads.
func replicasOn(ctx context.Context, t *testing.T, adm *kadm.Client, id int32) (replicas, leads int) {
	t.Helper()
	tds, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range tds {
		for _, pd := range td.Partitions {
			if slices.Contains(pd.Replicas, id) {
				replicas++
			}
			if pd.Leader == id {
				leads++
			}
		}
	}
	return replicas, leads
}

// TestUnderReplicatedPartitionsMetric: stopping a broker makes every
// partition with a replica on it under-replicated on its (new) leader, as
// the live brokers' sluice_under_replicated_partitions add up to, with
// ISR shrinks and (for the partitions it led) leader elections counted;
// once it is back and caught up the count returns to 0 and the ISR
// expands are counted.
func TestUnderReplicatedPartitionsMetric(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := clusterAdmin(t, c)
	createTopic(ctx, t, adm, "urp", 6, 3, nil)
	const urp = "sluice_under_replicated_partitions"
	waitMetric := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitMetric("no under-replicated partitions", func() bool { return c.sumMetric(t, urp) == 0 })
	// Followers long-poll their leaders: a fetch is counted once answered.
	waitMetric("follower fetches counted (api=FetchFollower)", func() bool {
		return c.sumMetric(t, `sluice_kafka_requests_total{api="FetchFollower"}`) > 0
	})

	// The victim is not the controller: elections are counted by the
	// controller, and a stopped broker's counters leave the sums.
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := int32(3)
	if md.Controller == victim {
		victim = 2
	}
	shrinks0 := c.sumMetricExcept(t, "sluice_isr_shrinks_total", victim)
	expands0 := c.sumMetricExcept(t, "sluice_isr_expands_total", victim)
	elections0 := c.sumMetricExcept(t, `sluice_leader_elections_total{kind="clean"}`, victim)
	want, led := replicasOn(ctx, t, adm, victim)
	if want < 6 {
		t.Fatalf("broker %d holds %d replicas, want at least the topic's 6", victim, want)
	}
	c.node(victim).proc.Stop()
	waitMetric("every partition with a replica on the stopped broker under-replicated", func() bool {
		return c.sumMetric(t, urp) == float64(want)
	})
	// The partitions it followed lose it from their ISR on their leader
	// (a shrink); those it led get a new leader with the smaller ISR (an
	// election, not a shrink, as in Kafka).
	waitMetric("ISR shrinks counted", func() bool {
		return c.sumMetricExcept(t, "sluice_isr_shrinks_total", victim)-shrinks0 >= float64(want-led)
	})
	if led > 0 {
		waitMetric(fmt.Sprintf("clean leader elections counted for the %d partitions broker %d led", led, victim), func() bool {
			return c.sumMetricExcept(t, `sluice_leader_elections_total{kind="clean"}`, victim)-elections0 >= float64(led)
		})
	}

	c.node(victim).start()
	waitMetric("no under-replicated partitions once the broker is back", func() bool { return c.sumMetric(t, urp) == 0 })
	if got := c.sumMetricExcept(t, "sluice_isr_expands_total", victim) - expands0; got < float64(want) {
		t.Errorf("ISR expands counted %v, want at least %d", got, want)
	}
}
