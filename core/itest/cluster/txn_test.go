package cluster_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnCoordinatorFailover: a transactional producer keeps committing
// when its transaction coordinator (the leader of its __transaction_state
// partition) is SIGKILLed with a transaction open: the new coordinator
// takes the transaction over from the replicated state and commits it,
// markers reach partitions led by other brokers, and read_committed
// consumers see every committed record exactly once and no aborted one.
func TestTxnCoordinatorFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("3-broker cluster with a SIGKILL (skipped by -short)")
	}
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic, id = "txn-events", "failover-txn"
	createTopic(ctx, t, adm, topic, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})

	prod, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID(id), kgo.TransactionTimeout(60*time.Second),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	next := 0
	committed := map[int]bool{}
	// txn produces n records in one transaction; ending it is up to end.
	txn := func(n int) []int {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		var vals []int
		for i := 0; i < n; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(next))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", next, err)
			}
			vals = append(vals, next)
			next++
		}
		return vals
	}
	end := func(vals []int, commit bool) {
		t.Helper()
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end (commit %v) of %d..%d: %v", commit, vals[0], vals[len(vals)-1], err)
		}
		if commit {
			for _, v := range vals {
				committed[v] = true
			}
		}
	}
	for i := 0; i < 5; i++ {
		end(txn(30), i != 2) // the third one aborted
	}

	coord := adm.FindTxnCoordinators(ctx, id)[id]
	if coord.Err != nil {
		t.Fatal(coord.Err)
	}
	open := txn(30)
	t.Logf("killing transaction coordinator %d with a transaction open", coord.NodeID)
	c.node(coord.NodeID).kill()
	// The commit goes out once another broker coordinates the id: kgo
	// gives up an EndTransaction whose coordinator refuses connections
	// before ZooKeeper has expired the dead broker's session (as it
	// would against Kafka), and it cannot be retried after that.
	for {
		if nc := adm.FindTxnCoordinators(ctx, id)[id]; nc.Err == nil && nc.NodeID != coord.NodeID {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no new transaction coordinator after the kill: %v", ctx.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
	end(open, true)
	for i := 0; i < 5; i++ {
		end(txn(30), i != 3)
	}
	newCoord := adm.FindTxnCoordinators(ctx, id)[id]
	if newCoord.Err != nil || newCoord.NodeID == coord.NodeID {
		t.Fatalf("coordinator after the kill: %+v (was %d)", newCoord, coord.NodeID)
	}

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[int]int{}
	var quietSince time.Time
	for {
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cons.PollFetches(pctx)
		pcancel()
		if ctx.Err() != nil {
			t.Fatalf("consume: %v; %d of %d committed records seen", ctx.Err(), len(seen), len(committed))
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			seen[v]++
			got++
		})
		if got > 0 || len(seen) < len(committed) {
			quietSince = time.Time{}
			continue
		}
		if quietSince.IsZero() {
			quietSince = time.Now()
		}
		if time.Since(quietSince) > 2*time.Second {
			break
		}
	}
	for v, n := range seen {
		if !committed[v] || n != 1 {
			t.Errorf("record %d seen %d times (committed: %v)", v, n, committed[v])
		}
	}
	if len(seen) != len(committed) || len(committed) != 270 {
		t.Fatalf("read_committed saw %d records, %d committed (want 270)", len(seen), len(committed))
	}
	t.Logf("coordinator %d -> %d; %d committed records seen once, 60 aborted never", coord.NodeID, newCoord.NodeID, len(seen))
}
