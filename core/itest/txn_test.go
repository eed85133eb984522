package itest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Transactions end to end against `sluice serve`: real kgo and sarama
// transactional producers, read_committed and read_uncommitted consumers.

// txnProducer is a kgo transactional producer of b.
func txnProducer(t testing.TB, b *broker, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, b, append([]kgo.Opt{
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(30 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, opts...)...)
}

// produceTxn produces n records valued prefix-i in one transaction and
// commits or aborts it.
func produceTxn(ctx context.Context, t testing.TB, cl *kgo.Client, topic, prefix string, n int, commit bool) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin %s: %v", prefix, err)
	}
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce %s: %v", prefix, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush %s: %v", prefix, err)
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end %s (commit %v): %v", prefix, commit, err)
	}
}

// readValues consumes topic from the start with the isolation level until
// want records arrived and nothing more comes for quiet; it returns the
// values sorted.
func readValues(ctx context.Context, t testing.TB, b *broker, topic string, committed bool, want int, quiet time.Duration) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newClient(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var out []string
	var quietSince time.Time
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s (committed %v): %v; got %d of %d", topic, committed, err, len(out), want)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("consume %s[%d]: %v", topic, p, err)
			}
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)); n++ })
		switch {
		case n > 0 || len(out) < want:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) > quiet:
			sort.Strings(out)
			return out
		}
	}
}

func valuesOf(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func sortedJoin(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

func wantValues(t testing.TB, what string, got, want []string) {
	t.Helper()
	want = sortedJoin(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: got %d values, want %d\n got: %.300v\nwant: %.300v", what, len(got), len(want), got, want)
	}
}

// TestTxnKgoCommitAbort: committed transactions are seen by read_committed
// consumers, aborted ones are not (read_uncommitted sees both); the
// coordinator describes and lists the transactional id.
func TestTxnKgoCommitAbort(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, "txn-ca", 3, nil)
	cl := txnProducer(t, b, "ca-1")
	produceTxn(ctx, t, cl, "txn-ca", "c1", 100, true)
	produceTxn(ctx, t, cl, "txn-ca", "a1", 50, false)
	produceTxn(ctx, t, cl, "txn-ca", "c2", 30, true)

	wantValues(t, "read_committed", readValues(ctx, t, b, "txn-ca", true, 130, time.Second), sortedJoin(valuesOf("c1", 100), valuesOf("c2", 30)))
	wantValues(t, "read_uncommitted", readValues(ctx, t, b, "txn-ca", false, 180, time.Second), sortedJoin(valuesOf("c1", 100), valuesOf("a1", 50), valuesOf("c2", 30)))

	ds, err := adm.DescribeTransactions(ctx, "ca-1")
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	d := ds["ca-1"]
	if d.Err != nil || d.State != "CompleteCommit" || d.ProducerEpoch != 0 || d.TimeoutMillis != 30000 || len(d.Topics) != 0 {
		t.Fatalf("describe ca-1: %+v", d)
	}
	ls, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if l, ok := ls["ca-1"]; len(ls) != 1 || !ok || l.ProducerID != d.ProducerID {
		t.Fatalf("list CompleteCommit: %+v", ls)
	}
	if ls, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"}); err != nil || len(ls) != 0 {
		t.Fatalf("list Ongoing: %+v, %v", ls, err)
	}
}

