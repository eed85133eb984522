package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/txn"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// KIP-890 part 1: the coordinator's VerifyOnly (AddPartitionsToTxn v4+)
// and the leaders' verification of a producer's first transactional
// batch on a partition, with real kgo clients and raw kmsg requests.

// startVerifyBroker is one broker with the transaction coordinator and its
// real marker writer; off turns verification off
// (transaction.partition.verification.enable=false).
func startVerifyBroker(t *testing.T, off bool) (string, *broker.Broker) {
	t.Helper()
	return startVerifyBrokerMarkers(t, off, nil)
}

// startVerifyProducer starts a broker (startVerifyBroker), creates topic
// with one partition, and returns the broker's address and the broker, a
// raw client, and transactional id's producer id and epoch from
// InitProducerID.
func startVerifyProducer(t *testing.T, off bool, topic, id string) (string, *broker.Broker, *kgo.Client, int64, int16) {
	t.Helper()
	addr, b := startVerifyBroker(t, off)
	createTopic(t, addr, topic, 1)
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.MaxVersions(clientVersions()))
	findTxnCoordinator(t, cl, id)
	pid, epoch := initTxnPID(t, cl, id)
	return addr, b, cl, pid, epoch
}

// startVerifyBrokerMarkers is startVerifyBroker with the marker writer
// wrapped by wrap (nil: as is).
func startVerifyBrokerMarkers(t *testing.T, off bool, wrap func(txn.MarkerWriter) txn.MarkerWriter) (string, *broker.Broker) {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		DataDir:                             t.TempDir(),
		Logger:                              slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions:              1,
		TransactionStatePartitions:          4,
		TransactionPartitionVerificationOff: off,
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveWithTransactions(t, b, func(s *Server) txn.MarkerWriter {
		if wrap != nil {
			return wrap(s.MarkerWriter())
		}
		return s.MarkerWriter()
	})
	return addr, b
}

// gatedMarkers holds the coordinator's markers until the gate opens.
type gatedMarkers struct {
	inner txn.MarkerWriter
	gate  chan struct{}
}

func (g *gatedMarkers) WriteMarkers(ctx context.Context, ms []txn.Marker) []error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		errs := make([]error, len(ms))
		for i := range errs {
			errs[i] = ctx.Err()
		}
		return errs
	}
	return g.inner.WriteMarkers(ctx, ms)
}

