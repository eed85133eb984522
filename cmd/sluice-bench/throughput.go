package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// quickScale divides record counts under -quick.
const quickScale = 10

// workload is a produce-then-consume throughput run.
type workload struct {
	name       string
	recordSize int
	records    int64
	partitions int32
	// consumePasses reads the topic back this many times (0 means once),
	// each pass verified, and reports their sum: a longer consume phase
	// for a workload whose produce phase is the slow part.
	consumePasses int
}

func (w workload) scaled(quick bool) workload {
	if quick {
		w.records /= quickScale
	}
	return w
}

func (w workload) topic() string { return "sluice-bench-" + w.name }

func (w workload) totalBytes() int64 { return w.records * int64(w.recordSize) }

// phaseUsage is the broker's resource use over one phase.
type phaseUsage struct {
	cpu     time.Duration // utime+stime delta of the broker process
	peakRSS int64         // VmHWM at the end of the phase, bytes
}

// brokerRun is one broker's result for one workload; err is a *phaseError.
type brokerRun struct {
	broker       string
	produce      produceStats
	produceUsage phaseUsage
	consume      consumeStats
	consumeUsage phaseUsage
	err          error
}

func throughputScenario(base workload) scenario {
	return scenario{
		name: base.name,
		description: fmt.Sprintf("%s x %d B records into %d partitions, then read back (-quick: 1/%d)",
			groupDigits(base.records), base.recordSize, base.partitions, quickScale),
		run: func(ctx context.Context, env *benchEnv) section {
			w := base.scaled(env.quick)
			payload := newPayloadSource(w.recordSize)
			report := &throughputReport{workload: w}
			for _, spec := range env.brokers {
				report.brokers = append(report.brokers, brokerRuns{broker: spec.name})
			}
			// Repetitions alternate between brokers so that a slow spell of
			// the machine is shared by both instead of landing on one.
			for rep := 1; rep <= env.repeat && ctx.Err() == nil; rep++ {
				for i, spec := range env.brokers {
					series := &report.brokers[i]
					if ctx.Err() != nil || series.failed() {
						continue
					}
					env.log.Info("workload starting", "workload", w.name, "broker", spec.name,
						"repetition", fmt.Sprintf("%d/%d", rep, env.repeat), "records", w.records)
					run := runThroughput(ctx, env, spec, w, payload)
					if run.err != nil {
						env.log.Error("workload failed", "workload", w.name, "broker", spec.name, "err", run.err)
					}
					series.runs = append(series.runs, run)
				}
			}
			return report
		},
	}
}

// failed reports whether a repetition failed; the series then stops, since
// a broken broker's later numbers would mean nothing.
func (b *brokerRuns) failed() bool {
	return len(b.runs) > 0 && b.runs[len(b.runs)-1].err != nil
}

// runThroughput starts a fresh broker, creates the topic, produces, then
// consumes, measuring the broker process around each phase.
func runThroughput(ctx context.Context, env *benchEnv, spec brokerSpec, w workload, payload *payloadSource) brokerRun {
	run := brokerRun{broker: spec.name}
	fail := func(phase string, err error) brokerRun {
		run.err = &phaseError{Scenario: w.name, Broker: spec.name, Phase: phase, Err: err}
		return run
	}

	b, err := startBroker(ctx, spec, env.log)
	if err != nil {
		return fail("start", err)
	}
	defer b.stop()
	ctx, cancel := b.watch(ctx)
	defer cancel()

	if err := createTopic(ctx, b.addr, w, spec.clientOpts...); err != nil {
		return fail("create-topic", causeOr(ctx, err))
	}

	run.produceUsage, err = measure(b, func() (err error) {
		run.produce, err = produceAll(ctx, b.addr, w.topic(), w, payload, spec.clientOpts...)
		return err
	})
	if err != nil {
		return fail("produce", err)
	}
	env.log.Info("produce done", "broker", spec.name, "elapsed", run.produce.elapsed.Round(time.Millisecond))

	run.consumeUsage, err = measure(b, func() error {
		for range max(1, w.consumePasses) {
			pass, err := consumeAll(ctx, b.addr, w.topic(), run.produce, spec.clientOpts...)
			if err != nil {
				return err
			}
			run.consume.records += pass.records
			run.consume.bytes += pass.bytes
			run.consume.elapsed += pass.elapsed
		}
		return nil
	})
	if err != nil {
		return fail("consume", err)
	}
	env.log.Info("consume done", "broker", spec.name, "elapsed", run.consume.elapsed.Round(time.Millisecond))
	return run
}

// createTopic makes the workload's topic with replication factor 1.
func createTopic(ctx context.Context, addr string, w workload, conn ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, conn...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, w.partitions, 1, nil, w.topic())
	if err != nil {
		return err
	}
	return resp.Err
}

// measure runs phase and returns the broker's CPU time over it and its
// peak RSS afterwards.
func measure(b *brokerProcess, phase func() error) (phaseUsage, error) {
	before, err := cpuTicks(b.pid())
	if err != nil {
		return phaseUsage{}, fmt.Errorf("read broker CPU: %w", err)
	}
	if err := phase(); err != nil {
		return phaseUsage{}, err
	}
	after, err := cpuTicks(b.pid())
	if err != nil {
		return phaseUsage{}, fmt.Errorf("read broker CPU: %w", err)
	}
	rss, err := peakRSSBytes(b.pid())
	if err != nil {
		return phaseUsage{}, fmt.Errorf("read broker RSS: %w", err)
	}
	return phaseUsage{cpu: ticksToDuration(after - before), peakRSS: rss}, nil
}
