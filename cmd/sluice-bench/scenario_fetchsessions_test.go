package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestFetchSessionsReportRatios: the ratio line divides the medians (with
// sessions over without) for total CPU, the share above the producer-only
// baseline, and that share per fetch; the table shows bytes per fetch.
func TestFetchSessionsReportRatios(t *testing.T) {
	w := 10 * time.Second
	rep := &fetchSessionsReport{window: w, runs: map[string][]fsRun{
		fsModeBaseline: {{cpu: 2 * time.Second, window: w}, {cpu: 1 * time.Second, window: w}, {cpu: 9 * time.Second, window: w}},
		fsModeSessions: {{cpu: 4 * time.Second, window: w, fetches: 1000, reqBytes: 100_000, respBytes: 200_000, records: 2000}},
		fsModeNone:     {{cpu: 6 * time.Second, window: w, fetches: 1000, reqBytes: 33_000_000, respBytes: 37_000_000, records: 2000}},
	}}
	want := "fetch sessions: broker CPU with/without: total 0.67x (40.0% vs 60.0% of a core); consumer's share 0.50x, per fetch 0.50x (2000 vs 4000 us)"
	if got := rep.ratioLine(); got != want {
		t.Fatalf("ratio line\n got %s\nwant %s", got, want)
	}
	var out bytes.Buffer
	rep.render(&out)
	for _, s := range []string{"consumer without sessions      1           60.0        100       33,000        37,000        200", want} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
	if got := (&fetchSessionsReport{runs: map[string][]fsRun{}}).ratioLine(); !strings.HasSuffix(got, "n/a") {
		t.Errorf("no runs: %q", got)
	}
}