// findTxnCoordinator retries FindCoordinator until __transaction_state
// has leaders (the first lookup creates it).
func findTxnCoordinator(t *testing.T, cl *kgo.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorType = id, 1
		req.CoordinatorKeys = []string{id}
		resp := send[*kmsg.FindCoordinatorResponse](t, cl, req)
		code := resp.ErrorCode
		if len(resp.Coordinators) == 1 {
			code = resp.Coordinators[0].ErrorCode
		}
		if code == 0 {
			return
		}
		if code != kerr.CoordinatorNotAvailable.Code || time.Now().After(deadline) {
			t.Fatalf("find coordinator: %v", kerr.ErrorForCode(code))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func initTxnPID(t *testing.T, cl *kgo.Client, id string) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60000
	resp := send[*kmsg.InitProducerIDResponse](t, cl, req)
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// clientVersions caps AddPartitionsToTxn at v3, as kgo's producer pins
// it: raw requests on a broker handle would otherwise go out as v5.
func clientVersions() *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(24, 3)
	return vs
}

// addPartitionV3 adds topic-part to the transaction as clients do (cl
// made with clientVersions).
func addPartitionV3(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, topic string, parts ...int32) {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	resp := send[*kmsg.AddPartitionsToTxnResponse](t, cl, req)
	if req.Version > 3 {
		t.Fatalf("client sent v%d", req.Version)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("add %s-%d: %v", rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
		}
	}
}

func endTxnRaw(t *testing.T, cl *kgo.Client, id string, pid int64, epoch int16, commit bool) {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	if code := send[*kmsg.EndTxnResponse](t, cl, req).ErrorCode; code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
}

// waitTxnState waits until DescribeTransactions shows id in state.
func waitTxnState(t *testing.T, cl *kgo.Client, id, state string) kmsg.DescribeTransactionsResponseTransactionState {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		st := send[*kmsg.DescribeTransactionsResponse](t, cl, req).TransactionStates[0]
		if st.ErrorCode == 0 && st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction %s: %v in %s, want %s", id, kerr.ErrorForCode(st.ErrorCode), st.State, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// produceTxnRaw sends one transactional batch to topic-0 for id and
// returns the partition's code and message.
func produceTxnRaw(t *testing.T, cl *kgo.Client, id, topic string, batch []byte) (int16, string) {
	t.Helper()
	return produceTxnRawTo(t, cl, id, topic, 0, batch)
}

// produceTxnRawTo is produceTxnRaw to partition part.
func produceTxnRawTo(t *testing.T, cl *kgo.Client, id, topic string, part int32, batch []byte) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(id), -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := send[*kmsg.ProduceResponse](t, cl, req)
	p := resp.Topics[0].Partitions[0]
	msg := ""
	if p.ErrorMessage != nil {
		msg = *p.ErrorMessage
	}
	return p.ErrorCode, msg
}

// offsets is topic-0's high watermark and last stable offset, from a
// read_committed Fetch.
func offsets(t *testing.T, cl *kgo.Client, topic string) (hw, lso int64) {
	t.Helper()
	p := fetchRaw(t, cl, topic)
	if p.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.HighWatermark, p.LastStableOffset
}

// TestKIP890ProduceNotInTransaction: a transactional batch for a
// partition never added to the producer's transaction is refused with
// INVALID_TXN_STATE and nothing is stored; with verification off it is
// appended as before (and holds the LSO back: the hang KIP-890 prevents).
func TestKIP890ProduceNotInTransaction(t *testing.T) {
	t.Parallel()
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			const topic, id = "unadded", "tx-unadded"
			_, b, cl, pid, epoch := startVerifyProducer(t, off, topic, id)

			code, msg := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 0, true, "stray"))
			p, err := b.Partition(topic, 0)
			if err != nil {
				t.Fatal(err)
			}
			hw, lso := offsets(t, cl, topic)
			if off {
				if code != 0 || hw != 1 || lso != 0 {
					t.Fatalf("verification off: %v, HW %d, LSO %d; want appended, HW 1, LSO 0", kerr.ErrorForCode(code), hw, lso)
				}
				return
			}
			if code != kerr.InvalidTxnState.Code || msg != "Partition was not added to the transaction" {
				t.Fatalf("produce: %v %q, want INVALID_TXN_STATE", kerr.ErrorForCode(code), msg)
			}
			if hw != 0 || lso != 0 || listLatest(t, cl, topic, true) != 0 || listLatest(t, cl, topic, false) != 0 {
				t.Fatalf("HW %d, LSO %d after a refused batch", hw, lso)
			}
			if n := p.PendingTxnVerifications(); n != 0 || len(p.OpenTxns()) != 0 {
				t.Fatalf("%d pending verifications, open %v", n, p.OpenTxns())
			}

			// Added: the same batch goes in; the next one needs no
			// verification (the transaction is open on the partition).
			addPartitionV3(t, cl, id, pid, epoch, topic, 0)
			if code, msg := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 0, true, "a")); code != 0 {
				t.Fatalf("produce after AddPartitionsToTxn: %v %s", kerr.ErrorForCode(code), msg)
			}
			if g, needed := p.StartTxnVerification(pid, epoch); needed {
				t.Fatalf("verification needed with the transaction open (%+v)", g)
			}
			if code, _ := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 1, true, "b")); code != 0 {
				t.Fatalf("second batch: %v", kerr.ErrorForCode(code))
			}
			endTxnRaw(t, cl, id, pid, epoch, true)
			waitTxnState(t, cl, id, "CompleteCommit")
			if hw, lso := offsets(t, cl, topic); hw != 3 || lso != 3 {
				t.Fatalf("after commit: HW %d, LSO %d, want 3, 3", hw, lso)
			}
		})
	}
}

