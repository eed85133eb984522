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

// The fetchsessions scenario measures what fetch sessions (KIP-227,
// core/kafka/fetchsession.go) save the broker: one kgo consumer of a
// 1,000-partition topic into which a producer trickles records (one every
// 5 ms, to partitions spread over the topic), so the consumer fetches
// often and each fetch finds little. With sessions, each fetch after the
// first names only the partitions whose offsets moved and is answered
// with only the partitions that have news; without (kgo's
// DisableFetchSessions, as clients that do not implement KIP-227 behave),
// every request lists and every response answers all 1,000 partitions.
// The broker's CPU is measured over a fixed window in three modes per
// repetition: the producer alone (the baseline), plus the consumer with
// sessions, plus the consumer without; the consumer's share is the
// difference from the baseline. The same broker process serves every
// mode, so machine speed cancels out of the ratios.

const (
	fetchSessionsTopic      = "sluice-bench-fetchsessions"
	fetchSessionsPartitions = 1000
	// fetchSessionsWindow is each mode's measured window (-quick: 1/4).
	fetchSessionsWindow = 8 * time.Second
	// fetchSessionsEvery is the producer's pace, one record each.
	fetchSessionsEvery = 5 * time.Millisecond
	// fetchSessionsWarmup lets a new consumer open its session (or ask
	// for its offsets) before the window starts.
	fetchSessionsWarmup = time.Second
)

// Mode labels, also the table's row names.
const (
	fsModeBaseline = "producer only"
	fsModeSessions = "consumer with sessions"
	fsModeNone     = "consumer without sessions"
)

var fetchSessionsModes = []string{fsModeBaseline, fsModeSessions, fsModeNone}

func fetchSessionsScenario() scenario {
	return scenario{
		name: "fetchsessions",
		description: fmt.Sprintf("Sluice only: a consumer of %s partitions with a record every %v; broker CPU with vs without fetch sessions (-quick: shorter windows)",
			groupDigits(fetchSessionsPartitions), fetchSessionsEvery),
		run: func(ctx context.Context, env *benchEnv) section {
			return runFetchSessionsBench(ctx, env)
		},
	}
}

// fsRun is one mode's measured window.
type fsRun struct {
	cpu, window time.Duration
	fetches     int64 // fetch requests the consumer sent in the window
	reqBytes    int64 // bytes of those requests
	respBytes   int64 // bytes of their responses
	records     int64 // records the consumer received in the window
}

func (r fsRun) cpuPerSec() float64 { return r.cpu.Seconds() / r.window.Seconds() }

type fetchSessionsReport struct {
	window  time.Duration
	runs    map[string][]fsRun
	skipped bool
	errs    []error
}

func (r *fetchSessionsReport) err() error { return errors.Join(r.errs...) }

// median is the run with the median broker CPU of a mode.
func (r *fetchSessionsReport) median(mode string) (fsRun, bool) {
	runs := slices.Clone(r.runs[mode])
	if len(runs) == 0 {
		return fsRun{}, false
	}
	slices.SortFunc(runs, func(a, b fsRun) int { return compareFloat(a.cpuPerSec(), b.cpuPerSec()) })
	return runs[(len(runs)-1)/2], true
}

func (r *fetchSessionsReport) render(out io.Writer) {
	fmt.Fprintf(out, "\n== fetchsessions: kgo consumer of %s partitions, a 100 B record every %v; %v windows, one Sluice\n",
		groupDigits(fetchSessionsPartitions), fetchSessionsEvery, r.window)
	if r.skipped {
		fmt.Fprintln(out, skippedWithoutSluice)
		return
	}
	fmt.Fprintf(out, "%-26s %5s %14s %10s %12s %13s %10s\n", "mode", "runs", "broker CPU %", "fetches/s", "req B/fetch", "resp B/fetch", "records/s")
	for _, mode := range fetchSessionsModes {
		m, ok := r.median(mode)
		if !ok {
			fmt.Fprintf(out, "%-26s %5s\n", mode, "n/a")
			continue
		}
		secs := m.window.Seconds()
		perFetch := func(b int64) string {
			if m.fetches == 0 {
				return "-"
			}
			return groupDigits(b / m.fetches)
		}
		fmt.Fprintf(out, "%-26s %5d %14.1f %10.0f %12s %13s %10.0f\n", mode, len(r.runs[mode]), 100*m.cpuPerSec(),
			float64(m.fetches)/secs, perFetch(m.reqBytes), perFetch(m.respBytes), float64(m.records)/secs)
	}
	fmt.Fprintln(out, r.ratioLine())
	for _, err := range r.errs {
		fmt.Fprintf(out, "FAILED %v\n", err)
		writeBrokerOutput(out, err)
	}
}

