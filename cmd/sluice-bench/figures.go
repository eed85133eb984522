package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// brokerRuns is every repetition of one workload on one broker, in run
// order. A failed repetition ends the series, so only the last can fail.
type brokerRuns struct {
	broker string
	runs   []brokerRun
}

// phaseFigures are one phase's numbers for one broker: those of the
// repetition with the median records/s (a real run, never an average of
// runs), plus the range over all repetitions and the highest RSS seen.
type phaseFigures struct {
	ok               bool
	records, bytes   int64
	elapsed          time.Duration
	ackP50, ackP99   time.Duration // produce only
	cpu              time.Duration
	peakRSS          int64 // highest VmHWM over every repetition
	runs             int
	minRate, maxRate float64
}

// produced reports whether run has produce numbers; consumed likewise.
func (run brokerRun) produced() bool { return run.err == nil || failedPhase(run.err) == "consume" }
func (run brokerRun) consumed() bool { return run.err == nil }

func failedPhase(err error) string {
	var pe *phaseError
	if errors.As(err, &pe) {
		return pe.Phase
	}
	return ""
}

// phase summarises the repetitions that completed phase ("produce" or "consume").
func (b brokerRuns) phase(phase string) phaseFigures {
	var done []phaseFigures
	for _, run := range b.runs {
		switch {
		case phase == "produce" && run.produced():
			p := run.produce
			done = append(done, phaseFigures{records: p.records, bytes: p.bytes, elapsed: p.elapsed,
				ackP50: p.ackP50, ackP99: p.ackP99, cpu: run.produceUsage.cpu, peakRSS: run.produceUsage.peakRSS})
		case phase == "consume" && run.consumed():
			c := run.consume
			done = append(done, phaseFigures{records: c.records, bytes: c.bytes, elapsed: c.elapsed,
				cpu: run.consumeUsage.cpu, peakRSS: run.consumeUsage.peakRSS})
		}
	}
	if len(done) == 0 {
		return phaseFigures{}
	}
	slices.SortFunc(done, func(a, b phaseFigures) int { return compareFloat(a.rate(), b.rate()) })
	median := done[(len(done)-1)/2] // the lower middle for an even count: still a real run
	median.ok = true
	median.runs = len(done)
	median.minRate, median.maxRate = done[0].rate(), done[len(done)-1].rate()
	for _, f := range done {
		median.peakRSS = max(median.peakRSS, f.peakRSS)
	}
	return median
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// rate is records per second.
func (f phaseFigures) rate() float64 {
	if f.elapsed <= 0 {
		return 0
	}
	return float64(f.records) / f.elapsed.Seconds()
}

// spread shows how many repetitions were measured and their records/s range.
func (f phaseFigures) spread() string {
	if f.runs <= 1 {
		return strconv.Itoa(f.runs)
	}
	return fmt.Sprintf("%d: %s-%s", f.runs, compactCount(f.minRate), compactCount(f.maxRate))
}

// compact is the summary-block form of f.
func (f phaseFigures) compact(phase string) string {
	if !f.ok {
		return "FAILED"
	}
	s := fmt.Sprintf("%s rec/s %.1f MB/s", groupDigits(int64(f.rate())), mbPerSecond(f.bytes, f.elapsed))
	if phase == "produce" {
		s += fmt.Sprintf(" p50 %s p99 %s", millis(f.ackP50), millis(f.ackP99))
	}
	s += fmt.Sprintf(" cpu %.1fs rss %.0f MB", f.cpu.Seconds(), float64(f.peakRSS)/megabyte)
	if f.runs > 1 {
		s += fmt.Sprintf(" (median of %d, range %s)", f.runs, strings.TrimPrefix(f.spread(), strconv.Itoa(f.runs)+": "))
	}
	return s
}

func mbPerSecond(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / megabyte / d.Seconds()
}

// millis formats a latency in milliseconds with precision that suits its size.
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

// compactCount renders a rate to three significant digits: 1234567 -> "1.23M".
func compactCount(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', digitsAfterPoint(v/1e6), 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', digitsAfterPoint(v/1e3), 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// digitsAfterPoint keeps three significant digits for 1 <= v < 1000.
func digitsAfterPoint(v float64) int {
	switch {
	case v >= 100:
		return 0
	case v >= 10:
		return 1
	}
	return 2
}

// groupDigits renders n with thousands separators: 1234567 -> "1,234,567".
func groupDigits(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
