package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/cluster"
)

// addNode starts one more broker process with extra serve flags.
func (c *testCluster) addNode(id int32, extra ...string) *node {
	c.t.Helper()
	m := c.kit.AddProcess(c.t, id, extra...)
	nd := &node{t: c.t, id: m.ID, addr: m.Addr, http: m.HTTP, dir: m.Proc.DataDir(), logs: output{m.Proc}, proc: m.Proc}
	c.nodes = append(c.nodes, nd)
	return nd
}

// clientOf is a client that talks to the given brokers only (never to a
// paused one, which would hold a request until it times out).
func clientOf(t *testing.T, opts []kgo.Opt, nodes ...*node) *kgo.Client {
	t.Helper()
	var seeds []string
	for _, nd := range nodes {
		seeds = append(seeds, nd.addr)
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceValues produces one record per value to partition 0 of topic,
// synchronously, failing t on any error.
func produceValues(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, part int32, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
}

// fetchAt reads partition part of topic from offset on broker nd itself
// and returns the high watermark it answers and the values it returns.
func fetchAt(ctx context.Context, t *testing.T, cl *kgo.Client, nd *node, topic string, part int32, offset int64) (int64, []string) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = part, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(nd.id)))
	if err != nil {
		t.Fatalf("fetch from broker %d: %v", nd.id, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch answer shape: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("fetch from broker %d: %v", nd.id, err)
	}
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: part, Offset: offset}, &p, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		t.Fatalf("fetch from broker %d: %v", nd.id, fp.Err)
	}
	var values []string
	for _, r := range fp.Records {
		values = append(values, string(r.Value))
	}
	return p.HighWatermark, values
}