// ratioLine is broker CPU with sessions over without: in total, and for
// the consumer's share (minus the producer-only baseline), per second and
// per fetch.
func (r *fetchSessionsReport) ratioLine() string {
	const prefix = "fetch sessions: broker CPU with/without: "
	base, okB := r.median(fsModeBaseline)
	with, okW := r.median(fsModeSessions)
	without, okN := r.median(fsModeNone)
	if !okW || !okN || without.cpuPerSec() == 0 {
		return prefix + "n/a"
	}
	s := fmt.Sprintf("%stotal %.2fx (%.1f%% vs %.1f%% of a core)", prefix,
		with.cpuPerSec()/without.cpuPerSec(), 100*with.cpuPerSec(), 100*without.cpuPerSec())
	if okB {
		cw, cn := with.cpuPerSec()-base.cpuPerSec(), without.cpuPerSec()-base.cpuPerSec()
		if cw > 0 && cn > 0 {
			s += fmt.Sprintf("; consumer's share %.2fx", cw/cn)
			if with.fetches > 0 && without.fetches > 0 {
				pw := cw * with.window.Seconds() / float64(with.fetches)
				pn := cn * without.window.Seconds() / float64(without.fetches)
				s += fmt.Sprintf(", per fetch %.2fx (%.0f vs %.0f us)", pw/pn, 1e6*pw, 1e6*pn)
			}
		} else {
			s += "; consumer's share n/a (not above the baseline)"
		}
	}
	return s
}

func (r *fetchSessionsReport) summary() []string {
	if r.skipped {
		return []string{"fetchsessions: " + skippedWithoutSluice}
	}
	return []string{"fetchsessions " + r.ratioLine()}
}

// fetchCounter counts a client's fetch requests and their bytes (kgo
// broker hooks; key 1 is Fetch).
type fetchCounter struct {
	on                        atomic.Bool
	fetches, reqBytes, respBy atomic.Int64
}

func (c *fetchCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil && c.on.Load() {
		c.fetches.Add(1)
		c.reqBytes.Add(int64(n))
	}
}

func (c *fetchCounter) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil && c.on.Load() {
		c.respBy.Add(int64(n))
	}
}

func runFetchSessionsBench(ctx context.Context, env *benchEnv) *fetchSessionsReport {
	rep := &fetchSessionsReport{window: fetchSessionsWindow, runs: map[string][]fsRun{}}
	if env.quick {
		rep.window /= 4
	}
	// Page-cache durability: the producer is background load here, and
	// an fsync per record would only add noise to the broker's CPU.
	b, skipped, err := startSingleSluice(ctx, env, "fetchsessions", []string{"--durability", "page-cache"},
		fetchSessionsTopic, fetchSessionsPartitions)
	if skipped || err != nil {
		rep.skipped = skipped
		if err != nil {
			rep.errs = append(rep.errs, err)
		}
		return rep
	}
	defer b.close()
	ctx = b.ctx
	fail := func(phase string, err error) *fetchSessionsReport {
		rep.errs = append(rep.errs, &phaseError{Scenario: "fetchsessions", Broker: "sluice", Phase: phase, Err: err})
		return rep
	}

	stopProduce, prodErr := fetchSessionsProducer(ctx, b.addr)
	defer stopProduce()

	for round := 1; round <= env.repeat && ctx.Err() == nil; round++ {
		for j := range fetchSessionsModes {
			mode := fetchSessionsModes[(j+round-1)%len(fetchSessionsModes)]
			env.log.Info("workload starting", "workload", "fetchsessions", "mode", mode,
				"repetition", fmt.Sprintf("%d/%d", round, env.repeat))
			run, err := fetchSessionsWindowRun(ctx, b.brokerProcess, mode, rep.window)
			if err == nil {
				err = prodErr()
			}
			if err != nil {
				return fail(mode, causeOr(ctx, err))
			}
			rep.runs[mode] = append(rep.runs[mode], run)
		}
	}
	return rep
}

