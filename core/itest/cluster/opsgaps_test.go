package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterOpsGaps covers what issue 14 left open, on one 3-broker
// cluster: concurrent topic config alters through different brokers all
// land; a dynamic broker config altered through one broker is applied by
// the others; a reassignment bumps the leader epoch at each step that
// changes the replica set; a broker that was down while a
// reassignment removed it deletes its stray copy when it starts; a
// deleted topic's marker goes once its last replica, down during the
// deletion, has deleted its copy.
func TestClusterOpsGaps(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	t.Run("concurrent topic config alters", func(t *testing.T) {
		const topic = "cfgrace"
		createTopic(ctx, t, adm, topic, 1, 3, nil)
		// Each broker answers alters from its own cache: wait until all
		// know the topic.
		for id := int32(1); id <= 3; id++ {
			waitFor(ctx, t, fmt.Sprintf("broker %d knowing the topic", id), func() bool {
				_, err := tryDescribeConfigs(ctx, cl, id, kmsg.ConfigResourceTypeTopic, topic, kmsg.ConfigSourceDynamicTopicConfig)
				return err == nil
			})
		}
		keys := []string{"retention.ms", "retention.bytes", "segment.ms", "flush.ms", "flush.messages",
			"delete.retention.ms", "min.compaction.lag.ms", "index.interval.bytes", "max.message.bytes"}
		value := func(round, i int) string { return strconv.Itoa(2_000_000 + round*1000 + i) }
		// Each round alters every key at once, key i through broker
		// 1+i%3: a lost update leaves a key at the previous round's value.
		for round := range 4 {
			var wg sync.WaitGroup
			errs := make([]error, len(keys))
			for i, key := range keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := kmsg.NewPtrIncrementalAlterConfigsRequest()
					rr := kmsg.NewIncrementalAlterConfigsRequestResource()
					rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
					rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
					rc.Name, rc.Op, rc.Value = key, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value(round, i))
					rr.Configs = append(rr.Configs, rc)
					req.Resources = append(req.Resources, rr)
					resp, err := req.RequestWith(ctx, cl.Broker(1+i%3))
					if err == nil {
						err = kerr.ErrorForCode(resp.Resources[0].ErrorCode)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d: alter %s through broker %d: %v", round, keys[i], 1+i%3, err)
				}
			}
		}
		// Every broker answers every key with the last round's value (its
		// cache follows ZooKeeper; the alter returned once stored).
		for id := int32(1); id <= 3; id++ {
			var got map[string]string
			var stale []string
			for deadline := time.Now().Add(20 * time.Second); ; {
				got = describeConfigs(ctx, t, cl, id, kmsg.ConfigResourceTypeTopic, topic, kmsg.ConfigSourceDynamicTopicConfig)
				stale = stale[:0]
				for i, key := range keys {
					if got[key] != value(3, i) {
						stale = append(stale, key+"="+got[key])
					}
				}
				if len(stale) == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(stale) > 0 {
				t.Fatalf("broker %d: alters lost, these keys lack the last round's value: %v", id, stale)
			}
			if len(got) != len(keys) {
				t.Fatalf("broker %d: dynamic topic configs %v, want exactly the %d altered keys", id, got, len(keys))
			}
		}
	})

	t.Run("broker config through another broker", func(t *testing.T) {
		// The cluster-wide default, altered through broker 1, applied by
		// brokers 2 and 3 (their throttles and DescribeConfigs).
		rate := "3145728"
		start := time.Now()
		alterBrokerConfig(ctx, t, cl, 1, "", followerRateKey, &rate)
		for _, id := range []int32{2, 3} {
			waitFor(ctx, t, fmt.Sprintf("broker %d describing the default rate", id), func() bool {
				got := describeConfigs(ctx, t, cl, id, kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id)), kmsg.ConfigSourceDynamicDefaultBrokerConfig)
				return got[followerRateKey] == rate
			})
			waitFor(ctx, t, fmt.Sprintf("broker %d applying the default rate", id), func() bool {
				return logHas(c.node(id), `msg="replication throttle rate changed"`, "config="+followerRateKey, "bytes_per_sec="+rate)
			})
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("brokers 2 and 3 applied the default after %v, want within 10s (a watch, or the 5 s re-read)", took)
		}
		t.Logf("default rate altered through broker 1 applied by brokers 2 and 3 within %v", time.Since(start).Round(time.Millisecond))

		// Concurrent alters of the default through every broker: both
		// keys land (a read-modify-write conditional on the znode version).
		const leaderRate = "7340032"
		var wg sync.WaitGroup
		for id := int32(1); id <= 3; id++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name, v := leaderRateKey, leaderRate
				if id != 2 {
					name, v = followerRateKey, strconv.Itoa(1000+int(id))
				}
				alterBrokerConfig(ctx, t, cl, id, "", name, &v)
			}()
		}
		wg.Wait()
		waitFor(ctx, t, "broker 3 describing both default rates", func() bool {
			got := describeConfigs(ctx, t, cl, 3, kmsg.ConfigResourceTypeBroker, "", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
			return got[leaderRateKey] == leaderRate && (got[followerRateKey] == "1001" || got[followerRateKey] == "1003")
		})

		// A broker's own entity is altered through that broker (Kafka
		// answers another broker's id with INVALID_REQUEST) and wins over
		// the default.
		own := "12345"
		if err := tryAlterBrokerConfig(ctx, cl, 1, "3", followerRateKey, &own); !errors.Is(err, kerr.InvalidRequest) {
			t.Fatalf("broker 3's config through broker 1: %v, want INVALID_REQUEST", err)
		}
		alterBrokerConfig(ctx, t, cl, 3, "3", followerRateKey, &own)
		waitFor(ctx, t, "broker 3 applying its own rate", func() bool {
			got := describeConfigs(ctx, t, cl, 3, kmsg.ConfigResourceTypeBroker, "3", kmsg.ConfigSourceDynamicBrokerConfig)
			return got[followerRateKey] == own &&
				logHas(c.node(3), `msg="replication throttle rate changed"`, "config="+followerRateKey, "bytes_per_sec="+own)
		})
		// Clean up: unlimited again everywhere.
		alterBrokerConfig(ctx, t, cl, 3, "3", followerRateKey, nil)
		alterBrokerConfig(ctx, t, cl, 2, "", followerRateKey, nil)
		alterBrokerConfig(ctx, t, cl, 2, "", leaderRateKey, nil)
	})

	t.Run("reassignment epochs and stray copy", func(t *testing.T) {
		const topic = "strayed"
		createTopic(ctx, t, adm, topic, 1, 2, nil)
		// Metadata may come from a broker whose cache has not seen it yet.
		waitFor(ctx, t, "the topic in metadata", func() bool {
			p := partitionInfo(ctx, t, adm, topic, 0)
			return len(p.Replicas) > 0 && p.Leader >= 0
		})
		if p := partitionInfo(ctx, t, adm, topic, 0); !slices.Equal(p.Replicas, []int32{1, 2}) {
			t.Fatalf("replicas %v, want [1 2]", p.Replicas)
		}
		prod := clientOf(t, []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, c.node(2), c.node(3))
		var values []string
		for i := range 20 {
			values = append(values, "r"+strconv.Itoa(i))
		}
		produceValues(ctx, t, prod, topic, 0, values...)
		waitFor(ctx, t, "both replicas in sync", func() bool { return len(partitionInfo(ctx, t, adm, topic, 0).ISR) == 2 })

		// Broker 1 goes down (controlled shutdown moves leadership to 2)
		// and is removed from the partition while it is down.
		n1 := c.node(1)
		n1.proc.Stop()
		var before int32
		waitFor(ctx, t, "broker 2 leading", func() bool {
			p := partitionInfo(ctx, t, adm, topic, 0)
			before = p.LeaderEpoch
			return p.Leader == 2 && slices.Equal(p.ISR, []int32{2})
		})
		if err := alterAssignment(ctx, t, adm, topic, []int32{2, 3}); err != nil {
			t.Fatalf("reassign: %v", err)
		}
		var after int32
		waitFor(ctx, t, "the reassignment done", func() bool {
			if _, ok := reassignments(ctx, t, adm, topic)[0]; ok {
				return false
			}
			p := partitionInfo(ctx, t, adm, topic, 0)
			after = p.LeaderEpoch
			return slices.Equal(p.Replicas, []int32{2, 3}) && p.Leader == 2 && len(p.ISR) == 2
		})
		// Kafka's controller: one new epoch when the set grows to
		// [2 3 1], one when it shrinks to [2 3] (the leader stays).
		if after != before+2 {
			t.Fatalf("leader epoch %d after the reassignment, %d before: want 2 bumps", after, before)
		}
		// The leader fences requests at the old epoch and knows where each
		// epoch ended (OffsetForLeaderEpoch, as a follower asks).
		if code, _ := offsetForLeaderEpoch(ctx, t, cl, 2, topic, before, before); code != kerr.FencedLeaderEpoch.Code {
			t.Fatalf("OffsetForLeaderEpoch at the old epoch %d: code %d, want FENCED_LEADER_EPOCH", before, code)
		}
		for _, e := range []int32{before, before + 1, after} {
			code, end := offsetForLeaderEpoch(ctx, t, cl, 2, topic, after, e)
			if code != 0 || end != int64(len(values)) {
				t.Fatalf("OffsetForLeaderEpoch(epoch %d) at %d: code %d end %d, want 0 and %d", e, after, code, end, len(values))
			}
		}
		produceValues(ctx, t, prod, topic, 0, "after")
		if _, err := os.Stat(filepath.Join(n1.dir, topic+"-0")); err != nil {
			t.Fatalf("broker 1's stopped copy: %v, want it still on disk", err)
		}

		// Back, broker 1 finds its copy stray and deletes it.
		n1.start()
		waitFor(ctx, t, "broker 1's stray copy deleted", func() bool {
			entries, err := os.ReadDir(n1.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), topic+"-") {
					return false // the dir, or its -delete rename
				}
			}
			return true
		})
		if !logHas(n1, `msg="removing stray partition directory"`, "topic=strayed", "partition=0", `reason="not a replica"`) {
			t.Fatalf("broker 1 did not log the stray copy it removed:\n%s", n1.logs.String())
		}
		// The partition itself is unaffected.
		if p := partitionInfo(ctx, t, adm, topic, 0); !slices.Equal(p.Replicas, []int32{2, 3}) || p.LeaderEpoch != after {
			t.Fatalf("after broker 1 returned: replicas %v epoch %d, want [2 3] and %d", p.Replicas, p.LeaderEpoch, after)
		}
		if hw, got := fetchAt(ctx, t, cl, c.node(2), topic, 0, 0); hw != int64(len(values))+1 || len(got) != len(values)+1 {
			t.Fatalf("leader 2: high watermark %d, %d records, want %d", hw, len(got), len(values)+1)
		}
	})

	t.Run("deletion marker cleared by the last replica", func(t *testing.T) {
		const topic = "doomed"
		createTopic(ctx, t, adm, topic, 1, 3, nil)
		waitFor(ctx, t, "every broker in the ISR", func() bool { return inEveryISR(ctx, t, adm, topic, []int32{1, 2, 3}) })
		prod := clientOf(t, []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, c.node(1), c.node(2))
		produceValues(ctx, t, prod, topic, 0, "a", "b", "c")

		conn, _, err := zk.Connect([]string{zkServer.Addr}, 10*time.Second, zk.WithLogInfo(false))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		marker := strings.TrimPrefix(c.kit.Connect, zkServer.Addr) + "/admin/delete_topics/" + topic
		pending := func() (string, bool) {
			data, _, err := conn.Get(marker)
			if errors.Is(err, zk.ErrNoNode) {
				return "", false
			}
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Pending []int32 `json:"pending"`
			}
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("marker %q: %v", data, err)
			}
			return fmt.Sprint(m.Pending), true
		}

		// Broker 3 is down while the topic is deleted: brokers 1 and 2
		// delete their copies and acknowledge; the marker waits for 3.
		n3 := c.node(3)
		n3.proc.Stop()
		if resp, err := adm.DeleteTopic(ctx, topic); err != nil || resp.Err != nil {
			t.Fatalf("delete: %v %v", err, resp.Err)
		}
		waitFor(ctx, t, "the marker waiting for broker 3 only", func() bool {
			got, ok := pending()
			return ok && got == "[3]"
		})
		if _, err := os.Stat(filepath.Join(n3.dir, topic+"-0")); err != nil {
			t.Fatalf("broker 3's stopped copy: %v, want it still on disk", err)
		}
		// Back, broker 3 deletes its copy and removes the marker.
		n3.start()
		waitFor(ctx, t, "the marker removed", func() bool { _, ok := pending(); return !ok })
		if !logHas(n3, `msg="removing stray partition directory"`, "topic="+topic, "partition=0", `reason="topic deleted"`) {
			t.Fatalf("broker 3 did not log the copy it removed:\n%s", n3.logs.String())
		}
		waitFor(ctx, t, "broker 3's copy deleted", func() bool {
			entries, err := os.ReadDir(n3.dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), topic+"-") {
					return false
				}
			}
			return true
		})
	})
}

