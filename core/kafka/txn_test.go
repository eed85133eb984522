package kafka

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/txn"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// recordingMarkers is a txn.MarkerWriter that only records: these tests
// drive the coordinator's protocol, not the partitions' side.
type recordingMarkers struct {
	mu sync.Mutex
	ms []txn.Marker
}

func (r *recordingMarkers) WriteMarkers(_ context.Context, ms []txn.Marker) []error {
	r.mu.Lock()
	r.ms = append(r.ms, ms...)
	r.mu.Unlock()
	return nil
}

func (r *recordingMarkers) written() []txn.Marker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]txn.Marker(nil), r.ms...)
}

func startTxnBroker(t *testing.T, markers txn.MarkerWriter) (string, *Server) {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		DataDir:                t.TempDir(),
		Logger:                 slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	return serveWithTransactions(t, b, func(*Server) txn.MarkerWriter { return markers })
}

// serveWithTransactions serves b on a free loopback port with its
// transaction coordinator started, the coordinator's markers going to
// what markers picks (given the server, whose own MarkerWriter it may
// wrap); both are closed when the test ends.
func serveWithTransactions(t *testing.T, b *broker.Broker, markers func(*Server) txn.MarkerWriter) (string, *Server) {
	t.Helper()
	ln := listenAdvertised(t, b)
	s := New(b, Config{Logger: b.Config().Logger})
	if _, err := s.startTransactions(markers(s)); err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		b.Close()
	})
	return ln.Addr().String(), s
}

// TestTxnProtocol drives the coordinator's APIs with raw requests:
// FindCoordinator creates __transaction_state, InitProducerId, the two
// Add* APIs, EndTxn (markers for every partition, the group's offsets
// partition included), Describe/ListTransactions and the error codes of
// a fenced or unknown producer.
func TestTxnProtocol(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	mk := &recordingMarkers{}
	addr, _ := startTxnBroker(t, mk)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}

	// The first lookup creates the topic; retry until it has leaders.
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorType = "tx", 1
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == 0 {
			if resp.NodeID != 0 {
				t.Fatalf("coordinator node %d", resp.NodeID)
			}
			break
		}
		if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || ctx.Err() != nil {
			t.Fatalf("find coordinator: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}

	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.TransactionalID = kmsg.StringPtr("tx")
	initReq.TransactionTimeoutMillis = 10000
	initResp, err := initReq.RequestWith(ctx, cl)
	if err != nil || initResp.ErrorCode != 0 || initResp.ProducerEpoch != 0 {
		t.Fatalf("init: %+v, %v", initResp, err)
	}
	pid := initResp.ProducerID

	tooLong := kmsg.NewPtrInitProducerIDRequest()
	tooLong.TransactionalID = kmsg.StringPtr("tx2")
	tooLong.TransactionTimeoutMillis = int32((16 * time.Minute).Milliseconds())
	if r, err := tooLong.RequestWith(ctx, cl); err != nil || r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("init with 16 min timeout: %+v, %v", r, err)
	}

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "tx", pid, 0
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}, {Topic: "nope", Partitions: []int32{0}}}
	addResp, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range addResp.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.Topic+"/"+string(rune('0'+rp.Partition))] = rp.ErrorCode
		}
	}
	if codes["t/0"] != kerr.OperationNotAttempted.Code || codes["t/1"] != kerr.OperationNotAttempted.Code || codes["nope/0"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("add with an unknown topic: %v", codes)
	}
	add = kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "tx", pid, 0
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	if addResp, err = add.RequestWith(ctx, cl); err != nil || len(addResp.Topics) != 1 || addResp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add: %+v, %v", addResp, err)
	}
	offs := kmsg.NewPtrAddOffsetsToTxnRequest()
	offs.TransactionalID, offs.ProducerID, offs.ProducerEpoch, offs.Group = "tx", pid, 0, "g"
	if r, err := offs.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("add offsets: %+v, %v", r, err)
	}
	// A fenced epoch: PRODUCER_FENCED from v2, INVALID_PRODUCER_EPOCH before.
	// (kgo negotiates v3; the code for older versions is fencedCode's.)
	stale := kmsg.NewPtrAddOffsetsToTxnRequest()
	stale.TransactionalID, stale.ProducerID, stale.ProducerEpoch, stale.Group = "tx", pid, 5, "g"
	if r, err := stale.RequestWith(ctx, cl); err != nil || r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale epoch: %+v, %v", r, err)
	}
	if c := fencedCode(kerr.ProducerFenced, 1, 2); c != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced at v1: %d", c)
	}

	desc := kmsg.NewPtrDescribeTransactionsRequest()
	desc.TransactionalIDs = []string{"tx", "unknown"}
	descResp, err := desc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	st := descResp.TransactionStates[0]
	if st.ErrorCode != 0 || st.State != "Ongoing" || st.ProducerID != pid || st.TimeoutMillis != 10000 || len(st.Topics) != 2 || st.StartTimestamp <= 0 {
		t.Fatalf("describe tx: %+v", st)
	}
	if descResp.TransactionStates[1].ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", descResp.TransactionStates[1])
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx", pid, 0, true
	if r, err := end.RequestWith(ctx, cl); err != nil || r.ErrorCode != 0 {
		t.Fatalf("end: %+v, %v", r, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(mk.written()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := map[string]bool{}
	for _, m := range mk.written() {
		if m.ProducerID != pid || m.ProducerEpoch != 0 || !m.Commit {
			t.Fatalf("marker %+v", m)
		}
		got[m.Topic+"/"+string(rune('0'+m.Partition))] = true
	}
	offsetsPart := "__consumer_offsets/" + string(rune('0'+groupPartition("g", 4)))
	if len(got) != 3 || !got["t/0"] || !got["t/1"] || !got[offsetsPart] {
		t.Fatalf("markers %v, want t/0, t/1 and %s", got, offsetsPart)
	}

	list := kmsg.NewPtrListTransactionsRequest()
	list.StateFilters = []string{"CompleteCommit", "Bogus"}
	for {
		lr, err := list.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(lr.TransactionStates) == 1 {
			if lr.TransactionStates[0].TransactionalID != "tx" || len(lr.UnknownStateFilters) != 1 || lr.UnknownStateFilters[0] != "Bogus" {
				t.Fatalf("list: %+v", lr)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("list never showed the completed transaction: %+v", lr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// groupPartition is group.PartitionFor (kept local to read the test
// without the import).
func groupPartition(id string, n int32) int32 { return group.PartitionFor(id, n) }
