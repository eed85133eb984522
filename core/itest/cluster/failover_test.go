package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterAdmin returns an admin client on every broker of c.
func clusterAdmin(t *testing.T, c *testCluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic creates the topic and waits until every broker that answers
// knows it with a leader for each partition: CreateTopics is answered by
// the broker that wrote the topic to ZooKeeper, the others learn it from
// their watch a moment later, and a test reading metadata right away may
// ask one of them (TestBridgeReachesLeaders once read the topic without
// partitions).
func createTopic(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, partitions int32, rf int16, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatalf("broker metadata: %v", err)
	}
	var seeds []string
	var ids []int32
	for _, b := range bm.Brokers {
		seeds = append(seeds, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
		ids = append(ids, b.NodeID)
	}
	// A broker of the client's list that does not answer (one a test
	// stopped) has nothing to learn.
	waitTopicOn(ctx, t, seeds, ids, topic, int(partitions), true)
}

// waitTopicEverywhere waits until every running broker's Metadata answer
// has the topic with a leader for each of its partitions (see
// createTopic), for a topic created some other way.
func waitTopicEverywhere(ctx context.Context, t *testing.T, c *testCluster, topic string, partitions int) {
	t.Helper()
	var ids []int32
	for _, nd := range c.nodes {
		if nd.running() {
			ids = append(ids, nd.id)
		}
	}
	waitTopicOn(ctx, t, c.seeds(), ids, topic, partitions, false)
}

// waitTopicOn waits until each of the brokers ids (reached through seeds)
// answers Metadata with the topic and a leader for each of its
// partitions; with skipUnreachable a broker whose request fails is not
// waited for.
func waitTopicOn(ctx context.Context, t *testing.T, seeds []string, ids []int32, topic string, partitions int, skipUnreachable bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, id := range ids {
		waitFor(ctx, t, fmt.Sprintf("broker %d knowing topic %s", id, topic), func() bool {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			req.Topics = append(req.Topics, rt)
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			resp, err := req.RequestWith(rctx, cl.Broker(int(id)))
			if err != nil {
				return skipUnreachable && ctx.Err() == nil
			}
			if skipUnreachable && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == kerr.TopicAuthorizationFailed.Code {
				return true // this plain client may not look (ACL tests)
			}
			if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != partitions {
				return false
			}
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode != 0 || p.Leader < 0 {
					return false
				}
			}
			return true
		})
	}
}

// partitionInfo reads a partition's leader and ISR from Metadata.
func partitionInfo(ctx context.Context, t *testing.T, adm *kadm.Client, topic string, p int32) kadm.PartitionDetail {
	t.Helper()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	return md.Topics[topic].Partitions[p]
}

// waitFor polls cond until it holds or the context ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readAll consumes partition 0 of topic from the start to its end.
func readAll(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, topic string) (offsets []int64, values []int) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for int64(len(offsets)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(offsets), end.Offset)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("bad value %q at offset %d", r.Value, r.Offset)
			}
			offsets = append(offsets, r.Offset)
			values = append(values, n)
		})
	}
	return offsets, values
}

// checkExactlyOnce: every acknowledged record is there exactly once, all
// records are in production order, and offsets are dense.
func checkExactlyOnce(t *testing.T, acked []int, offsets []int64, values []int) {
	t.Helper()
	seen := map[int]int64{}
	for i, v := range values {
		if offsets[i] != int64(i) {
			t.Fatalf("offset %d at position %d", offsets[i], i)
		}
		if prev, dup := seen[v]; dup {
			t.Fatalf("record %d at offsets %d and %d", v, prev, offsets[i])
		}
		seen[v] = offsets[i]
		if i > 0 && v <= values[i-1] {
			t.Fatalf("record %d at offset %d after record %d: out of order", v, offsets[i], values[i-1])
		}
	}
	for _, a := range acked {
		if _, ok := seen[a]; !ok {
			t.Fatalf("acknowledged record %d is missing (read %d records)", a, len(values))
		}
	}
}

func testLeaderFault(t *testing.T, fault func(c *testCluster, leader *node)) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "orders"
	createTopic(ctx, t, adm, topic, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	s := startSequencer(t, c, topic)
	waitFor(ctx, t, "first acknowledgements", func() bool { return s.ackedCount() >= 200 })

	before := partitionInfo(ctx, t, adm, topic, 0)
	old := c.node(before.Leader)
	fault(c, old)

	// Writes continue on a new leader.
	afterFault := s.ackedCount()
	waitFor(ctx, t, "acknowledgements after the fault", func() bool { return s.ackedCount() >= afterFault+300 })
	// Metadata is eventually consistent: a paused leader that was just
	// resumed can answer the metadata request with its stale view (itself,
	// the old epoch) for a moment before it applies the stored state, so
	// wait for the new leader to be what the cluster says, not one read.
	var now kadm.PartitionDetail
	waitFor(ctx, t, "a new leader with a higher epoch in the metadata", func() bool {
		now = partitionInfo(ctx, t, adm, topic, 0)
		return now.Leader != before.Leader && now.LeaderEpoch > before.LeaderEpoch
	})
	// The old leader comes back as a follower and rejoins the ISR.
	waitFor(ctx, t, fmt.Sprintf("broker %d back in the ISR", old.id), func() bool {
		return slices.Contains(partitionInfo(ctx, t, adm, topic, 0).ISR, old.id)
	})
	acked := s.finish()
	offsets, values := readAll(ctx, t, c, adm, topic)
	checkExactlyOnce(t, acked, offsets, values)
	t.Logf("acknowledged %d records, read %d; leader %d -> %d (epoch %d -> %d)", len(acked), len(values), before.Leader, now.Leader, before.LeaderEpoch, now.LeaderEpoch)

	// No offset holds two different records: once every replica is in
	// sync, their logs are the same bytes (followers store the leader's
	// batches as they are, offsets and leader epochs included), so an old
	// leader that kept a diverged tail would show here.
	waitFor(ctx, t, "replica logs identical", func() bool {
		if len(partitionInfo(ctx, t, adm, topic, 0).ISR) != 3 {
			return false
		}
		first := replicaLog(t, c.nodes[0], topic, 0)
		for _, nd := range c.nodes[1:] {
			if string(replicaLog(t, nd, topic, 0)) != string(first) {
				return false
			}
		}
		return len(first) > 0
	})
}

