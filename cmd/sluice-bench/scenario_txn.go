package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The txn scenario measures what transactions cost a producer (issue 13's
// bench): one kgo producer of 1 KB records to an 8-partition topic with
// acks=all, in two modes with otherwise identical client settings:
// idempotent (kgo's default) and transactional, committing every
// txnCommitEvery (produce for 100 ms, flush, EndTransaction commit, begin
// the next), as a stream processor's producer does. Each mode runs for a
// fixed window on the same broker process, with the same client settings
// and one producer (the same concurrency); a repetition runs the two back
// to back (which goes first alternates), and the ratio is the median of
// the repetitions' ratios, so machine speed and load cancel out of it.
// Reported: committed (acked) records/s and the broker's CPU, in total and
// per record.

const (
	txnTopic        = "sluice-bench-txn"
	txnPartitions   = 8
	txnRecordSize   = 1024
	txnCommitEvery  = 100 * time.Millisecond
	txnWindow       = 10 * time.Second // each mode's window (-quick: 1/4)
	txnTargetRatio  = 0.8
	txnModeIdem     = "idempotent"
	txnModeTxn      = "transactional"
	txnTimeoutLimit = 30 * time.Second
)

var txnModes = []string{txnModeIdem, txnModeTxn}

func txnScenario() scenario {
	return scenario{
		name: "txn",
		description: fmt.Sprintf("Sluice only: transactional produce (1 KB, commit every %v) vs idempotent produce, records/s and broker CPU (target >= %.1fx; -quick: shorter windows)",
			txnCommitEvery, txnTargetRatio),
		run: func(ctx context.Context, env *benchEnv) section { return runTxnBench(ctx, env) },
	}
}

// txnRun is one mode's measured window.
type txnRun struct {
	records int64         // acked records (transactional: all committed)
	commits int64         // transactions committed
	flushT  time.Duration // transactional: time spent flushing before commits
	commitT time.Duration // transactional: time spent in EndTransaction
	elapsed time.Duration // from the first produce to the last ack or commit
	cpu     time.Duration // the broker's CPU time over elapsed
}

func (r txnRun) rate() float64 { return float64(r.records) / r.elapsed.Seconds() }

// cpuPerRecord is the broker's CPU per record in microseconds.
func (r txnRun) cpuPerRecord() float64 {
	if r.records == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(r.records)
}

type txnReport struct {
	window  time.Duration
	runs    map[string][]txnRun
	skipped bool
	errs    []error
}

func (r *txnReport) err() error { return errors.Join(r.errs...) }

// median is the run with a mode's median records/s (a real run).
func (r *txnReport) median(mode string) (txnRun, bool) {
	runs := slices.Clone(r.runs[mode])
	if len(runs) == 0 {
		return txnRun{}, false
	}
	slices.SortFunc(runs, func(a, b txnRun) int { return compareFloat(a.rate(), b.rate()) })
	return runs[(len(runs)-1)/2], true
}

func (r *txnReport) render(out io.Writer) {
	fmt.Fprintf(out, "\n== txn: kgo producer, %d B records, %d partitions, acks=all, %s; transactional commits every %v; %v windows, one Sluice\n",
		txnRecordSize, txnPartitions, produceCodecName, txnCommitEvery, r.window)
	if r.skipped {
		fmt.Fprintln(out, skippedWithoutSluice)
		return
	}
	fmt.Fprintf(out, "%-14s %5s %11s %8s %10s %14s %14s %14s  %s\n", "mode", "runs", "records/s", "MB/s", "commits/s", "broker CPU %", "CPU µs/record", "flush+commit", "records/s range")
	for _, mode := range txnModes {
		m, ok := r.median(mode)
		if !ok {
			fmt.Fprintf(out, "%-14s %5s\n", mode, "n/a")
			continue
		}
		secs := m.elapsed.Seconds()
		// Per transaction: how long the producer waits for its flush and
		// its EndTransaction, time it produces nothing.
		waits := "-"
		if m.commits > 0 {
			waits = fmt.Sprintf("%v+%v", (m.flushT / time.Duration(m.commits)).Round(100*time.Microsecond),
				(m.commitT / time.Duration(m.commits)).Round(100*time.Microsecond))
		}
		// The spread, since a shared machine moves single runs a lot.
		lo, hi := m.rate(), m.rate()
		for _, run := range r.runs[mode] {
			lo, hi = min(lo, run.rate()), max(hi, run.rate())
		}
		fmt.Fprintf(out, "%-14s %5d %11.0f %8.1f %10.1f %14.1f %14.1f %14s  %.0f-%.0f\n", mode, len(r.runs[mode]), m.rate(),
			m.rate()*txnRecordSize/1e6, float64(m.commits)/secs, 100*m.cpu.Seconds()/secs, m.cpuPerRecord(), waits, lo, hi)
	}
	fmt.Fprintln(out, r.ratioLine())
	for _, err := range r.errs {
		fmt.Fprintf(out, "FAILED %v\n", err)
		writeBrokerOutput(out, err)
	}
}

// pairedRatio is the median over repetitions of transactional records/s
// over idempotent records/s of the same repetition: the two windows of a
// repetition run back to back, so a shared machine's load, which moves
// single windows by 2x, mostly cancels out of each ratio.
func (r *txnReport) pairedRatio() (float64, int) {
	idem, txn := r.runs[txnModeIdem], r.runs[txnModeTxn]
	var ratios []float64
	for i := range min(len(idem), len(txn)) {
		if idem[i].rate() > 0 {
			ratios = append(ratios, txn[i].rate()/idem[i].rate())
		}
	}
	if len(ratios) == 0 {
		return 0, 0
	}
	slices.Sort(ratios)
	return ratios[(len(ratios)-1)/2], len(ratios)
}

// ratioLine is the paired records/s ratio against the target, with the
// medians' records/s and broker CPU per record.
func (r *txnReport) ratioLine() string {
	const prefix = "transactional/idempotent produce: "
	idem, okI := r.median(txnModeIdem)
	txn, okT := r.median(txnModeTxn)
	ratio, pairs := r.pairedRatio()
	if !okI || !okT || pairs == 0 {
		return prefix + fmt.Sprintf("n/a (target ≥ %.1fx)", txnTargetRatio)
	}
	s := fmt.Sprintf("%s%.2fx (target ≥ %.1fx) %s; median of %d paired windows; medians %.0f vs %.0f records/s", prefix, ratio, txnTargetRatio,
		targetMark(ratio >= txnTargetRatio), pairs, txn.rate(), idem.rate())
	if idem.cpuPerRecord() > 0 {
		s += fmt.Sprintf("; broker CPU/record %.2fx (%.1f vs %.1f µs)", txn.cpuPerRecord()/idem.cpuPerRecord(),
			txn.cpuPerRecord(), idem.cpuPerRecord())
	}
	return s
}

func (r *txnReport) summary() []string {
	if r.skipped {
		return []string{"txn: " + skippedWithoutSluice}
	}
	return []string{r.ratioLine()}
}

func runTxnBench(ctx context.Context, env *benchEnv) *txnReport {
	rep := &txnReport{window: txnWindow, runs: map[string][]txnRun{}}
	if env.quick {
		rep.window /= 4
	}
	// The broker's defaults, as the throughput scenarios run it.
	b, skipped, err := startSingleSluice(ctx, env, "txn", nil, txnTopic, txnPartitions)
	if skipped || err != nil {
		rep.skipped = skipped
		if err != nil {
			rep.errs = append(rep.errs, err)
		}
		return rep
	}
	defer b.close()
	ctx = b.ctx
	fail := func(phase string, err error) *txnReport {
		rep.errs = append(rep.errs, &phaseError{Scenario: "txn", Broker: "sluice", Phase: phase, Err: err})
		return rep
	}

	payload := newPayloadSource(txnRecordSize)
	for round := 1; round <= env.repeat && ctx.Err() == nil; round++ {
		for j := range txnModes {
			// Alternate which mode goes first, so neither always runs on
			// the fresher (or the more loaded) broker.
			mode := txnModes[(j+round-1)%len(txnModes)]
			env.log.Info("workload starting", "workload", "txn", "mode", mode,
				"repetition", fmt.Sprintf("%d/%d", round, env.repeat))
			run, err := txnWindowRun(ctx, b.brokerProcess, mode, fmt.Sprintf("sluice-bench-txn-%d", round), rep.window, payload)
			if err != nil {
				return fail(mode, causeOr(ctx, err))
			}
			rep.runs[mode] = append(rep.runs[mode], run)
		}
	}
	return rep
}

// txnWindowRun produces for window in one mode with a fresh client and
// measures committed records and the broker's CPU. The client settings
// are produceAll's; the transactional mode adds only its id and timeout.
func txnWindowRun(ctx context.Context, b *brokerProcess, mode, txnID string, window time.Duration, payload valueSource) (txnRun, error) {
	var run txnRun
	opts := []kgo.Opt{
		kgo.SeedBrokers(b.addr),
		kgo.DefaultProduceTopic(txnTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(produceCompression),
		kgo.MaxBufferedRecords(max(1000, producerBufferBytes/txnRecordSize)),
		kgo.MaxBufferedBytes(producerBufferBytes),
	}
	txn := mode == txnModeTxn
	if txn {
		opts = append(opts, kgo.TransactionalID(txnID), kgo.TransactionTimeout(txnTimeoutLimit))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return run, err
	}
	defer cl.Close()

	var (
		acked    atomic.Int64
		firstErr atomic.Pointer[error]
	)
	onAck := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	failed := func() error {
		if p := firstErr.Load(); p != nil {
			return *p
		}
		return nil
	}
	// Let the client find the partitions' leader (and, transactional,
	// its producer id) before the window, so the window is steady state.
	if txn {
		if err := cl.BeginTransaction(); err != nil {
			return run, fmt.Errorf("begin: %w", err)
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: payload.value(0)}).FirstErr(); err != nil {
		return run, fmt.Errorf("warm-up produce: %w", err)
	}
	if txn {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return run, fmt.Errorf("warm-up commit: %w", err)
		}
	}

	before, err := cpuTicks(b.pid())
	if err != nil {
		return run, err
	}
	start := time.Now()
	end := start.Add(window)
	var seq int64 = 1
	for time.Now().Before(end) && ctx.Err() == nil {
		// Idempotent: one stretch to the window's end. Transactional: one
		// transaction per txnCommitEvery.
		stretchEnd := end
		if txn {
			stretchEnd = time.Now().Add(txnCommitEvery)
			if err := cl.BeginTransaction(); err != nil {
				return run, fmt.Errorf("begin: %w", err)
			}
		}
		for time.Now().Before(stretchEnd) {
			cl.Produce(ctx, &kgo.Record{Value: payload.value(seq)}, onAck)
			seq++
			if err := failed(); err != nil {
				return run, err
			}
		}
		if txn {
			// A transaction's commit waits for its records (as Kafka's
			// producers flush before EndTxn).
			t0 := time.Now()
			if err := cl.Flush(ctx); err != nil {
				return run, fmt.Errorf("flush: %w", err)
			}
			t1 := time.Now()
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				return run, fmt.Errorf("commit: %w", err)
			}
			run.flushT += t1.Sub(t0)
			run.commitT += time.Since(t1)
			run.commits++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return run, fmt.Errorf("flush: %w", err)
	}
	run.elapsed = time.Since(start)
	after, err := cpuTicks(b.pid())
	if err != nil {
		return run, err
	}
	if err := failed(); err != nil {
		return run, err
	}
	run.cpu = ticksToDuration(after - before)
	// The warm-up record is not the window's.
	run.records = acked.Load()
	if n := seq - 1; run.records != n {
		return run, fmt.Errorf("%w: %d of %d", errProduceIncomplete, run.records, n)
	}
	return run, nil
}
