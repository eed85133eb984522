package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// TestClusterBridgePublishesToOtherLeaders: three brokers, a topic whose
// partitions are led by different brokers, records published over one
// broker's bridge. The partition it leads is appended in-process, the
// others go through the pipeline's internal producer: every record is
// stored once, at the partition and offset answered.
func TestClusterBridgePublishesToOtherLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts ZooKeeper and three brokers")
	}
	zk := zktest.Start(t)
	type member struct{ addrs node.Addrs }
	var members []member
	for id := int32(1); id <= 3; id++ {
		n := testkit.StartNode(t, testkit.WithOptions(node.Options{Bridge: bridge.Config{}}),
			testkit.WithConfig(func(c *node.Config) {
				c.BrokerID, c.ZooKeeper, c.ZooKeeperSessionTimeout = id, zk.Addr+"/bridge-cluster", 4*time.Second
				c.PreferredLeaderInterval = -time.Second
			}),
			testkit.WithStartTimeout(60*time.Second), testkit.WithStopErrorIgnored())
		members = append(members, member{n.Addrs})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(members[0].addrs.Kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 3, 1, nil, "spread"); err != nil || resp.Err != nil {
		t.Fatalf("create: %v %v", err, resp.Err)
	}
	// Wait until every partition has a leader and the leaders differ.
	leaders := map[int32]int32{}
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, "spread")
		if err == nil {
			leaders = map[int32]int32{}
			for _, p := range md.Topics["spread"].Partitions {
				if p.Leader >= 0 {
					leaders[p.Partition] = p.Leader
				}
			}
			if len(leaders) == 3 && leaders[0] != leaders[1] && leaders[1] != leaders[2] && leaders[0] != leaders[2] {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(leaders) != 3 {
		t.Fatalf("leaders %v", leaders)
	}

	base := "http://" + members[0].addrs.HTTP
	answered := map[string][2]int64{}
	const n = 60
	for i := 0; i < n; i += 6 {
		var sb strings.Builder
		sb.WriteString(`{"records":[`)
		for j := i; j < i+6; j++ {
			if j > i {
				sb.WriteString(",")
			}
			if j%2 == 0 {
				fmt.Fprintf(&sb, `{"value":"v%d","partition":%d}`, j, j%3)
			} else {
				fmt.Fprintf(&sb, `{"key":"k%d","value":"v%d"}`, j, j)
			}
		}
		sb.WriteString("]}")
		code, body, _ := do(t, "POST", base+"/topics/spread", "application/vnd.kafka.json.v2+json", strings.NewReader(sb.String()))
		if code != 200 {
			t.Fatalf("produce: %d %s", code, body)
		}
		var resp v2Produced
		if err := jsonUnmarshal(body, &resp); err != nil || len(resp.Offsets) != 6 {
			t.Fatalf("answer %s: %v", body, err)
		}
		for j, o := range resp.Offsets {
			if o.Partition == nil || o.Offset == nil {
				t.Fatalf("record %d failed: %s", i+j, body)
			}
			answered[strconv.Quote(fmt.Sprint("v", i+j))] = [2]int64{int64(*o.Partition), *o.Offset}
		}
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(members[1].addrs.Kafka), kgo.ConsumeTopics("spread"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	perPart := map[int32]int{}
	for len(seen) < n && ctx.Err() == nil {
		for _, r := range cons.PollFetches(ctx).Records() {
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("duplicate %s", v)
			}
			seen[v] = true
			perPart[r.Partition]++
			if got, want := [2]int64{int64(r.Partition), r.Offset}, answered[v]; got != want {
				t.Fatalf("%s stored at %v, answered %v", v, got, want)
			}
		}
	}
	ends, err := adm.ListEndOffsets(ctx, "spread")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if len(seen) != n || total != n || len(perPart) != 3 {
		t.Fatalf("read %d records, the topic holds %d, want %d on 3 partitions (%v)", len(seen), total, n, perPart)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