// replicaLog concatenates a replica's segment files.
func replicaLog(t *testing.T, nd *node, topic string, p int) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(nd.dir, topic+"-"+strconv.Itoa(p), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil // mid-roll or truncation: try again
		}
		out = append(out, b...)
	}
	return out
}

// TestLeaderKilled: the leader of an RF=3 partition is SIGKILLed under an
// idempotent acks=all producer, then restarted.
func TestLeaderKilled(t *testing.T) {
	testLeaderFault(t, func(c *testCluster, leader *node) {
		leader.kill()
		time.Sleep(3 * time.Second)
		leader.start()
	})
}

// TestLeaderPaused: the leader is SIGSTOPped long enough to lose its
// ZooKeeper session, then resumed.
func TestLeaderPaused(t *testing.T) {
	testLeaderFault(t, func(c *testCluster, leader *node) {
		leader.signal(syscall.SIGSTOP)
		time.Sleep(2*sessionTimeout + time.Second)
		leader.signal(syscall.SIGCONT)
	})
}

// TestNotEnoughReplicas: with min.insync.replicas=2, losing two of three
// replicas refuses acks=all writes; one coming back lets them resume, and
// nothing acknowledged is lost.
func TestNotEnoughReplicas(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "guarded"
	createTopic(ctx, t, adm, topic, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	waitTopicEverywhere(ctx, t, c, topic, 1) // the producer below does not retry
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.ProduceRequestTimeout(3*time.Second), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var acked []int
	produce := func(n int) error {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(n))}).FirstErr()
		if err == nil {
			acked = append(acked, n)
		}
		return err
	}
	for i := 0; i < 50; i++ {
		if err := produce(i); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	leader := partitionInfo(ctx, t, adm, topic, 0).Leader
	var followers []*node
	for _, nd := range c.nodes {
		if nd.id != leader {
			followers = append(followers, nd)
		}
	}
	followers[0].kill()
	followers[1].kill()
	waitFor(ctx, t, "ISR shrinks to the leader", func() bool {
		return slices.Equal(partitionInfo(ctx, t, adm, topic, 0).ISR, []int32{leader})
	})
	err = produce(1000)
	if !errors.Is(err, kerr.NotEnoughReplicas) && !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("produce with ISR of one: got %v, want NOT_ENOUGH_REPLICAS", err)
	}
	followers[0].start()
	waitFor(ctx, t, "ISR grows back", func() bool {
		return len(partitionInfo(ctx, t, adm, topic, 0).ISR) >= 2
	})
	for i := 50; i < 100; i++ {
		if err := produce(i); err != nil {
			t.Fatalf("produce %d after a replica returned: %v", i, err)
		}
	}
	offsets, values := readAll(ctx, t, c, adm, topic)
	got := map[int]bool{}
	for _, v := range values {
		got[v] = true
	}
	for _, a := range acked {
		if !got[a] {
			t.Fatalf("acknowledged record %d missing", a)
		}
	}
	if len(offsets) < 100 {
		t.Fatalf("read %d records, want at least 100", len(offsets))
	}
}

// TestControllerFailover: killing the controller elects another, which
// still moves leadership when a leader dies later.
func TestControllerFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	// A fresh client per question: a long-lived one may keep asking a
	// broker that is gone.
	controller := func() int32 {
		var seeds []string
		for _, nd := range c.nodes {
			if nd.running() {
				seeds = append(seeds, nd.addr)
			}
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
		if err != nil {
			return -1
		}
		defer cl.Close()
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		md, err := kadm.NewClient(cl).BrokerMetadata(rctx)
		if err != nil {
			return -1
		}
		return md.Controller
	}
	var first int32
	waitFor(ctx, t, "a controller", func() bool { first = controller(); return first > 0 })
	c.node(first).kill()
	var second int32
	waitFor(ctx, t, "a new controller", func() bool { second = controller(); return second > 0 && second != first })

	const topic = "after-failover"
	createTopic(ctx, t, adm, topic, 1, 2, nil)
	before := partitionInfo(ctx, t, adm, topic, 0)
	if before.Leader == first {
		t.Fatalf("leader %d is the dead broker", before.Leader)
	}
	if before.Leader != second {
		c.node(before.Leader).kill()
		waitFor(ctx, t, "leader change by the new controller", func() bool {
			p := partitionInfo(ctx, t, adm, topic, 0)
			return p.Leader != before.Leader && p.Leader > 0 && p.LeaderEpoch > before.LeaderEpoch
		})
	}
}
