package console_test

import (
	"testing"
	"time"

	"github.com/sluicemq/sluice/console"
	"github.com/sluicemq/sluice/internal/testkit"
)

// TestClusterHealth: in a two-broker ZooKeeper cluster, the overview and
// topic list of broker 1 show broker 2 down and the replicated topic's
// partition under-replicated once broker 2 stops.
func TestClusterHealth(t *testing.T) {
	c := testkit.StartCluster(t, testkit.ClusterConfig{InProcess: 2})
	c.CreateTopic(t, "replicated", 1, 2)
	api := c.Member(t, 1).HTTPBase() + "/console/api"

	var ov console.Overview
	must(t, "GET", api+"/overview", nil, &ov, 200)
	if len(ov.Brokers) != 2 || !ov.Brokers[0].Up || !ov.Brokers[1].Up || ov.Brokers[0].ID != 1 || ov.Brokers[1].ID != 2 || ov.ThisBroker != 1 {
		t.Fatalf("overview %+v", ov)
	}
	controllers := 0
	for _, b := range ov.Brokers {
		if b.Controller {
			controllers++
		}
	}
	if controllers != 1 {
		t.Fatalf("%d controllers in %+v", controllers, ov.Brokers)
	}
	var detail console.TopicDetail
	must(t, "GET", api+"/topics/replicated", nil, &detail, 200)
	if len(detail.Partitions) != 1 || len(detail.Partitions[0].Replicas) != 2 || len(detail.Partitions[0].ISR) != 2 || detail.ReplicationFactor != 2 {
		t.Fatalf("detail %+v", detail)
	}

	c.Member(t, 2).Node.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		must(t, "GET", api+"/overview", nil, &ov, 200)
		var topics console.TopicList
		must(t, "GET", api+"/topics", nil, &topics, 200)
		urp := -1
		for _, tp := range topics.Topics {
			if tp.Name == "replicated" {
				urp = tp.UnderReplicated
			}
		}
		if len(ov.Brokers) == 2 && ov.Brokers[0].Up && !ov.Brokers[1].Up && ov.Brokers[1].ID == 2 && ov.Brokers[1].Host == "" &&
			urp == 1 && ov.Partitions.UnderReplicated >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after stopping broker 2: overview %+v, replicated under-replicated %d", ov, urp)
		}
		time.Sleep(250 * time.Millisecond)
	}
	must(t, "GET", api+"/topics/replicated", nil, &detail, 200)
	if p := detail.Partitions[0]; p.Leader != 1 || len(p.ISR) != 1 || p.ISR[0] != 1 {
		t.Fatalf("partition after broker 2 stopped: %+v", p)
	}
}