// fetchSessionsProducer writes a 100 B record every fetchSessionsEvery to
// partitions spread over the topic until stopped; err reports its first
// failure.
func fetchSessionsProducer(ctx context.Context, addr string) (stop func(), err func() error) {
	var failed atomic.Pointer[error]
	cl, cerr := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(fetchSessionsTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if cerr != nil {
		return func() {}, func() error { return cerr }
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(fetchSessionsEvery)
		defer t.Stop()
		value := make([]byte, 100)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// 7919 is prime: consecutive records land far apart and every
			// partition is visited once per 1,000 records.
			r := &kgo.Record{Partition: int32(i * 7919 % fetchSessionsPartitions), Value: value}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil && ctx.Err() == nil {
					failed.CompareAndSwap(nil, &err)
				}
			})
		}
	}()
	return func() { cancel(); <-done; cl.Close() }, func() error {
		if p := failed.Load(); p != nil {
			return fmt.Errorf("producer: %w", *p)
		}
		return nil
	}
}

// fetchSessionsWindowRun measures the broker's CPU over one window in one
// mode; consumer modes start a fresh consumer (from the end of every
// partition) and let it warm up first.
func fetchSessionsWindowRun(ctx context.Context, b *brokerProcess, mode string, window time.Duration) (fsRun, error) {
	run := fsRun{window: window}
	var counter fetchCounter
	var records atomic.Int64
	consumerFailed := func() error { return nil }
	if mode != fsModeBaseline {
		opts := []kgo.Opt{kgo.SeedBrokers(b.addr), kgo.ConsumeTopics(fetchSessionsTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.WithHooks(&counter)}
		if mode == fsModeNone {
			opts = append(opts, kgo.DisableFetchSessions())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return run, err
		}
		defer cl.Close()
		pollCtx, stopPoll := context.WithCancel(ctx)
		var pollErr error // set before pollDone closes
		pollDone := make(chan struct{})
		go func() {
			defer close(pollDone)
			for {
				fs := cl.PollFetches(pollCtx)
				if pollCtx.Err() != nil {
					return
				}
				if pollErr = fetchError(pollCtx, fs); pollErr != nil {
					return
				}
				if counter.on.Load() {
					records.Add(int64(fs.NumRecords()))
				}
			}
		}()
		defer func() { stopPoll(); <-pollDone }()
		consumerFailed = func() error {
			select {
			case <-pollDone:
				if pollErr != nil {
					return fmt.Errorf("consumer: %w", pollErr)
				}
			default:
			}
			return nil
		}
		select {
		case <-time.After(fetchSessionsWarmup):
		case <-ctx.Done():
			return run, context.Cause(ctx)
		}
		if err := consumerFailed(); err != nil {
			return run, err
		}
	}
	before, err := cpuTicks(b.pid())
	if err != nil {
		return run, err
	}
	counter.on.Store(true)
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return run, context.Cause(ctx)
	}
	counter.on.Store(false)
	after, err := cpuTicks(b.pid())
	if err != nil {
		return run, err
	}
	if err := consumerFailed(); err != nil {
		return run, err
	}
	run.cpu = ticksToDuration(after - before)
	run.fetches, run.reqBytes, run.respBytes = counter.fetches.Load(), counter.reqBytes.Load(), counter.respBy.Load()
	run.records = records.Load()
	if mode != fsModeBaseline && run.records == 0 {
		return run, errors.New("the consumer received no records in its window")
	}
	return run, nil
}