// TestFollowerRestartKeepsCheckpointedHW: a follower holding records its
// leader had not committed (an in-sync replica is paused, so the high
// watermark stays behind) is restarted while the leader is down. It reads
// its high-watermark checkpoint at start (10, not its log end 15); the
// controller treats the restart as Kafka's KIP-380 does (the bounced
// replica leaves the ISR) and elects the paused replica, which serves
// exactly the committed records once resumed; the follower truncates to it
// and rejoins the ISR. (Which leader the checkpoint then serves is covered
// by core/cluster's TestHWCheckpoint* and core/partition's
// TestRestoreHighWatermark.)
//
// Brokers: the controller and the paused in-sync replica (G) run with a
// long ZooKeeper session, so that pausing them keeps them registered;
// the leader (L) and the follower (F) with a short one, so that their
// registrations go soon after they are killed. The controller is paused
// while L and F are down, so it sees F's restart and L's absence at once.
func TestFollowerRestartKeepsCheckpointedHW(t *testing.T) {
	const long, short = "40s", "2s"
	// Broker 1 starts alone, so it is the controller; partition 1 of a
	// topic on brokers 1-4 is placed on [2 3 4] (broker.assign), making
	// 2 the leader, 3 the follower and 4 the paused replica.
	common := []string{"--replica-lag-time-max", "5m", "--replica-hw-checkpoint-interval", "200ms", "--unclean-leader-election=false"}
	c := startCluster(t, 1, append([]string{"--zookeeper-session-timeout", long}, common...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	ctl := c.node(1)
	ld := c.addNode(2, "--zookeeper-session-timeout", short)
	fl := c.addNode(3, "--zookeeper-session-timeout", short)
	g := c.addNode(4)
	c.kit.WaitBrokers(t, 4)

	adm := clusterAdmin(t, c)
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || md.Controller != ctl.id {
		t.Fatalf("controller %d (%v), want broker 1", md.Controller, err)
	}
	const topic, part = "hwcheckpoint", 1
	createTopic(ctx, t, adm, topic, 2, 3, nil)
	if p := partitionInfo(ctx, t, adm, topic, part); !slices.Equal(p.Replicas, []int32{ld.id, fl.id, g.id}) {
		t.Fatalf("partition %d on %v, want [2 3 4]", part, p.Replicas)
	}
	waitFor(ctx, t, "the partition led by L with a full ISR", func() bool {
		p := partitionInfo(ctx, t, adm, topic, part)
		return p.Leader == ld.id && len(p.ISR) == 3
	})

	// Ten records committed everywhere.
	all := clientOf(t, []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner())}, ld, fl, g, ctl)
	var committed []string
	for i := range 10 {
		committed = append(committed, fmt.Sprintf("c%d", i))
	}
	produceValues(ctx, t, all, topic, part, committed...)
	checkpoint := filepath.Join(fl.dir, cluster.HWCheckpointFile)
	waitFor(ctx, t, "F's checkpoint at 10", func() bool {
		b, _ := os.ReadFile(checkpoint)
		return slices.Contains(strings.Split(string(b), "\n"), topic+" 1 10")
	})

	// G paused (still registered and in the ISR): five more records
	// reach L and F but cannot be committed.
	g.signal(syscall.SIGSTOP)
	defer g.signal(syscall.SIGCONT)
	one := clientOf(t, []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner())}, ld)
	uncommitted := []string{"u0", "u1", "u2", "u3", "u4"}
	produceValues(ctx, t, one, topic, part, uncommitted...)
	waitFor(ctx, t, "F holding L's log", func() bool {
		l, f := replicaLog(t, ld, topic, part), replicaLog(t, fl, topic, part)
		return len(l) > 0 && string(l) == string(f)
	})
	if hw, values := fetchAt(ctx, t, one, ld, topic, part, 0); hw != 10 || !slices.Equal(values, committed) {
		t.Fatalf("L before the fault: high watermark %d, values %v; want 10 and %v", hw, values, committed)
	}
	time.Sleep(time.Second) // several checkpoint intervals with F at log end 15
	if b, _ := os.ReadFile(checkpoint); !slices.Contains(strings.Split(string(b), "\n"), topic+" 1 10") {
		t.Fatalf("F's checkpoint %q, want %s 1 10", b, topic)
	}

	// The controller paused; L and F killed; F restarted while L stays
	// down.
	ctl.signal(syscall.SIGSTOP)
	resumed := false
	defer func() {
		if !resumed {
			ctl.signal(syscall.SIGCONT)
		}
	}()
	ld.kill()
	fl.kill()
	fl.start()
	ctl.signal(syscall.SIGCONT)
	resumed = true

	// Elected: F leads with ISR {F, G}, and G (paused) has not fetched.
	// F came back before the controller saw it go: a new registration
	// (broker epoch, KIP-380) that is newer than the partition state. As
	// Kafka's controller does with a bounced broker, the earlier
	// incarnation counts as dead and leaves the ISR (its unflushed writes
	// could be gone after a machine crash), so leadership goes to the
	// in-sync replica that did not restart: G, with the high watermark
	// F's checkpoint also holds.
	gadm := kadm.NewClient(clientOf(t, nil, ctl))
	waitFor(ctx, t, "G elected leader with ISR [G]", func() bool {
		m, err := gadm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		p := m.Topics[topic].Partitions[part]
		return p.Leader == g.id && slices.Equal(p.ISR, []int32{g.id})
	})
	if !strings.Contains(fl.logs.String(), "high-watermark checkpoint read") {
		t.Fatal("F did not log reading its checkpoint")
	}
	if b, _ := os.ReadFile(checkpoint); !slices.Contains(strings.Split(string(b), "\n"), topic+" 1 10") {
		t.Fatalf("F's checkpoint after its restart %q, want %s 1 10 (not its log end 15)", b, topic)
	}

	// G resumes and serves exactly the committed records: the five F held
	// beyond the high watermark were never acknowledged to acks=all
	// clients and are not exposed; F truncates to G's log and rejoins.
	g.signal(syscall.SIGCONT)
	gonly := clientOf(t, nil, g)
	waitFor(ctx, t, "G serving as leader", func() bool {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = part, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, gonly.Broker(int(g.id)))
		return err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode == 0
	})
	if hw, values := fetchAt(ctx, t, gonly, g, topic, part, 0); hw != 10 || !slices.Equal(values, committed) {
		t.Fatalf("G as new leader: high watermark %d, values %v; want 10 and %v", hw, values, committed)
	}
	waitFor(ctx, t, "F back in the ISR with G's log", func() bool {
		m, err := gadm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		p := m.Topics[topic].Partitions[part]
		l, f := replicaLog(t, g, topic, part), replicaLog(t, fl, topic, part)
		return slices.Equal(sorted(p.ISR), sorted([]int32{fl.id, g.id})) && len(l) > 0 && string(l) == string(f)
	})
}

func sorted(s []int32) []int32 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
