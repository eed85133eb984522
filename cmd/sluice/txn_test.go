package main

import (
	"context"
	"regexp"
	"slices"
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
	// The filters: producer ids, a running time (v1), an id pattern (v2).
	m := regexp.MustCompile(`(?m)^billing +(\d+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no producer id for billing in:\n%s", out)
	}
	filtered := func(what string, want []string, args ...string) {
		t.Helper()
		out := mustSluice(t, append(append([]string{"txn", "list"}, args...), brokers)...)
		var got []string
		for _, id := range []string{"billing", "open-one"} {
			if strings.Contains(out, id) {
				got = append(got, id)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("list %s: got %v, want %v:\n%s", what, got, want, out)
		}
		if len(want) == 0 && out != "No transactions.\n" {
			t.Errorf("list %s: %q", what, out)
		}
	}
	filtered("--producer-id", []string{"billing"}, "--producer-id", m[1])
	filtered("--producer-id unknown", nil, "--producer-id", "999999")
	filtered("--pattern open.*", []string{"open-one"}, "--pattern", "open.*")
	filtered("--pattern open (whole ids only)", nil, "--pattern", "open")
	filtered("--pattern bill.*", []string{"billing"}, "--pattern", "bill.*")
	filtered("--duration 1h", nil, "--duration", "1h")
	time.Sleep(20 * time.Millisecond)
	filtered("--duration 10ms --state Ongoing", []string{"open-one"}, "--duration", "10ms", "--state", "Ongoing")
	filtered("--pattern + --state", nil, "--pattern", "open.*", "--state", "CompleteCommit")
	for _, bad := range [][]string{{"--producer-id", "x"}, {"--pattern", "("}, {"--duration", "-1s"}} {
		if r := runSluice(append(append([]string{"txn", "list"}, bad...), brokers)...); r.code != exitUsage {
			t.Errorf("list %v: exit %d, stderr %q", bad, r.code, r.stderr)
		}
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
