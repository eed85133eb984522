package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Targets Sluice is held to against the kfake baseline on the same machine.
const (
	targetProduceRatio = 1.3
	targetConsumeRatio = 1.5
	targetMaxRSSBytes  = 300_000_000 // 300 MB
)

// megabyte is the unit for MB/s and RSS: 10^6 bytes, as in disk and NIC specs.
const megabyte = 1_000_000

// throughputReport is the section a throughput scenario renders.
type throughputReport struct {
	workload workload
	brokers  []brokerRuns
}

func (r *throughputReport) err() error {
	var errs []error
	for _, b := range r.brokers {
		for _, run := range b.runs {
			errs = append(errs, run.err)
		}
	}
	return errors.Join(errs...)
}

func (r *throughputReport) figures(broker, phase string) phaseFigures {
	for _, b := range r.brokers {
		if b.broker == broker {
			return b.phase(phase)
		}
	}
	return phaseFigures{}
}

func (r *throughputReport) ran(broker string) bool {
	for _, b := range r.brokers {
		if b.broker == broker {
			return true
		}
	}
	return false
}

func (r *throughputReport) render(out io.Writer) {
	w := r.workload
	fmt.Fprintf(out, "\n== %s: %s records x %d B = %.1f MB, %d partitions, acks=all, idempotent, %s\n",
		w.name, groupDigits(w.records), w.recordSize, float64(w.totalBytes())/megabyte, w.partitions, produceCodecName)

	writePhaseTable(out, "broker", r.brokers)
	for _, line := range r.targetLines() {
		fmt.Fprintln(out, line)
	}
	for _, b := range r.brokers {
		for _, run := range b.runs {
			if run.err != nil {
				fmt.Fprintf(out, "FAILED %v\n", run.err)
				writeBrokerOutput(out, run.err)
			}
		}
	}
}

// writePhaseTable prints one row per phase and series (a broker, or a
// listener of one broker); column names the series.
func writePhaseTable(out io.Writer, column string, series []brokerRuns) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "phase\t%s\trecords/s\tMB/s\tack p50\tack p99\tbroker CPU s\tbroker peak RSS MB\truns: records/s range\t\n", column)
	for _, phase := range []string{"produce", "consume"} {
		for _, b := range series {
			f := b.phase(phase)
			if !f.ok {
				fmt.Fprintf(tw, "%s\t%s\tFAILED\t-\t-\t-\t-\t-\t-\t\n", phase, b.broker)
				continue
			}
			p50, p99 := "-", "-"
			if phase == "produce" {
				p50, p99 = millis(f.ackP50), millis(f.ackP99)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\t%s\t%.2f\t%.0f\t%s\t\n", phase, b.broker,
				groupDigits(int64(f.rate())), mbPerSecond(f.bytes, f.elapsed), p50, p99,
				f.cpu.Seconds(), float64(f.peakRSS)/megabyte, f.spread())
		}
	}
	_ = tw.Flush()
}

// targetLines compares Sluice with kfake and with the absolute RSS bound.
func (r *throughputReport) targetLines() []string {
	if !r.ran("sluice") || !r.ran("kfake") {
		lines := []string{"sluice/kfake records/s: n/a (only one broker ran)"}
		return append(lines, r.rssLine()...)
	}
	ratio := func(phase string, target float64) string {
		s, k := r.figures("sluice", phase), r.figures("kfake", phase)
		if !s.ok || !k.ok {
			return phase + " n/a"
		}
		x := s.rate() / k.rate()
		return fmt.Sprintf("%s %.2fx [target >= %.1fx: %s]", phase, x, target, passOrMiss(x >= target))
	}
	lines := []string{"sluice/kfake records/s: " + ratio("produce", targetProduceRatio) + "; " + ratio("consume", targetConsumeRatio)}
	return append(lines, r.rssLine()...)
}

// rssLine checks Sluice's peak RSS over every phase and repetition.
func (r *throughputReport) rssLine() []string {
	p, c := r.figures("sluice", "produce"), r.figures("sluice", "consume")
	if !p.ok && !c.ok {
		return nil
	}
	rss := max(p.peakRSS, c.peakRSS)
	return []string{fmt.Sprintf("sluice peak RSS: %.0f MB [target < %d MB: %s]",
		float64(rss)/megabyte, targetMaxRSSBytes/megabyte, passOrMiss(rss < targetMaxRSSBytes))}
}

func (r *throughputReport) summary() []string {
	label := fmt.Sprintf("%-5s", r.workload.name)
	var lines []string
	for _, phase := range []string{"produce", "consume"} {
		var parts []string
		for _, b := range r.brokers {
			parts = append(parts, b.broker+" "+b.phase(phase).compact(phase))
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s", label, phase, strings.Join(parts, " | ")))
	}
	for _, line := range r.targetLines() {
		lines = append(lines, label+" "+line)
	}
	return lines
}

// writeBrokerOutput shows the broker's last words when err carries them.
func writeBrokerOutput(out io.Writer, err error) {
	var be *brokerError
	if !errors.As(err, &be) {
		return
	}
	tail := strings.TrimSpace(be.Output)
	if tail == "" {
		fmt.Fprintln(out, "  (the broker wrote no output)")
		return
	}
	fmt.Fprintf(out, "  last broker output:\n    %s\n", strings.ReplaceAll(tail, "\n", "\n    "))
}

func passOrMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
