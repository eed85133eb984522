package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These tests drive real child brokers: kfake is this test binary re-executed
// (see TestMain), exactly as the bench runs it.

func discardLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func kfakeForTest(t *testing.T) brokerSpec {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return kfakeSpec(self)
}

// startKfake starts a kfake child for the test and stops it at cleanup.
func startKfake(t *testing.T) *brokerProcess {
	t.Helper()
	b, err := startBroker(t.Context(), kfakeForTest(t), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.stop)
	return b
}

func TestThroughputRunAgainstKfakeChild(t *testing.T) {
	env := &benchEnv{brokers: []brokerSpec{kfakeForTest(t)}, repeat: 1, log: discardLogger()}
	w := workload{name: "t", recordSize: 100, records: 20_000, partitions: 8}
	run := runThroughput(t.Context(), env, env.brokers[0], w, newPayloadSource(w.recordSize))
	if run.err != nil {
		t.Fatal(run.err)
	}
	if run.produce.records != 20_000 || run.produce.bytes != 2_000_000 {
		t.Fatalf("produced %d records / %d bytes, want 20000 / 2000000", run.produce.records, run.produce.bytes)
	}
	var perPartSum int64
	for _, n := range run.produce.perPart {
		perPartSum += n
	}
	if len(run.produce.perPart) != 8 || perPartSum != 20_000 {
		t.Fatalf("per-partition acks %v (sum %d), want 8 partitions summing to 20000", run.produce.perPart, perPartSum)
	}
	if run.consume.records != 20_000 || run.consume.bytes != 2_000_000 {
		t.Fatalf("consumed %d records / %d bytes, want 20000 / 2000000", run.consume.records, run.consume.bytes)
	}
	if run.produce.ackP50 <= 0 || run.produce.ackP99 < run.produce.ackP50 {
		t.Fatalf("ack latency p50 %s p99 %s: want 0 < p50 <= p99", run.produce.ackP50, run.produce.ackP99)
	}
	if run.produceUsage.peakRSS <= 0 || run.consumeUsage.peakRSS < run.produceUsage.peakRSS {
		t.Fatalf("peak RSS produce %d consume %d: want positive and non-decreasing", run.produceUsage.peakRSS, run.consumeUsage.peakRSS)
	}
}

func TestQuickRunAgainstKfakePrintsReportAndSummary(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-only", "kfake", "-quick", "-repeat", "2", "-workload", "100b"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	// The table is right-aligned to its widest cell: a wide value (an ack
	// p99 of 1234.5ms) widens its column, so the header is matched with
	// any run of at least two spaces between the column names.
	header := regexp.MustCompile(`phase {2,}broker {2,}records/s {2,}MB/s {2,}ack p50 {2,}ack p99 {2,}broker CPU s {2,}broker peak RSS MB {2,}runs: records/s range\n`)
	if !header.MatchString(out) {
		t.Errorf("stdout lacks the table header:\n%s", out)
	}
	for _, want := range []string{
		"== 100b: 200,000 records x 100 B = 20.0 MB, 8 partitions",
		"sluice/kfake records/s: n/a (only one broker ran)",
		"quick (1/10 scale), median of 2",
		"100b  produce: kfake ",
		"100b  consume: kfake ",
		"(median of 2, range ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if got := len(regexp.MustCompile(`(?m)^ +(produce|consume) +kfake +[0-9,]+ +[0-9.]+ `).FindAllString(out, -1)); got != 2 {
		t.Errorf("want 2 kfake table rows (produce, consume), got %d:\n%s", got, out)
	}
}

func TestSluiceThatDiesAtStartFailsTheRun(t *testing.T) {
	var stdout bytes.Buffer
	// /bin/false is a real binary that exits 1 whatever it is asked to serve.
	code := run([]string{"-only", "sluice", "-quick", "-workload", "1k", "-sluice", "/bin/false"}, &stdout, io.Discard)
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	out := stdout.String()
	for _, want := range []string{
		"produce  sluice     FAILED",
		"FAILED 1k: sluice failed in start: broker process exited (exit status 1)",
		"  (the broker wrote no output)",
		"FAILED: 1k: sluice failed in start",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
}

func TestProduceToKilledBrokerReportsItsExit(t *testing.T) {
	b := startKfake(t)
	ctx, cancel := b.watch(t.Context())
	defer cancel()
	if err := b.proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w := workload{name: "dead", recordSize: 100, records: 1000, partitions: 8}
	_, err := produceAll(ctx, b.addr, w.topic(), w, newPayloadSource(w.recordSize))
	if !errors.Is(err, errBrokerExited) {
		t.Fatalf("err = %v, want errBrokerExited", err)
	}
	if !strings.Contains(err.Error(), "signal: killed") {
		t.Fatalf("err %q does not name the exit status", err)
	}
}

func TestConsumeRejectsRecordsThatDoNotMatchWhatWasProduced(t *testing.T) {
	b := startKfake(t)
	w := workload{name: "verify", recordSize: 100, records: 1000, partitions: 8}
	if err := createTopic(t.Context(), b.addr, w); err != nil {
		t.Fatal(err)
	}
	produced, err := produceAll(t.Context(), b.addr, w.topic(), w, newPayloadSource(w.recordSize))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consumeAll(t.Context(), b.addr, w.topic(), produced); err != nil {
		t.Fatalf("honest read-back failed: %v", err)
	}

	altered := produced
	altered.checksum++
	_, err = consumeAll(t.Context(), b.addr, w.topic(), altered)
	if !errors.Is(err, errConsumeMismatch) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("checksum mismatch: err = %v", err)
	}

	// Claim one partition got one record fewer than the broker holds: the
	// broker now looks like it invented a record.
	short := produced
	short.perPart = append([]int64(nil), produced.perPart...)
	p := firstNonEmpty(short.perPart)
	short.perPart[p]--
	short.records--
	_, err = consumeAll(t.Context(), b.addr, w.topic(), short)
	if !errors.Is(err, errConsumeMismatch) || !strings.Contains(err.Error(), "were acked there") {
		t.Fatalf("extra record: err = %v", err)
	}
}

func firstNonEmpty(counts []int64) int {
	for i, n := range counts {
		if n > 0 {
			return i
		}
	}
	return -1
}

func TestWatchProgressCancelsAStalledPhase(t *testing.T) {
	var progress atomic.Int64
	progress.Store(42)
	ctx, stop := watchProgress(context.Background(), &progress, 200*time.Millisecond)
	defer stop()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("stalled phase was never cancelled")
	}
	cause := context.Cause(ctx)
	if !errors.Is(cause, errStalled) || !strings.Contains(cause.Error(), "stuck at 42 records") {
		t.Fatalf("cause = %v, want errStalled at 42 records", cause)
	}
}
