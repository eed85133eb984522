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
	hw, values, err := tryFetchAt(ctx, cl, nd.id, topic, part, offset)
	if err != nil {
		t.Fatalf("fetch from broker %d: %v", nd.id, err)
	}
	return hw, values
}

// tryFetchAt fetches partition part of topic from broker id at offset:
// its high watermark and record values.
func tryFetchAt(ctx context.Context, cl *kgo.Client, id int32, topic string, part int32, offset int64) (int64, []string, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 0, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = part, offset, 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(id)))
	if err != nil {
		return 0, nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, nil, fmt.Errorf("fetch answer shape: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, nil, err
	}
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: topic, Partition: part, Offset: offset}, &p, kgo.DefaultDecompressor(), nil)
	if fp.Err != nil {
		return 0, nil, fp.Err
	}
	var values []string
	for _, r := range fp.Records {
		values = append(values, string(r.Value))
	}
	return p.HighWatermark, values, nil
}

// TestFollowerRestartKeepsCheckpointedHW: a follower holding records its
// leader had not committed (an in-sync replica is paused, so the high
// watermark stays behind) is restarted while the leader is down. It reads
// its high-watermark checkpoint at start (10, not its log end 15). If
// elected (clean election) it serves the checkpointed high watermark
// through ListOffsets and Fetch until the paused replica catches up; if the
// controller instead treats the restart as Kafka's KIP-380 does (the
// bounced replica leaves the ISR), the paused replica leads and serves
// exactly the committed records, and the follower truncates to it.
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
	// (broker epoch, KIP-380). Depending on whether the controller sees
	// L's absence or F's restart first, it either elects F from the ISR
	// [F G] (F's new incarnation registered before the state was
	// rewritten) or treats F's earlier incarnation as dead, as Kafka does
	// with a bounced broker, and elects G with ISR [G]. Either way no
	// record beyond the committed ten may be served before G catches up.
	gadm := kadm.NewClient(clientOf(t, nil, ctl))
	var leader int32
	waitFor(ctx, t, "a new leader (F or G)", func() bool {
		m, err := gadm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		leader = m.Topics[topic].Partitions[part].Leader
		return leader == fl.id || leader == g.id
	})
	if !strings.Contains(fl.logs.String(), "high-watermark checkpoint read") {
		t.Fatal("F did not log reading its checkpoint")
	}
	anyc := clientOf(t, nil, ctl, g, fl)
	if leader == fl.id {
		// F leads with G (paused) in its ISR: it serves its checkpointed
		// high watermark, not its log end 15.
		var hw int64
		var values []string
		waitFor(ctx, t, "F serving as leader", func() bool {
			var err error
			hw, values, err = tryFetchAt(ctx, anyc, fl.id, topic, part, 0)
			return err == nil
		})
		if hw != 10 || !slices.Equal(values, committed) {
			t.Fatalf("F as new leader: high watermark %d, values %v; want its checkpointed 10 and %v", hw, values, committed)
		}
		ends, err := kadm.NewClient(anyc).ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := ends.Lookup(topic, part); o.Err != nil || o.Offset != 10 {
			t.Fatalf("F's end offset as new leader: %d (%v), want its checkpointed high watermark 10 (not its log end 15)", o.Offset, o.Err)
		}
		g.signal(syscall.SIGCONT)
		waitFor(ctx, t, "the high watermark at 15 once G caught up", func() bool {
			hw, values, err = tryFetchAt(ctx, anyc, fl.id, topic, part, 0)
			return err == nil && hw == 15
		})
		if want := append(slices.Clone(committed), uncommitted...); !slices.Equal(values, want) {
			t.Fatalf("F's records once committed: %v, want %v", values, want)
		}
		return
	}
	// G leads with ISR [G]: once resumed it serves exactly the committed
	// records (the five F held were never acknowledged to acks=all
	// clients); F truncates to G's log and rejoins the ISR.
	g.signal(syscall.SIGCONT)
	var hw int64
	var values []string
	waitFor(ctx, t, "G serving as leader", func() bool {
		var err error
		hw, values, err = tryFetchAt(ctx, anyc, g.id, topic, part, 0)
		return err == nil
	})
	// G serves the committed ten, and at most a prefix of the five acks=1
	// records if leadership went through F while G caught up (acks=1
	// writes may become committed; they may never be served out of order
	// or above the high watermark).
	if want := append(slices.Clone(committed), uncommitted...); hw != int64(len(values)) || len(values) < len(committed) || !slices.Equal(values, want[:len(values)]) {
		t.Fatalf("G as new leader: high watermark %d, values %v; want %v then a prefix of %v, all below the high watermark", hw, values, committed, uncommitted)
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
