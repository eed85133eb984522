package itest

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestTxnIDExpiry: with --transactional-id-expiration a committed id idle
// past it is removed (DescribeTransactions: TRANSACTIONAL_ID_NOT_FOUND), also
// after a restart (the tombstone is replayed), and its next producer gets a
// new producer id.
func TestTxnIDExpiry(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{ExtraArgs: []string{"--transactional-id-expiration", "2s", "--transaction-remove-expired-interval", "100ms", "--transaction-state-partitions", "3"}})
	adm := newAdmin(t, b)
	createTopic(ctx, t, adm, "txn-exp", 1, nil)
	cl := txnProducer(t, b, "exp-1")
	produceTxn(ctx, t, cl, "txn-exp", "c", 5, true)
	ds, err := adm.DescribeTransactions(ctx, "exp-1")
	if d := ds["exp-1"]; err != nil || (d.State != "CompleteCommit" && d.State != "PrepareCommit") {
		t.Fatalf("describe before expiry: %+v, %v", d, err)
	}
	pid := ds["exp-1"].ProducerID
	cl.Close()
	notFound := func() bool {
		ds, err := adm.DescribeTransactions(ctx, "exp-1")
		if err != nil {
			t.Fatalf("describe: %v", err)
		}
		return errors.Is(ds["exp-1"].Err, kerr.TransactionalIDNotFound)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !notFound() {
		if time.Now().After(deadline) {
			t.Fatalf("exp-1 not expired 20s after its commit (expiration 2s)")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Restart()
	if !notFound() {
		t.Fatalf("exp-1 back after a restart")
	}
	next := txnProducer(t, b, "exp-1")
	produceTxn(ctx, t, next, "txn-exp", "d", 5, true)
	// Described at once: it expires again 2s after the commit.
	ds, err = adm.DescribeTransactions(ctx, "exp-1")
	if d := ds["exp-1"]; err != nil || (d.State != "CompleteCommit" && d.State != "PrepareCommit") || d.ProducerID == pid || d.ProducerEpoch != 0 {
		t.Fatalf("exp-1 after expiry: %+v, %v (want a new producer id than %d at epoch 0)", d, err, pid)
	}
	wantValues(t, "read_committed", readValues(ctx, t, b, "txn-exp", true, 10, time.Second), sortedJoin(valuesOf("c", 5), valuesOf("d", 5)))
}