// TestTxnZombieFencing: a second producer with the same transactional id
// aborts the first one's open transaction and fences it: nothing the
// first wrote is visible, and its commit fails.
func TestTxnZombieFencing(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--transaction-state-partitions", "3"}})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, "txn-z", 2, nil)

	zombie := txnProducer(t, b, "z")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		produceSync(ctx, t, zombie, &kgo.Record{Topic: "txn-z", Value: []byte(fmt.Sprintf("zombie-%d", i))})
	}

	fresh := txnProducer(t, b, "z")
	produceTxn(ctx, t, fresh, "txn-z", "fresh", 10, true)

	// The zombie's next produce or its commit is refused as fenced.
	err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "txn-z", Value: []byte("zombie-late")}).FirstErr()
	if err == nil {
		err = zombie.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("zombie after fencing: %v, want PRODUCER_FENCED", err)
	}
	wantValues(t, "read_committed", readValues(ctx, t, b, "txn-z", true, 10, time.Second), valuesOf("fresh", 10))
	td, err := adm.ListTopicsWithInternal(ctx, "__transaction_state")
	if err != nil {
		t.Fatal(err)
	}
	if d := td["__transaction_state"]; d.Err != nil || len(d.Partitions) != 3 || !d.IsInternal {
		t.Fatalf("__transaction_state with --transaction-state-partitions 3: %d partitions, internal %v, %v", len(d.Partitions), d.IsInternal, d.Err)
	}
}

// TestTxnGroupTransactSession: read-process-write with kgo's
// GroupTransactSession: every input record lands in the output exactly
// once under read_committed, and the group's committed offsets are the
// input's end.
func TestTxnGroupTransactSession(t *testing.T) {
	t.Parallel()
	const n = 3000
	ctx := testContext(t, 180*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, "etl-in", 3, nil)
	createTopic(ctx, t, adm, "etl-out", 3, nil)
	in := newClient(t, b)
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: "etl-in", Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("rec-%d", i))}
	}
	produceSync(ctx, t, in, rs...)

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(b.Addr()),
		kgo.TransactionalID("etl-1"),
		kgo.TransactionTimeout(30*time.Second),
		kgo.ConsumerGroup("etl"),
		kgo.ConsumeTopics("etl-in"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done := 0
	for done < n {
		fs := sess.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("etl: %v after %d records", err, done)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("etl fetch %s[%d]: %v", topic, p, err) })
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatalf("begin: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: "etl-out", Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("etl produce: %v", err)
				}
			})
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			done += fs.NumRecords()
		}
	}
	wantValues(t, "etl output", readValues(ctx, t, b, "etl-out", true, n, time.Second), sortedJoin(valuesOf("rec", n)))
	offs, err := adm.FetchOffsets(ctx, "etl")
	if err != nil {
		t.Fatal(err)
	}
	ends := endOffsets(ctx, t, adm, "etl-in")
	for p, end := range ends {
		if o, ok := offs.Lookup("etl-in", p); !ok || o.At != end {
			t.Errorf("etl committed offset of partition %d: %+v, want %d", p, o, end)
		}
	}
}

// TestTxnCoordinatorRestart: an open transaction survives a clean restart
// (its producer commits it afterwards); one left open by a SIGKILLed
// broker is aborted when a new producer of the id initializes, and the
// partitions become readable past it again.
func TestTxnCoordinatorRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 180*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), "txn-r", 2, nil)

	cl := txnProducer(t, b, "r-1")
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		produceSync(ctx, t, cl, &kgo.Record{Topic: "txn-r", Value: []byte(fmt.Sprintf("kept-%d", i))})
	}
	b.Restart()
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit after restart: %v", err)
	}
	wantValues(t, "after clean restart", readValues(ctx, t, b, "txn-r", true, 20, time.Second), valuesOf("kept", 20))

	lost := txnProducer(t, b, "r-2")
	if err := lost.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		produceSync(ctx, t, lost, &kgo.Record{Topic: "txn-r", Value: []byte(fmt.Sprintf("lost-%d", i))})
	}
	lost.Close()
	b.Kill()
	b.Restart()
	next := txnProducer(t, b, "r-2")
	produceTxn(ctx, t, next, "txn-r", "after", 10, true)
	wantValues(t, "after SIGKILL", readValues(ctx, t, b, "txn-r", true, 30, time.Second), sortedJoin(valuesOf("kept", 20), valuesOf("after", 10)))
	ds, err := newAdmin(t, b).DescribeTransactions(ctx, "r-2")
	if err != nil || ds["r-2"].State != "CompleteCommit" || ds["r-2"].ProducerEpoch != 2 {
		t.Fatalf("r-2 after recovery: %+v, %v (want CompleteCommit at epoch 2: the lost one aborted with epoch 1)", ds["r-2"], err)
	}
}

