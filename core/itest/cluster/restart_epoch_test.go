package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// survivorInfo reads a partition's leader and epoch through a fresh client
// seeded with the brokers other than skip only: a restarting broker has
// bound its port before it serves, so a request there would hang.
func survivorInfo(ctx context.Context, c *testCluster, skip int32, topic string, part int32) (kadm.PartitionDetail, bool) {
	var seeds []string
	for _, nd := range c.nodes {
		if nd.id != skip {
			seeds = append(seeds, nd.addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return kadm.PartitionDetail{}, false
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(rctx, topic)
	if err != nil {
		return kadm.PartitionDetail{}, false
	}
	p, ok := md.Topics[topic].Partitions[part]
	return p, ok && p.Err == nil
}

// TestLeaderKilledRestartedBeforeExpiry: the leader of an RF=3 partition
// (not the controller) is SIGKILLed and restarted 3 s later, before its ZooKeeper session
// (6 s) has expired. The restarted process registers once the old session
// is gone, under a new broker epoch; the controller treats the old
// incarnation as dead at once, so the partition has a new leader within
// the session timeout + 2 s, and nothing acknowledged is lost. The
// restarted broker rejoins the ISR as a follower.
func TestLeaderKilledRestartedBeforeExpiry(t *testing.T) {
	const session = 6 * time.Second
	c := startCluster(t, 3, "--zookeeper-session-timeout", session.String())
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "bounce"
	createTopic(ctx, t, adm, topic, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
	waitFor(ctx, t, "every broker in every ISR", func() bool { return inEveryISR(ctx, t, adm, topic, []int32{1, 2, 3}) })
	// The leader of a partition that the controller does not lead: the
	// controller stays alive and must recognise the restart (a killed
	// controller's successor is elected only once the old session is
	// gone, and so sees the broker gone).
	bm, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	part := int32(-1)
	var before kadm.PartitionDetail
	for p := int32(0); p < 3 && part < 0; p++ {
		if before = partitionInfo(ctx, t, adm, topic, p); before.Leader != bm.Controller {
			part = p
		}
	}
	if part < 0 {
		t.Fatalf("the controller %d leads every partition", bm.Controller)
	}
	a := startAckClockOn(t, c, topic, part)
	waitFor(ctx, t, "first acknowledgements", func() bool { return a.ackedCount() >= 200 })

	old := c.node(before.Leader)
	killed := time.Now()
	old.kill()
	restarted := make(chan error, 1)
	go func() {
		time.Sleep(3 * time.Second)
		restarted <- old.proc.Process.Start(ctx) // returns once it serves
	}()
	var now kadm.PartitionDetail
	for {
		p, ok := survivorInfo(ctx, c, old.id, topic, part)
		if ok && p.Leader != old.id && p.Leader >= 0 && p.LeaderEpoch > before.LeaderEpoch {
			now = p
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no new leader")
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(killed)
	t.Logf("leader %d of %s-%d killed (controller %d); broker %d leads at epoch %d after %v (session timeout %v)",
		old.id, topic, part, bm.Controller, now.Leader, now.LeaderEpoch, took.Round(time.Millisecond), session)
	if took > session+2*time.Second {
		t.Fatalf("new leader after %v, want within session timeout + 2s = %v", took, session+2*time.Second)
	}
	if err := <-restarted; err != nil {
		t.Fatalf("restart broker %d: %v", old.id, err)
	}
	waitFor(ctx, t, fmt.Sprintf("broker %d back in the ISR", old.id), func() bool {
		return slices.Contains(partitionInfo(ctx, t, adm, topic, part).ISR, old.id)
	})
	n := a.ackedCount()
	waitFor(ctx, t, "acknowledgements after the restart", func() bool { return a.ackedCount() >= n+200 })
	acked := a.finish()
	times := a.ackTimes()
	offsets, values := readPartition(ctx, t, c, adm, topic, part)
	checkExactlyOnce(t, acked, offsets, values)
	gaps := ackGaps(times, killed, time.Now())
	t.Logf("acknowledged %d records, read %d; largest acknowledgement gap %v", len(acked), len(values), gaps[0])
	if gaps[0] > session+2*time.Second {
		t.Fatalf("no acknowledgement for %v, want at most session timeout + 2s", gaps[0])
	}
	// What the controller did, for the log.
	for _, nd := range c.nodes {
		for _, line := range strings.Split(nd.logs.String(), "\n") {
			if strings.Contains(line, "partition state changed") && strings.Contains(line, "topic="+topic) {
				t.Logf("broker %d: %s", nd.id, line)
			}
		}
	}
}

// readPartition is readAll for partition part.
func readPartition(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, topic string, part int32) (offsets []int64, values []int) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, part)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for int64(len(offsets)) < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(offsets), end.Offset)
		}
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

// TestLeaderReregisteredIsDead: a leader's registration replaced in one
// ZooKeeper transaction (what the controller sees when a restarted broker
// registers again before it noticed the old one go: same id, present all
// along, new broker epoch) makes the controller treat the old incarnation
// as dead at once: another in-sync replica leads with a higher leader
// epoch and the broker leaves the ISR (logged), then rejoins it as a
// follower (at once here: the process never stopped).
func TestLeaderReregisteredIsDead(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "reregistered"
	createTopic(ctx, t, adm, topic, 1, 3, nil)
	waitFor(ctx, t, "every broker in the ISR", func() bool { return inEveryISR(ctx, t, adm, topic, []int32{1, 2, 3}) })
	before := partitionInfo(ctx, t, adm, topic, 0)

	conn, _, err := zk.Connect([]string{zkServer.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := strings.TrimPrefix(c.kit.Connect, zkServer.Addr) + "/brokers/ids/" + strconv.Itoa(int(before.Leader))
	data, _, err := conn.Get(path)
	if err != nil {
		t.Fatal(err)
	}
	replaced := time.Now()
	if _, err := conn.Multi(
		&zk.DeleteRequest{Path: path, Version: -1},
		&zk.CreateRequest{Path: path, Data: data, Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral},
	); err != nil {
		t.Fatal(err)
	}
	var now kadm.PartitionDetail
	waitFor(ctx, t, "a new leader", func() bool {
		now = partitionInfo(ctx, t, adm, topic, 0)
		return now.Leader != before.Leader && now.LeaderEpoch > before.LeaderEpoch
	})
	took := time.Since(replaced)
	t.Logf("broker %d re-registered; broker %d leads at epoch %d with ISR %v after %v", before.Leader, now.Leader, now.LeaderEpoch, now.ISR, took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Fatalf("leadership moved %v after the re-registration, want at once", took)
	}
	var logged bool
	for _, nd := range c.nodes {
		logged = logged || strings.Contains(nd.logs.String(), `why="broker restarted: leader offline"`)
	}
	if !logged {
		t.Fatal("no controller logged a leader change for a restarted broker")
	}
	waitFor(ctx, t, fmt.Sprintf("broker %d back in the ISR", before.Leader), func() bool {
		return slices.Contains(partitionInfo(ctx, t, adm, topic, 0).ISR, before.Leader)
	})
}
