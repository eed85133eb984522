package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestEOSLeaderKilled: exactly-once read-process-write over 100,000
// records with two kgo GroupTransactSessions on 3 brokers (replication 3,
// min.insync.replicas 2) while the leader of an output partition, which
// also coordinates one session's transactions, is SIGKILLed mid-run and
// later restarted. The output read with
// read_committed holds each input record exactly once.
func TestEOSLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("3-broker cluster, 100,000 records and a SIGKILL (skipped by -short)")
	}
	const (
		n          = 100_000
		partitions = 6
		in, out    = "eos-in", "eos-out"
	)
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := clusterAdmin(t, c)
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	createTopic(ctx, t, adm, in, partitions, 3, minISR)
	createTopic(ctx, t, adm, out, partitions, 3, minISR)
	start := time.Now()
	since := func() time.Duration { return time.Since(start).Round(time.Millisecond) }
	opts := []kgo.Opt{kgo.SeedBrokers(c.seeds()...)}
	if err := testkit.ProduceEOSInput(ctx, opts, in, n); err != nil {
		t.Fatalf("produce input: %v", err)
	}
	ends, err := adm.ListEndOffsets(ctx, in)
	if err != nil || ends.Error() != nil {
		t.Fatalf("end offsets of %s: %v %v", in, err, ends.Error())
	}
	endOf := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { endOf[o.Partition] = o.Offset })
	t.Logf("%v: %d input records produced", since(), n)

	logf := func(f string, a ...any) { t.Logf("%v: "+f, append([]any{since()}, a...)...) }
	etls := []*testkit.ETL{
		{ClientOpts: opts, Group: "eos", TxnID: "eos-1", In: in, Out: out, MaxPollRecords: 1000, Logf: logf},
		{ClientOpts: opts, Group: "eos", TxnID: "eos-2", In: in, Out: out, MaxPollRecords: 1000, Logf: logf},
	}
	committed := func() (sum int64) {
		for _, e := range etls {
			sum += e.Committed()
		}
		return sum
	}
	done := make(chan error, len(etls))
	for _, e := range etls {
		go func() { done <- e.Run(ctx, endOf) }()
	}

	for committed() < n*3/10 {
		select {
		case err := <-done:
			t.Fatalf("etl ended before the kill: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The victim leads output partitions and coordinates eos-1's
	// transactions: its markers, the transaction state and the
	// partitions' producer state all move to other brokers at once.
	coord := adm.FindTxnCoordinators(ctx, "eos-1")["eos-1"]
	if coord.Err != nil {
		t.Fatalf("transaction coordinator of eos-1: %v", coord.Err)
	}
	leader := coord.NodeID
	md, err := adm.Metadata(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	led := int32(-1)
	for _, p := range md.Topics[out].Partitions.Sorted() {
		if p.Leader == leader {
			led = p.Partition
			break
		}
	}
	if led < 0 {
		t.Fatalf("broker %d leads no partition of %s: %+v", leader, out, md.Topics[out].Partitions)
	}
	victim := c.node(leader)
	t.Logf("%v: killing broker %d (leader of %s[%d], transaction coordinator of eos-1) after %d records committed", since(), leader, out, led, committed())
	victim.kill()
	waitFor(ctx, t, "a new leader of "+out, func() bool {
		l := partitionInfo(ctx, t, adm, out, led).Leader
		return l > 0 && l != leader
	})
	t.Logf("%v: %s[%d] led by %d", since(), out, led, partitionInfo(ctx, t, adm, out, led).Leader)
	// The run goes on with two brokers for a while, then the killed one
	// comes back (as a follower catching up).
	mark := committed() + n/5
	for committed() < mark {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("etl: %v", err)
			}
			done <- nil
			mark = 0
		case <-time.After(20 * time.Millisecond):
		}
	}
	victim.start()
	t.Logf("%v: broker %d restarted", since(), leader)
	for range etls {
		if err := <-done; err != nil {
			t.Fatalf("etl: %v", err)
		}
	}
	for _, e := range etls {
		t.Logf("%v: etl %s done: %s", since(), e.TxnID, e.Stats())
	}

	values, err := testkit.ReadCommittedValues(ctx, opts, out, n, 2*time.Second)
	if report := testkit.EOSCheck(values, n); report != "" || err != nil {
		t.Fatalf("output under read_committed: %s (read error: %v)", report, err)
	}
	t.Logf("%v: %d output records, each input record exactly once", since(), len(values))
	if ls, err := adm.ListTransactions(ctx, nil, []string{"Ongoing", "PrepareCommit", "PrepareAbort"}); err != nil || len(ls) != 0 {
		t.Fatalf("transactions still open after the run: %+v, %v", ls, err)
	}
}
