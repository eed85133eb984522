package cluster_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupCoordinatorFailover: a consumer group keeps consuming when its
// coordinator (the leader of its __consumer_offsets partition) is killed,
// and never goes back before offsets it committed.
func TestGroupCoordinatorFailover(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic, groupID = "events", "failover-group"
	createTopic(ctx, t, adm, topic, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})

	prod, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	next := 0
	produce := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(next))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", next, err)
			}
			next++
		}
	}

	type seen struct {
		partition int32
		offset    int64
	}
	var (
		mu        sync.Mutex
		consumed  = map[int]seen{}
		committed = map[int32]int64{} // highest committed offset per partition
		backwards []string
	)
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumerGroup(groupID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	go func() {
		for pollCtx.Err() == nil {
			fs := cons.PollFetches(pollCtx)
			fs.EachRecord(func(r *kgo.Record) {
				n, _ := strconv.Atoi(string(r.Value))
				mu.Lock()
				if c, ok := committed[r.Partition]; ok && r.Offset < c {
					backwards = append(backwards, r.Topic+"/"+strconv.Itoa(int(r.Partition))+"@"+strconv.FormatInt(r.Offset, 10))
				}
				consumed[n] = seen{r.Partition, r.Offset}
				mu.Unlock()
			})
			if err := cons.CommitUncommittedOffsets(pollCtx); err == nil {
				for tp, o := range cons.CommittedOffsets()[topic] {
					mu.Lock()
					if o.Offset > committed[tp] {
						committed[tp] = o.Offset
					}
					mu.Unlock()
				}
			}
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(consumed)
	}

	produce(300)
	waitFor(ctx, t, "the group to consume the first records", func() bool { return count() == 300 })

	coord := adm.FindGroupCoordinators(ctx, groupID)[groupID]
	if coord.Err != nil {
		t.Fatal(coord.Err)
	}
	coordinator := coord.NodeID
	t.Logf("killing coordinator %d", coordinator)
	c.node(coordinator).kill()

	produce(300)
	waitFor(ctx, t, "the group to consume across the failover", func() bool { return count() == 600 })
	var newCoordinator int32 = -1
	waitFor(ctx, t, "a new coordinator", func() bool {
		cs := adm.FindGroupCoordinators(ctx, groupID)[groupID]
		if cs.Err != nil {
			return false
		}
		newCoordinator = cs.NodeID
		return newCoordinator != coordinator
	})
	stopPolling()

	mu.Lock()
	defer mu.Unlock()
	if len(backwards) > 0 {
		t.Fatalf("the group went back before its commits at %v", backwards)
	}
	for i := 0; i < 600; i++ {
		if _, ok := consumed[i]; !ok {
			t.Fatalf("record %d never consumed", i)
		}
	}
	t.Logf("coordinator %d -> %d, consumed %d records", coordinator, newCoordinator, len(consumed))
}
