package itest

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/internal/testkit"
)

// TestEOSCrash: exactly-once read-process-write over 100,000 records with
// kgo's GroupTransactSession while the broker (the built binary, default
// durability) is SIGKILLed twice mid-run and restarted on the same data
// directory and port. The output read with read_committed holds every
// input record exactly once: producer state, open transactions, the
// coordinator's state and the group's transactional offsets all come back
// from the log after each crash.
func TestEOSCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 records through transactions across two SIGKILLs (skipped by -short)")
	}
	t.Parallel()
	const (
		n          = 100_000
		partitions = 6
		in, out    = "eos-in", "eos-out"
	)
	ctx := testContext(t, 4*time.Minute)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_ITEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SLUICE_ITEST_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random seed %d (rerun the same kill timing with SLUICE_ITEST_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, in, partitions, nil)
	createTopic(ctx, t, adm, out, partitions, nil)
	start := time.Now()
	since := func() time.Duration { return time.Since(start).Round(time.Millisecond) }
	opts := []kgo.Opt{kgo.SeedBrokers(b.Addr())}
	if err := testkit.ProduceEOSInput(ctx, opts, in, n); err != nil {
		t.Fatalf("produce input: %v", err)
	}
	ends := endOffsets(ctx, t, adm, in)
	t.Logf("%v: %d input records produced", since(), n)

	// Two sessions share the group: a restart also rebalances them,
	// and each one's transactions fence only its own zombies.
	logf := func(f string, a ...any) { t.Logf("%v: "+f, append([]any{since()}, a...)...) }
	// Each session's client log is kept (the last lines) for a failure:
	// a loop that stops making progress says nothing by itself.
	logs := []*lastLines{{max: 300}, {max: 300}}
	etls := []*testkit.ETL{
		{ClientOpts: opts, Group: "eos", TxnID: "eos-1", In: in, Out: out, MaxPollRecords: 1000, Logf: logf, Log: logs[0].add},
		{ClientOpts: opts, Group: "eos", TxnID: "eos-2", In: in, Out: out, MaxPollRecords: 1000, Logf: logf, Log: logs[1].add},
	}
	committed := func() (sum int64) {
		for _, e := range etls {
			sum += e.Committed()
		}
		return sum
	}
	done := make(chan error, len(etls))
	for _, e := range etls {
		go func() { done <- e.Run(ctx, ends) }()
	}

	// Each kill comes while the loop is committing: after progress past
	// the mark and in the middle of the following transactions.
	for i, mark := range []int64{n * 3 / 10, n * 6 / 10} {
		for committed() < mark {
			select {
			case err := <-done:
				t.Fatalf("etl ended before kill %d: %v", i+1, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		// A transaction of 1,000 records takes some 100 ms here: the
		// delay puts the kill anywhere in its produce, flush or commit.
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		t.Logf("%v: kill %d after %d records committed", since(), i+1, committed())
		b.Kill()
		b.Start()
		t.Logf("%v: restarted", since())
	}
	for range etls {
		if err := <-done; err != nil {
			eosDiagnose(t, opts, "eos", []string{"eos-1", "eos-2"}, out)
			for i, l := range logs {
				t.Logf("client log of %s (last lines):\n%s", etls[i].TxnID, l.String())
			}
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
	// Nothing is left open: every transaction a crash interrupted was
	// aborted or committed.
	if ls, err := adm.ListTransactions(ctx, nil, []string{"Ongoing", "PrepareCommit", "PrepareAbort"}); err != nil || len(ls) != 0 {
		t.Fatalf("transactions still open after the run: %+v, %v", ls, err)
	}
}

// lastLines keeps the last max lines written to it.
type lastLines struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *lastLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, time.Now().Format("15:04:05.000")+" "+line)
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
}

func (l *lastLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// eosDiagnose logs what the broker says of an exactly-once loop that
// stopped: its transactions, its group, whether the group's offsets are
// stable, and each output partition's high watermark against its last
// stable offset (a transaction left open holds the latter back).
func eosDiagnose(t *testing.T, opts []kgo.Opt, group string, txnIDs []string, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Logf("diagnose: client: %v", err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if d, err := adm.DescribeTransactions(ctx, txnIDs...); err != nil {
		t.Logf("diagnose: describe transactions: %v", err)
	} else {
		for _, x := range d.Sorted() {
			t.Logf("diagnose: transaction %s: state %s producer %d/%d started %d partitions %v err %v",
				x.TxnID, x.State, x.ProducerID, x.ProducerEpoch, x.StartTimestamp, x.Topics, x.Err)
		}
	}
	if d, err := adm.DescribeGroups(ctx, group); err != nil {
		t.Logf("diagnose: describe group: %v", err)
	} else {
		for _, g := range d.Sorted() {
			t.Logf("diagnose: group %s: state %s protocol %s members %d err %v", g.Group, g.State, g.Protocol, len(g.Members), g.Err)
		}
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = group, true
	if resp, err := req.RequestWith(ctx, cl); err != nil {
		t.Logf("diagnose: offset fetch (require stable): %v", err)
	} else {
		for _, tp := range resp.Topics {
			for _, p := range tp.Partitions {
				if p.ErrorCode != 0 {
					t.Logf("diagnose: offset fetch (require stable) %s[%d]: %v", tp.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
		t.Logf("diagnose: offset fetch (require stable): error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	ends, err1 := adm.ListEndOffsets(ctx, out)
	stable, err2 := adm.ListCommittedOffsets(ctx, out)
	if err1 != nil || err2 != nil {
		t.Logf("diagnose: list offsets: %v %v", err1, err2)
		return
	}
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := stable.Lookup(o.Topic, o.Partition)
		t.Logf("diagnose: %s[%d]: high watermark %d, last stable offset %d", o.Topic, o.Partition, o.Offset, s.Offset)
	})
}
