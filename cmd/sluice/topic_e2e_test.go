package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startSluice runs the real broker in-process on a free 127.0.0.1 port with
// a temporary data dir and returns its Kafka address; it stops when the
// test ends, and a failed test shows its debug log.
func startSluice(t *testing.T) string {
	t.Helper()
	return testkit.StartNode(t, testkit.WithLogCapture(slog.LevelDebug)).Addrs.Kafka
}

// sluiceResult is one CLI invocation's outcome.
type sluiceResult struct {
	code           int
	stdout, stderr string
}

// runSluice runs the CLI entry point in-process, as `sluice args...`.
func runSluice(args ...string) sluiceResult {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return sluiceResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustSluice runs the CLI and fails the test unless it exits 0 with nothing
// on stderr.
func mustSluice(t *testing.T, args ...string) string {
	t.Helper()
	r := runSluice(args...)
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("sluice %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// partitionRow matches one describe row: PARTITION LEADER EPOCH REPLICAS ISR
// LOG-START LOG-END for a single-broker (id 0) cluster.
func partitionRow(partition, logEnd int) *regexp.Regexp {
	return regexp.MustCompile(fmt.Sprintf(`(?m)^%d +0 +\d+ +0 +0 +0 +%d$`, partition, logEnd))
}

func TestTopicCommandsEndToEnd(t *testing.T) {
	addr := startSluice(t)
	brokers := "--brokers=" + addr
	t.Setenv("SLUICE_BROKERS", "") // only the flag or the explicit env below may choose

	// Create: the name comes first, flags after it.
	if got, want := mustSluice(t, "topic", "create", "orders", "--partitions", "3", brokers),
		"Created topic \"orders\" (partitions: 3, replication factor: 1).\n"; got != want {
		t.Errorf("create orders:\n got %q\nwant %q", got, want)
	}
	if got, want := mustSluice(t, "topic", "create", "events", "--partitions", "2", "--replicas", "1",
		"--config", "cleanup.policy=compact", "--config", "retention.ms=3600000", brokers),
		"Created topic \"events\" (partitions: 2, replication factor: 1).\n"; got != want {
		t.Errorf("create events:\n got %q\nwant %q", got, want)
	}

	// Creating it again is the broker's TOPIC_ALREADY_EXISTS.
	r := runSluice("topic", "create", "orders", "--partitions", "3", brokers)
	if r.code != exitError || r.stdout != "" ||
		!strings.HasPrefix(r.stderr, `sluice: create topic "orders": TOPIC_ALREADY_EXISTS`) {
		t.Errorf("duplicate create: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}

	// List, with the brokers taken from the environment this time.
	t.Setenv("SLUICE_BROKERS", addr)
	wantList := "" +
		"TOPIC   PARTITIONS  REPLICAS\n" +
		"events  2           1\n" +
		"orders  3           1\n"
	if got := mustSluice(t, "topic", "list"); got != wantList {
		t.Errorf("list:\n got %q\nwant %q", got, wantList)
	}
	t.Setenv("SLUICE_BROKERS", "")

	// Records on partition 1 move its log end offset; describe must show it.
	produceToPartition(t, addr, "orders", 1, 5)

	out := mustSluice(t, "topic", "describe", "orders", brokers)
	for _, want := range []string{
		"Topic:               orders\n",
		"Partitions:          3\n",
		"Replication factor:  1\n",
		"\nPARTITION  LEADER  EPOCH  REPLICAS  ISR  LOG-START  LOG-END\n",
		"\nConfigs: none set on the topic (broker defaults apply)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe orders: missing %q in:\n%s", want, out)
		}
	}
	for p, end := range []int{0, 5, 0} {
		if !partitionRow(p, end).MatchString(out) {
			t.Errorf("describe orders: no row for partition %d with log end %d in:\n%s", p, end, out)
		}
	}
	if rows := regexp.MustCompile(`(?m)^\d+ +0 +`).FindAllString(out, -1); len(rows) != 3 {
		t.Errorf("describe orders: %d partition rows, want 3:\n%s", len(rows), out)
	}

	// Configs given at creation are topic overrides, listed sorted as the
	// broker returns them.
	out = mustSluice(t, "topic", "describe", "events", brokers)
	if !regexp.MustCompile(`(?m)^Configs \(non-default\):\n  cleanup\.policy +compact\n  retention\.ms +3600000\n`).MatchString(out) {
		t.Errorf("describe events: configs missing:\n%s", out)
	}

	// Alter is incremental: set one key, then describe shows it.
	if got, want := mustSluice(t, "topic", "alter", "orders", "--config", "retention.ms=60000", brokers),
		"Altered topic \"orders\":\n  set retention.ms=60000\n"; got != want {
		t.Errorf("alter:\n got %q\nwant %q", got, want)
	}
	out = mustSluice(t, "topic", "describe", "orders", brokers)
	if !regexp.MustCompile(`(?m)^Configs \(non-default\):\n  retention\.ms +60000\n$`).MatchString(out) {
		t.Errorf("describe after alter: configs wrong:\n%s", out)
	}
	// Deleting an override reverts to the default; the other key stays.
	mustSluice(t, "topic", "alter", "events", "--delete-config", "cleanup.policy", brokers)
	out = mustSluice(t, "topic", "describe", "events", brokers)
	if !regexp.MustCompile(`(?m)^Configs \(non-default\):\n  retention\.ms +3600000\n$`).MatchString(out) {
		t.Errorf("describe after delete-config: configs wrong:\n%s", out)
	}

	// Delete removes the topic from list and describe.
	if got, want := mustSluice(t, "topic", "delete", "orders", brokers), "Deleted topic \"orders\".\n"; got != want {
		t.Errorf("delete:\n got %q\nwant %q", got, want)
	}
	wantList = "" +
		"TOPIC   PARTITIONS  REPLICAS\n" +
		"events  2           1\n"
	if got := mustSluice(t, "topic", "list", brokers); got != wantList {
		t.Errorf("list after delete:\n got %q\nwant %q", got, wantList)
	}
	for _, name := range []string{"orders", "never-existed"} {
		r := runSluice("topic", "describe", name, brokers)
		wantPrefix := fmt.Sprintf("sluice: describe topic %q: UNKNOWN_TOPIC_OR_PARTITION", name)
		if r.code != exitError || r.stdout != "" || !strings.HasPrefix(r.stderr, wantPrefix) {
			t.Errorf("describe %s: exit %d stdout %q stderr %q, want exit 1 and %q",
				name, r.code, r.stdout, r.stderr, wantPrefix)
		}
	}
	r = runSluice("topic", "delete", "orders", brokers)
	if r.code != exitError || !strings.HasPrefix(r.stderr, `sluice: delete topic "orders": UNKNOWN_TOPIC_OR_PARTITION`) {
		t.Errorf("delete again: exit %d stderr %q", r.code, r.stderr)
	}

	mustSluice(t, "topic", "delete", "events", brokers)
	if got := mustSluice(t, "topic", "list", brokers); got != "No topics.\n" {
		t.Errorf("list when empty: got %q", got)
	}
}

// produceToPartition writes n records to one partition and waits for acks.
func produceToPartition(t *testing.T, addr, topic string, partition int32, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	records := make([]*kgo.Record, n)
	for i := range records {
		records[i] = &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "record-%d", i)}
	}
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func TestAdminCommandReportsUnreachableBroker(t *testing.T) {
	// A port that was free a moment ago: nothing answers there, and the
	// refused dial is reported at once rather than after the timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	r := runSluice("topic", "list", "--brokers", addr)
	want := fmt.Sprintf("sluice: list topics: unable to dial: dial tcp %s: connect: connection refused\n", addr)
	if r.code != exitError || r.stdout != "" || r.stderr != want {
		t.Errorf("exit %d stdout %q stderr %q, want exit 1 and %q", r.code, r.stdout, r.stderr, want)
	}
}