// TestTxnTimeoutAbort: the coordinator aborts a transaction open past its
// timeout (transaction.timeout.ms), so read_committed consumers move past
// it, and the producer is fenced.
func TestTxnTimeoutAbort(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--transaction-abort-interval", "200ms", "--transaction-max-timeout", "1m"}})
	createTopic(ctx, t, newAdmin(t, b), "txn-t", 1, nil)
	slow := txnProducer(t, b, "slow", kgo.TransactionTimeout(time.Second))
	if err := slow.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceSync(ctx, t, slow, &kgo.Record{Topic: "txn-t", Value: []byte("slow-0")})
	plain := newClient(t, b)
	produceSync(ctx, t, plain, &kgo.Record{Topic: "txn-t", Value: []byte("plain-0")})
	// read_committed sees the plain record only once the transaction
	// before it is aborted.
	wantValues(t, "after timeout", readValues(ctx, t, b, "txn-t", true, 1, 500*time.Millisecond), []string{"plain-0"})
	err := slow.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("commit after timeout: %v, want PRODUCER_FENCED", err)
	}
	// --transaction-max-timeout bounds what producers may ask for.
	long := txnProducer(t, b, "long", kgo.TransactionTimeout(2*time.Minute))
	err = long.BeginTransaction()
	if err == nil {
		err = long.ProduceSync(ctx, &kgo.Record{Topic: "txn-t", Value: []byte("never")}).FirstErr()
	}
	// kgo reports it as its producer id's fatal error, code in the text.
	if err == nil || !strings.Contains(err.Error(), "INVALID_TRANSACTION_TIMEOUT") {
		t.Fatalf("2 min timeout with a 1 min maximum: %v, want INVALID_TRANSACTION_TIMEOUT", err)
	}
}

// TestTxnSarama: sarama's transactional producer commits and aborts;
// read_committed consumers (sarama's and kgo's) see the commits only.
func TestTxnSarama(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), "txn-s", 1, nil)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	cfg.ClientID = "sluice-itest-sarama-txn"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = "sarama-1"
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Producer.Transaction.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	p, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	defer p.Close()
	send := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("BeginTxn: %v", err)
		}
		for i := 0; i < n; i++ {
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "txn-s", Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", prefix, i))}); err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
		}
		if commit {
			err = p.CommitTxn()
		} else {
			err = p.AbortTxn()
		}
		if err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	send("s1", 20, true)
	send("sa", 15, false)
	send("s2", 5, true)
	want := sortedJoin(valuesOf("s1", 20), valuesOf("s2", 5))
	wantValues(t, "kgo read_committed", readValues(ctx, t, b, "txn-s", true, 25, time.Second), want)
	wantValues(t, "kgo read_uncommitted", readValues(ctx, t, b, "txn-s", false, 40, time.Second), sortedJoin(want, valuesOf("sa", 15)))

	consumer, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("txn-s", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition: %v", err)
	}
	defer pc.Close()
	var vals []string
	for quiet := time.After(time.Hour); ; {
		select {
		case m := <-pc.Messages():
			vals = append(vals, string(m.Value))
			if len(vals) >= 25 {
				quiet = time.After(time.Second) // anything more is wrong
			}
			continue
		case err := <-pc.Errors():
			t.Fatalf("sarama consumer: %v", err)
		case <-ctx.Done():
			t.Fatalf("sarama consumer: got %d of 25: %v", len(vals), ctx.Err())
		case <-quiet:
		}
		break
	}
	sort.Strings(vals)
	wantValues(t, "sarama read_committed", vals, want)
}