// logHas reports whether one line of nd's output holds every part.
func logHas(nd *node, parts ...string) bool {
	for _, line := range strings.Split(nd.logs.String(), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

const (
	leaderRateKey   = "leader.replication.throttled.rate"
	followerRateKey = "follower.replication.throttled.rate"
)

// describeConfigs asks broker id for a resource's configs and returns
// those with source src.
func describeConfigs(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, rt kmsg.ConfigResourceType, name string, src kmsg.ConfigSource) map[string]string {
	t.Helper()
	out, err := tryDescribeConfigs(ctx, cl, id, rt, name, src)
	if err != nil {
		t.Fatalf("describe configs on broker %d: %v", id, err)
	}
	return out
}

func tryDescribeConfigs(ctx context.Context, cl *kgo.Client, id int32, rt kmsg.ConfigResourceType, name string, src kmsg.ConfigSource) (map[string]string, error) {
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = rt, name
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		if c.Source == src && c.Value != nil {
			out[c.Name] = *c.Value
		}
	}
	return out, nil
}

// tryAlterBrokerConfig sets (value non-nil) or deletes one dynamic config
// of BROKER resource name through broker via.
func tryAlterBrokerConfig(ctx context.Context, cl *kgo.Client, via int32, name, key string, value *string) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, name
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Op, rc.Value = key, kmsg.IncrementalAlterConfigOpSet, value
	if value == nil {
		rc.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	rr.Configs = append(rr.Configs, rc)
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(ctx, cl.Broker(int(via)))
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
}

func alterBrokerConfig(ctx context.Context, t *testing.T, cl *kgo.Client, via int32, name, key string, value *string) {
	t.Helper()
	if err := tryAlterBrokerConfig(ctx, cl, via, name, key, value); err != nil {
		t.Errorf("alter broker config %s of %q through broker %d: %v", key, name, via, err)
	}
}

// offsetForLeaderEpoch asks broker id (as a consumer would, replica -1)
// where leader epoch epoch ends in partition 0 of topic, naming current
// as the epoch it believes current.
func offsetForLeaderEpoch(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, topic string, current, epoch int32) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		t.Fatalf("OffsetForLeaderEpoch on broker %d: %v", id, err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.EndOffset
}