// TestKIP890HangingTransaction: a batch delayed past its transaction's
// abort (a retry with a later sequence) is refused; the LSO stays at the
// HW and read_committed consumers are not held up.
func TestKIP890HangingTransaction(t *testing.T) {
	t.Parallel()
	for _, off := range []bool{false, true} {
		t.Run(fmt.Sprintf("off=%v", off), func(t *testing.T) {
			const topic, id = "hang", "tx-hang"
			addr, _, cl, pid, epoch := startVerifyProducer(t, off, topic, id)
			addPartitionV3(t, cl, id, pid, epoch, topic, 0)
			if code, msg := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 0, true, "a0", "a1")); code != 0 {
				t.Fatalf("produce: %v %s", kerr.ErrorForCode(code), msg)
			}
			endTxnRaw(t, cl, id, pid, epoch, false)
			waitTxnState(t, cl, id, "CompleteAbort")
			if hw, lso := offsets(t, cl, topic); hw != 3 || lso != 3 {
				t.Fatalf("after abort: HW %d, LSO %d, want 3, 3", hw, lso)
			}

			code, _ := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 2, true, "late"))
			hw, lso := offsets(t, cl, topic)
			if off {
				// The hang: appended, a transaction no marker closes.
				if code != 0 || hw != 4 || lso != 3 {
					t.Fatalf("verification off: %v, HW %d, LSO %d; want appended, HW 4, LSO stuck at 3", kerr.ErrorForCode(code), hw, lso)
				}
				return
			}
			if code != kerr.InvalidTxnState.Code {
				t.Fatalf("late batch: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
			}
			if hw != 3 || lso != 3 || listLatest(t, cl, topic, true) != 3 {
				t.Fatalf("after the late batch: HW %d, LSO %d, want 3, 3", hw, lso)
			}
			// read_committed sees nothing (all aborted) and is not stuck.
			if got := consumeValues(t, addr, topic, true, 0); len(got) != 0 {
				t.Fatalf("read_committed read %v", got)
			}
		})
	}
}

