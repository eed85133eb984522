package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
)

// TestTxnACLs: the TransactionalId resource as Kafka checks it: Describe
// for FindCoordinator and Describe/ListTransactions, Write for
// InitProducerId, AddPartitionsToTxn and EndTxn; Write on each topic added.
func TestTxnACLs(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	e := startACLBroker(t)
	if _, err := e.srv.startTransactions(&recordingMarkers{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := e.admin.CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	// AddPartitionsToTxn v4+ is the brokers' form: clients stay on v3.
	cl := e.client(t, alice, kgo.MaxVersions(clientVersions()))
	find := func() int16 {
		for {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.CoordinatorKey, req.CoordinatorType = "tx", 1
			req.CoordinatorKeys = []string{"tx"}
			resp := send[*kmsg.FindCoordinatorResponse](t, cl, req)
			code := resp.ErrorCode
			if len(resp.Coordinators) == 1 { // v4+
				code = resp.Coordinators[0].ErrorCode
			}
			if code != kerr.CoordinatorNotAvailable.Code || ctx.Err() != nil {
				return code
			}
			time.Sleep(20 * time.Millisecond) // the topic is being created
		}
	}
	initTx := func() *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 10000
		return send[*kmsg.InitProducerIDResponse](t, cl, req)
	}
	describe := func() int16 {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{"tx"}
		return send[*kmsg.DescribeTransactionsResponse](t, cl, req).TransactionStates[0].ErrorCode
	}
	listed := func() int {
		return len(send[*kmsg.ListTransactionsResponse](t, cl, kmsg.NewPtrListTransactionsRequest()).TransactionStates)
	}
	idAuth := kerr.TransactionalIDAuthorizationFailed.Code

	e.setACLs(t)
	if got := find(); got != idAuth {
		t.Fatalf("find without ACLs: %v", kerr.ErrorForCode(got))
	}
	if got := initTx().ErrorCode; got != idAuth {
		t.Fatalf("init without ACLs: %v", kerr.ErrorForCode(got))
	}

	e.setACLs(t, allowACL(alice, auth.ResTransactionalID, "tx", lit, auth.OpDescribe, "*"))
	if got := find(); got != 0 {
		t.Fatalf("find with Describe: %v", kerr.ErrorForCode(got))
	}
	if got := initTx().ErrorCode; got != idAuth {
		t.Fatalf("init with Describe only: %v", kerr.ErrorForCode(got))
	}

	e.setACLs(t, allowACL(alice, auth.ResTransactionalID, "tx", lit, auth.OpWrite, "*"))
	r := initTx()
	if r.ErrorCode != 0 {
		t.Fatalf("init with Write: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if got := describe(); got != 0 { // Write implies Describe
		t.Fatalf("describe with Write: %v", kerr.ErrorForCode(got))
	}
	add := func() int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", r.ProducerID, r.ProducerEpoch
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
		return send[*kmsg.AddPartitionsToTxnResponse](t, cl, req).Topics[0].Partitions[0].ErrorCode
	}
	if got := add(); got != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("add without topic Write: %v", kerr.ErrorForCode(got))
	}
	e.setACLs(t, allowACL(alice, auth.ResTransactionalID, "tx", lit, auth.OpWrite, "*"), allowACL(alice, auth.ResTopic, "orders", lit, auth.OpWrite, "*"))
	if got := add(); got != 0 {
		t.Fatalf("add with topic Write: %v", kerr.ErrorForCode(got))
	}
	if n := listed(); n != 1 {
		t.Fatalf("list with Write on tx: %d transactions", n)
	}

	e.setACLs(t, allowACL(alice, auth.ResTopic, "orders", lit, auth.OpWrite, "*"))
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx", r.ProducerID, r.ProducerEpoch, false
	if got := send[*kmsg.EndTxnResponse](t, cl, end).ErrorCode; got != idAuth {
		t.Fatalf("end without Write: %v", kerr.ErrorForCode(got))
	}
	if got := describe(); got != idAuth {
		t.Fatalf("describe without Describe: %v", kerr.ErrorForCode(got))
	}
	if n := listed(); n != 0 {
		t.Fatalf("list without Describe: %d transactions", n)
	}
}
