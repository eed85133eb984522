package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The rolling-restart line of the replication section: a fresh 3-broker
// cluster, one RF=3 partition (min.insync.replicas=2) under a steady
// idempotent acks=all producer, each broker stopped with SIGTERM
// (controlled shutdown) and started again in turn, waiting for it to be
// back in the ISR before the next. The figure is the distribution of the
// times between consecutive acknowledgements while that goes on: a
// broker that stops without handing over leadership first shows as a gap
// of about a session timeout.

const (
	rollingTopic     = "sluice-bench-rolling"
	rollingChroot    = "/sluice-bench-rolling"
	rollingTargetMax = 500 * time.Millisecond
	rollingSettle    = 2500 * time.Millisecond // producing before the first and after each restart
)

// rollingResult is the measured gap distribution.
type rollingResult struct {
	ran       bool
	acked     int
	errors    int
	max, p99  time.Duration
	restarted int
	err       error
}

func (r rollingResult) line() string {
	switch {
	case !r.ran:
		return ""
	case r.err != nil:
		return fmt.Sprintf("rolling restart: FAILED %v", r.err)
	}
	return fmt.Sprintf("rolling restart (SIGTERM + start of each of %d brokers, idempotent acks=all): acknowledgement gap max %s p99 %s over %s acks, %d producer errors [target max < %s: %s]",
		r.restarted, millis(r.max), millis(r.p99), groupDigits(int64(r.acked)), r.errors, millis(rollingTargetMax), passOrMiss(r.max < rollingTargetMax && r.errors == 0))
}

// runRollingRestart starts its own cluster on zkAddr (so the throughput
// cluster's context, which ends when one of its brokers exits, is not
// involved), measures, and stops it.
func runRollingRestart(ctx context.Context, env *benchEnv, sluicePath, zkAddr string) rollingResult {
	res := rollingResult{ran: true}
	nodes, err := startCluster(ctx, env, sluicePath, zkAddr+rollingChroot)
	defer func() {
		for _, b := range nodes {
			b.stop()
		}
	}()
	if err != nil {
		res.err = err
		return res
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(nodes[0].addr, nodes[1].addr, nodes[2].addr),
		kgo.DefaultProduceTopic(rollingTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.MaxBufferedRecords(200),
		// Restarts here come seconds apart, not minutes: reap idle
		// connections to a broker's previous process as a production
		// pace would (see TestRollingRestart).
		kgo.ConnIdleTimeout(time.Second))
	if err != nil {
		res.err = err
		return res
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cr, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, rollingTopic)
	if err == nil {
		err = cr.Err
	}
	if err != nil {
		res.err = fmt.Errorf("create topic: %w", err)
		return res
	}
	if err := awaitTopicOnEveryBroker(ctx, cl, rollingTopic, 1, 3); err != nil {
		res.err = err
		return res
	}

	var (
		mu    sync.Mutex
		times []time.Time
		fails int
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			cl.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(n))}, func(_ *kgo.Record, err error) {
				now := time.Now()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					fails++
					return
				}
				times = append(times, now)
			})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	finish := func() {
		close(stop)
		<-done
		fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cl.Flush(fctx)
	}
	sleepCtx(ctx, rollingSettle)
	start := time.Now()
	for _, b := range nodes {
		env.log.Info("rolling restart bench: restarting", "broker", b.proc.Name())
		if err := b.proc.Restart(ctx); err != nil {
			finish()
			res.err = fmt.Errorf("restart %s: %w", b.proc.Name(), err)
			return res
		}
		res.restarted++
		if err := awaitFullISR(ctx, adm); err != nil {
			finish()
			res.err = err
			return res
		}
		sleepCtx(ctx, rollingSettle)
	}
	end := time.Now()
	finish()

	mu.Lock()
	defer mu.Unlock()
	res.acked, res.errors = len(times), fails
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].After(start) && times[i-1].Before(end) {
			gaps = append(gaps, times[i].Sub(times[i-1]))
		}
	}
	if len(gaps) == 0 {
		res.err = fmt.Errorf("no acknowledgements during the rolling restart")
		return res
	}
	slices.Sort(gaps)
	res.max = gaps[len(gaps)-1]
	res.p99 = gaps[len(gaps)*99/100]
	return res
}

// awaitFullISR waits until the rolling topic's ISR has every replica.
func awaitFullISR(ctx context.Context, adm *kadm.Client) error {
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		md, err := adm.Metadata(ctx, rollingTopic)
		if err == nil {
			if p, ok := md.Topics[rollingTopic].Partitions[0]; ok && len(p.ISR) == len(p.Replicas) && len(p.Replicas) == clusterBrokers {
				return nil
			}
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return context.Cause(ctx)
		}
	}
	return fmt.Errorf("ISR of %s not whole %s after a restart", rollingTopic, readyTimeout)
}

// sleepCtx sleeps d unless ctx ends first; it reports whether to go on.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
