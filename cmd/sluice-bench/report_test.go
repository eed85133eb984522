package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMillis(t *testing.T) {
	if got := millis(1500 * time.Microsecond); got != "1.50ms" {
		t.Errorf("1.5ms = %q", got)
	}
	if got := millis(123456 * time.Microsecond); got != "123.5ms" {
		t.Errorf("123.456ms = %q", got)
	}
}

// finishedRun builds the brokerRun a successful runThroughput returns, with
// round numbers so rates and ratios are exact.
func finishedRun(broker string, produceSecs, consumeSecs float64, rss int64) brokerRun {
	const records = 1000
	return brokerRun{
		broker:       broker,
		produce:      produceStats{records: records, bytes: records * 100, elapsed: time.Duration(produceSecs * float64(time.Second))},
		produceUsage: phaseUsage{cpu: time.Second, peakRSS: rss / 2},
		consume:      consumeStats{records: records, bytes: records * 100, elapsed: time.Duration(consumeSecs * float64(time.Second))},
		consumeUsage: phaseUsage{cpu: time.Second, peakRSS: rss},
	}
}

func TestTargetLinesPassAndMiss(t *testing.T) {
	r := &throughputReport{workload: workload{name: "100b", recordSize: 100, records: 1000, partitions: 8}}
	r.brokers = []brokerRuns{
		{broker: "kfake", runs: []brokerRun{finishedRun("kfake", 2, 2, 900_000_000)}},
		{broker: "sluice", runs: []brokerRun{finishedRun("sluice", 1, 1.6, 250_000_000)}}, // produce 2.00x, consume 1.25x
	}
	want := []string{
		"sluice/kfake records/s: produce 2.00x [target >= 1.3x: PASS]; consume 1.25x [target >= 1.5x: MISS]",
		"sluice peak RSS: 250 MB [target < 300 MB: PASS]",
	}
	if got := r.targetLines(); !slices.Equal(got, want) {
		t.Fatalf("target lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestReportShowsFailedPhases(t *testing.T) {
	r := &throughputReport{workload: workload{name: "1k", recordSize: 1024, records: 1000, partitions: 8}}
	failed := finishedRun("sluice", 1, 1, 100_000_000)
	failed.consume = consumeStats{}
	failed.err = &phaseError{Scenario: "1k", Broker: "sluice", Phase: "consume",
		Err: &brokerError{Err: errBrokerExited, Output: "panic: boom\n"}}
	r.brokers = []brokerRuns{
		{broker: "kfake", runs: []brokerRun{finishedRun("kfake", 1, 1, 1)}},
		{broker: "sluice", runs: []brokerRun{failed}},
	}

	var out bytes.Buffer
	r.render(&out)
	text := out.String()
	for _, want := range []string{
		"produce  sluice      1,000",
		"consume  sluice     FAILED",
		"produce 1.00x [target >= 1.3x: MISS]; consume n/a",
		"FAILED 1k: sluice failed in consume: broker process exited",
		"    panic: boom",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if !errors.Is(r.err(), errBrokerExited) {
		t.Fatalf("report err = %v, want errBrokerExited inside", r.err())
	}
	if got, want := r.summary()[1], "1k    consume: kfake 1,000 rec/s 0.1 MB/s cpu 1.0s rss 0 MB | sluice FAILED"; got != want {
		t.Fatalf("summary consume line = %q, want %q", got, want)
	}
}

func TestMedianRepetitionIsReported(t *testing.T) {
	// Three produce phases at 500, 1000 and 250 records/s, the slowest with
	// the highest RSS: the row shows the 500/s run, the range, and that RSS.
	runs := []brokerRun{
		finishedRun("sluice", 2, 1, 100_000_000),
		finishedRun("sluice", 1, 1, 100_000_000),
		finishedRun("sluice", 4, 1, 280_000_000),
	}
	runs[0].produce.ackP50 = 5 * time.Millisecond
	f := brokerRuns{broker: "sluice", runs: runs}.phase("produce")
	if !f.ok || f.rate() != 500 || f.ackP50 != 5*time.Millisecond {
		t.Fatalf("median figures = %+v, want the 500 records/s run", f)
	}
	if f.runs != 3 || f.minRate != 250 || f.maxRate != 1000 || f.peakRSS != 140_000_000 {
		t.Fatalf("runs %d range %v-%v peak RSS %d; want 3, 250-1000, 140000000", f.runs, f.minRate, f.maxRate, f.peakRSS)
	}
	if got := f.spread(); got != "3: 250-1.00k" {
		t.Fatalf("spread = %q", got)
	}

	// A failed last repetition still leaves the earlier ones' consume numbers.
	runs[2].err = &phaseError{Scenario: "x", Broker: "sluice", Phase: "consume", Err: errStalled}
	c := brokerRuns{broker: "sluice", runs: runs}.phase("consume")
	if !c.ok || c.runs != 2 {
		t.Fatalf("consume figures = %+v, want 2 completed repetitions", c)
	}
}

func TestCompactCount(t *testing.T) {
	for v, want := range map[float64]string{999: "999", 1234: "1.23k", 45_678: "45.7k", 324_732: "325k", 2_549_255: "2.55M"} {
		if got := compactCount(v); got != want {
			t.Errorf("compactCount(%v) = %q, want %q", v, got, want)
		}
	}
}