// TestKIP890KgoTransactions: kgo's transactional producer (AddPartitionsToTxn
// v3, then produce) across several partitions, committing and aborting:
// verification adds no failure; read_committed reads exactly the
// committed records; every LSO reaches its HW; no tokens are left.
func TestKIP890KgoTransactions(t *testing.T) {
	t.Parallel()
	addr, b := startVerifyBroker(t, false)
	const topic = "kgo-txn"
	createTopic(t, addr, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pr := mustClient(t, kgo.SeedBrokers(addr), kgo.TransactionalID("kgo-verify"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []string
	for round := range 6 {
		if err := pr.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		commit := round%3 != 1
		for i := range 9 {
			v := fmt.Sprintf("r%d-%d", round, i)
			if err := pr.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 3), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
			if commit {
				want = append(want, v)
			}
		}
		if err := pr.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("round %d: end (commit %v): %v", round, commit, err)
		}
	}
	cons := mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < len(want) && ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read_committed read %d records %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range int32(3) {
		p, err := b.Partition(topic, i)
		if err != nil {
			t.Fatal(err)
		}
		// The last transaction is complete once EndTransaction returned
		// and its markers are in (the coordinator writes them after, and
		// the high watermark passes a marker once it is durable: until
		// then LSO and HW are equal one short of it).
		deadline := time.Now().Add(10 * time.Second)
		for (p.LastStableOffset() != p.HighWatermark() || p.HighWatermark() != 6*3+6) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw || hw != 6*3+6 {
			t.Fatalf("partition %d: LSO %d, HW %d, want both %d", i, lso, hw, 6*3+6)
		}
		if n := p.PendingTxnVerifications(); n != 0 {
			t.Fatalf("partition %d: %d verification tokens left", i, n)
		}
	}
}

// TestKIP890VerifyOnly: AddPartitionsToTxn v4 (the brokers' batched form):
// VerifyOnly answers per partition and changes nothing; the
// coordinator's errors for a wrong epoch, an unknown id or another
// producer id; a missing topic; VerifyOnly=false adds as v3; without
// ClusterAction the whole request fails with CLUSTER_AUTHORIZATION_FAILED.
func TestKIP890VerifyOnly(t *testing.T) {
	t.Parallel()
	e := startACLBroker(t)
	if _, err := e.srv.StartTransactions(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := e.admin.CreateTopic(ctx, 3, 1, nil, "v"); err != nil {
		t.Fatal(err)
	}
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(24, 4)
	broker := e.client(t, superUser, kgo.MaxVersions(vs)) // super user: ClusterAction
	const id = "tx-verify"
	findTxnCoordinator(t, broker, id)
	pid, epoch := initTxnPID(t, broker, id)
	addPartitionV3(t, e.client(t, superUser, kgo.MaxVersions(clientVersions())), id, pid, epoch, "v", 0)

	type tp struct {
		topic string
		part  int32
	}
	v4 := func(cl *kgo.Client, verify bool, txID string, pid int64, epoch int16, parts ...tp) (*kmsg.AddPartitionsToTxnResponse, map[tp]int16) {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = txID, pid, epoch, verify
		for _, p := range parts {
			rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			rt.Topic, rt.Partitions = p.topic, []int32{p.part}
			tx.Topics = append(tx.Topics, rt)
		}
		req.Transactions = append(req.Transactions, tx)
		resp := send[*kmsg.AddPartitionsToTxnResponse](t, cl, req)
		if req.Version != 4 {
			t.Fatalf("sent v%d, want v4", req.Version)
		}
		codes := map[tp]int16{}
		for _, rt := range resp.Transactions {
			if rt.TransactionalID != txID {
				t.Fatalf("answer for %q", rt.TransactionalID)
			}
			for _, tt := range rt.Topics {
				for _, p := range tt.Partitions {
					codes[tp{tt.Topic, p.Partition}] = p.ErrorCode
				}
			}
		}
		return resp, codes
	}
	check := func(name string, got map[tp]int16, want map[tp]int16) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
	}
	ok, bad := int16(0), kerr.InvalidTxnState.Code
	_, codes := v4(broker, true, id, pid, epoch, tp{"v", 0}, tp{"v", 1})
	check("verify", codes, map[tp]int16{{"v", 0}: ok, {"v", 1}: bad})
	describe := func() []int32 {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{id}
		st := send[*kmsg.DescribeTransactionsResponse](t, broker, req).TransactionStates[0]
		var parts []int32
		for _, tt := range st.Topics {
			parts = append(parts, tt.Partitions...)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		return parts
	}
	if got := describe(); fmt.Sprint(got) != "[0]" {
		t.Fatalf("VerifyOnly changed the transaction: partitions %v", got)
	}
	fenced := kerr.ProducerFenced.Code
	_, codes = v4(broker, true, id, pid, epoch+1, tp{"v", 0}, tp{"v", 1})
	check("wrong epoch", codes, map[tp]int16{{"v", 0}: fenced, {"v", 1}: fenced})
	mapping := kerr.InvalidProducerIDMapping.Code
	_, codes = v4(broker, true, id, pid+1, epoch, tp{"v", 0})
	check("other producer id", codes, map[tp]int16{{"v", 0}: mapping})
	findTxnCoordinator(t, broker, "tx-unknown")
	_, codes = v4(broker, true, "tx-unknown", pid, epoch, tp{"v", 0})
	check("unknown transactional id", codes, map[tp]int16{{"v", 0}: mapping})
	_, codes = v4(broker, true, id, pid, epoch, tp{"v", 0}, tp{"nope", 0})
	check("unknown topic", codes, map[tp]int16{{"v", 0}: kerr.OperationNotAttempted.Code, {"nope", 0}: kerr.UnknownTopicOrPartition.Code})

	// VerifyOnly=false adds, as v3.
	_, codes = v4(broker, false, id, pid, epoch, tp{"v", 2})
	check("add", codes, map[tp]int16{{"v", 2}: ok})
	if got := describe(); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("after a v4 add: partitions %v", got)
	}
	_, codes = v4(broker, true, id, pid, epoch, tp{"v", 0}, tp{"v", 1}, tp{"v", 2})
	check("verify after add", codes, map[tp]int16{{"v", 0}: ok, {"v", 1}: bad, {"v", 2}: ok})

	// Without ClusterAction (alice may write everything): refused whole.
	e.setACLs(t,
		allowACL(alice, auth.ResTopic, "*", lit, auth.OpAll, "*"),
		allowACL(alice, auth.ResTransactionalID, "*", lit, auth.OpAll, "*"))
	resp, codes := v4(e.client(t, alice, kgo.MaxVersions(vs)), true, id, pid, epoch, tp{"v", 0})
	if resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code || len(resp.Transactions) != 0 || len(codes) != 0 {
		t.Fatalf("without ClusterAction: %v, %d transactions", kerr.ErrorForCode(resp.ErrorCode), len(resp.Transactions))
	}

	// The versions advertised: 0–5.
	av := send[*kmsg.ApiVersionsResponse](t, broker, kmsg.NewPtrApiVersionsRequest())
	for _, k := range av.ApiKeys {
		if k.ApiKey == 24 && (k.MinVersion != 0 || k.MaxVersion != 5) {
			t.Fatalf("AddPartitionsToTxn advertised v%d–%d", k.MinVersion, k.MaxVersion)
		}
	}
}

// TestKIP890VerificationRetriable: a verification the coordinator cannot
// make yet (the transaction is completing: CONCURRENT_TRANSACTIONS) is
// answered NOT_ENOUGH_REPLICAS, which clients retry, with Kafka's
// message, and nothing is stored; once the abort completed the same
// batch is INVALID_TXN_STATE. A partition with the transaction still
// open takes batches without asking (the pending marker ends them).
func TestKIP890VerificationRetriable(t *testing.T) {
	t.Parallel()
	gm := &gatedMarkers{gate: make(chan struct{})}
	addr, b := startVerifyBrokerMarkers(t, false, func(m txn.MarkerWriter) txn.MarkerWriter {
		gm.inner = m
		return gm
	})
	const topic, id = "retriable", "tx-retriable"
	createTopic(t, addr, topic, 2)
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.MaxVersions(clientVersions()))
	findTxnCoordinator(t, cl, id)
	pid, epoch := initTxnPID(t, cl, id)
	addPartitionV3(t, cl, id, pid, epoch, topic, 0, 1)
	if code, msg := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 0, true, "a0")); code != 0 {
		t.Fatalf("produce: %v %s", kerr.ErrorForCode(code), msg)
	}
	endTxnRaw(t, cl, id, pid, epoch, false)
	waitTxnState(t, cl, id, "PrepareAbort") // markers held back

	// Partition 1 was added but never written: it asks, and cannot know.
	produce1 := func(seq int32) (int16, string) {
		t.Helper()
		return produceTxnRawTo(t, cl, id, topic, 1, txnBatch(t, pid, epoch, seq, true, "late"))
	}
	code, msg := produce1(0)
	if code != kerr.NotEnoughReplicas.Code || msg != verifyFailedMessage+"CONCURRENT_TRANSACTIONS" {
		t.Fatalf("while completing: %v %q, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code), msg)
	}
	p1, err := b.Partition(topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	if hw := p1.HighWatermark(); hw != 0 || p1.PendingTxnVerifications() != 0 {
		t.Fatalf("partition 1: HW %d, %d tokens", hw, p1.PendingTxnVerifications())
	}
	// Partition 0 has the transaction open: no question asked.
	if code, msg := produceTxnRaw(t, cl, id, topic, txnBatch(t, pid, epoch, 1, true, "a1")); code != 0 {
		t.Fatalf("open partition while completing: %v %s", kerr.ErrorForCode(code), msg)
	}

	close(gm.gate)
	waitTxnState(t, cl, id, "CompleteAbort")
	if code, _ := produce1(0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("after the abort: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	for i := range int32(2) {
		p, err := b.Partition(topic, i)
		if err != nil {
			t.Fatal(err)
		}
		if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != hw {
			t.Fatalf("partition %d: LSO %d, HW %d", i, lso, hw)
		}
	}
}
