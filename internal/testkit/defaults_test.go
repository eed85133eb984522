package testkit_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// offsetsPartitions is the partition count of n's __consumer_offsets.
func offsetsPartitions(t *testing.T, n *testkit.Node) int {
	t.Helper()
	topics, err := kadm.NewClient(n.Client(t)).ListTopicsWithInternal(testkit.Context(t, 30*time.Second), "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := topics["__consumer_offsets"]
	if !ok || d.Err != nil {
		t.Fatalf("__consumer_offsets: %+v", topics)
	}
	return len(d.Partitions)
}

// TestNodeDefaults: WithSmallOffsetsTopic gives __consumer_offsets 4
// partitions; SetNodeDefaults applies it to every node started after,
// before the test's own options (which still win); without either a node
// has Kafka's 50.
func TestNodeDefaults(t *testing.T) {
	if got := offsetsPartitions(t, testkit.StartNode(t, testkit.WithoutHTTP())); got != 50 {
		t.Fatalf("default: %d partitions, want 50", got)
	}
	if got := offsetsPartitions(t, testkit.StartNode(t, testkit.WithoutHTTP(), testkit.WithSmallOffsetsTopic())); got != testkit.SmallOffsetsTopic {
		t.Fatalf("WithSmallOffsetsTopic: %d partitions, want %d", got, testkit.SmallOffsetsTopic)
	}
	testkit.SetNodeDefaults(testkit.WithSmallOffsetsTopic(), testkit.WithoutHTTP())
	defer testkit.SetNodeDefaults()
	if got := offsetsPartitions(t, testkit.StartNode(t)); got != testkit.SmallOffsetsTopic {
		t.Fatalf("SetNodeDefaults: %d partitions, want %d", got, testkit.SmallOffsetsTopic)
	}
	n := testkit.StartNode(t, testkit.WithConfig(func(c *node.Config) { c.OffsetsTopicPartitions = 2 }))
	if got := offsetsPartitions(t, n); got != 2 {
		t.Fatalf("a test's own setting over the defaults: %d partitions, want 2", got)
	}
	if n.HTTPBase != "" {
		t.Fatal("the default WithoutHTTP was not applied")
	}
}
