package main

import (
	"strings"
	"testing"
	"time"
)

// TestTxnReportRatio: the ratio is the median of each repetition's
// transactional over idempotent records/s, checked against the 0.8x
// target; the line also shows the medians; without both modes it says n/a.
func TestTxnReportRatio(t *testing.T) {
	run := func(records int64, cpu time.Duration) txnRun {
		return txnRun{records: records, elapsed: 10 * time.Second, cpu: cpu}
	}
	rep := &txnReport{runs: map[string][]txnRun{
		// Medians: idempotent 200,000 records/s at 5 µs/record,
		// transactional 170,000 records/s at 6 µs/record. Paired
		// ratios: 0.90, 0.85, 0.40.
		txnModeIdem: {run(1_900_000, 9500*time.Millisecond), run(2_000_000, 10*time.Second), run(2_500_000, 12*time.Second)},
		txnModeTxn:  {run(1_700_000, 10200*time.Millisecond), run(1_700_000, 5*time.Second), run(1_000_000, 11*time.Second)},
	}}
	want := "transactional/idempotent produce: 0.85x (target ≥ 0.8x) MET; median of 3 paired windows; medians 170000 vs 200000 records/s; broker CPU/record 1.20x (6.0 vs 5.0 µs)"
	if got := rep.ratioLine(); got != want {
		t.Fatalf("ratio line\n got %q\nwant %q", got, want)
	}
	if got := rep.summary(); len(got) != 1 || got[0] != want {
		t.Fatalf("summary %q, want the ratio line", got)
	}
	rep.runs[txnModeTxn] = []txnRun{run(1_000_000, 5*time.Second)}
	if got := rep.ratioLine(); !strings.HasPrefix(got, "transactional/idempotent produce: 0.53x (target ≥ 0.8x) MISSED;") {
		t.Fatalf("missed target: %q", got)
	}
	if got := (&txnReport{runs: map[string][]txnRun{}}).ratioLine(); got != "transactional/idempotent produce: n/a (target ≥ 0.8x)" {
		t.Fatalf("no runs: %q", got)
	}
}
