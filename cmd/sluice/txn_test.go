package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnCommandsEndToEnd: sluice txn list and describe against a broker
// with one committed and one open transaction.
func TestTxnCommandsEndToEnd(t *testing.T) {
	addr := startSluice(t)
	brokers := "--brokers=" + addr
	t.Setenv("SLUICE_BROKERS", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if got := mustSluice(t, "txn", "list", brokers); got != "No transactions.\n" {
		t.Errorf("list with no transactions: got %q", got)
	}
	mustSluice(t, "topic", "create", "pay", "--partitions", "2", brokers)
	txnClient := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.TransactionTimeout(45*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 2; p++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "pay", Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		return cl
	}
	done := txnClient("billing")
	if err := done.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	txnClient("open-one") // left open

	out := mustSluice(t, "txn", "list", brokers)
	wantLines(t, "list", out,
		`TRANSACTIONAL-ID +PRODUCER-ID +STATE +COORDINATOR`,
		`billing +\d+ +CompleteCommit +0`,
		`open-one +\d+ +Ongoing +0`,
	)
	if out := mustSluice(t, "txn", "list", "--state", "Ongoing", brokers); !strings.Contains(out, "open-one") || strings.Contains(out, "billing") {
		t.Errorf("list --state Ongoing:\n%s", out)
	}
	wantLines(t, "describe open-one", mustSluice(t, "txn", "describe", "open-one", brokers),
		`Transactional id: +open-one`,
		`State: +Ongoing`,
		`Producer id: +\d+`,
		`Producer epoch: +0`,
		`Timeout: +45s`,
		`Started: +20\d\d-.*Z`,
		`Coordinator: +0`,
		`TOPIC +PARTITIONS`,
		`pay +0,1`,
	)
	r := runSluice("txn", "describe", "nobody", brokers)
	if r.code != exitError || !strings.Contains(r.stderr, "TRANSACTIONAL_ID_NOT_FOUND") {
		t.Errorf("describe unknown: exit %d, stderr %q", r.code, r.stderr)
	}
}
