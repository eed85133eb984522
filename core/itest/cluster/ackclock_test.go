package cluster_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackClock produces numbered records (value = sequence number) to one
// partition with an idempotent acks=all producer, remembering which were
// acknowledged, when each acknowledgement arrived, and every error the
// application saw. The failover, reassignment, rolling-restart and
// restart-epoch tests all measure with it.
type ackClock struct {
	cl    *kgo.Client
	part  int32
	mu    sync.Mutex
	next  int
	acked []int
	times []time.Time
	errs  []error
	stop  chan struct{}
	done  chan struct{}
}

// startSequencer is an ackClock on partition 0 with the client's default
// connection handling.
func startSequencer(t *testing.T, c *testCluster, topic string) *ackClock {
	t.Helper()
	return newAckClock(t, c, topic, 0)
}

// startAckClock is startAckClockOn for partition 0.
func startAckClock(t *testing.T, c *testCluster, topic string) *ackClock {
	t.Helper()
	return startAckClockOn(t, c, topic, 0)
}

// startAckClockOn is an ackClock on partition part for restart tests.
func startAckClockOn(t *testing.T, c *testCluster, topic string, part int32) *ackClock {
	t.Helper()
	// Production rolling restarts leave minutes between brokers, so a
	// client's idle connections to a broker's previous process are reaped
	// (20 s by default) before leadership comes back to it. These tests
	// restart every few seconds: a shorter idle timeout keeps that true
	// here. Otherwise the client writes to a socket the old process
	// closed, and only its reconnect backoff (about 250 ms) shows in the
	// gap.
	return newAckClock(t, c, topic, part, kgo.ConnIdleTimeout(time.Second))
}

func newAckClock(t *testing.T, c *testCluster, topic string, part int32, opts ...kgo.Opt) *ackClock {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProduceRequestTimeout(3 * time.Second),
		kgo.RecordDeliveryTimeout(60 * time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MaxBufferedRecords(200),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	a := &ackClock{cl: cl, part: part, stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	t.Cleanup(func() { a.finish(); cl.Close() })
	return a
}

func (a *ackClock) run() {
	defer close(a.done)
	for {
		select {
		case <-a.stop:
			return
		default:
		}
		a.mu.Lock()
		n := a.next
		a.next++
		a.mu.Unlock()
		a.cl.Produce(context.Background(), &kgo.Record{Partition: a.part, Value: []byte(strconv.Itoa(n))}, func(_ *kgo.Record, err error) {
			now := time.Now()
			a.mu.Lock()
			defer a.mu.Unlock()
			if err != nil {
				a.errs = append(a.errs, err)
				return
			}
			a.acked = append(a.acked, n)
			a.times = append(a.times, now)
		})
		time.Sleep(2 * time.Millisecond)
	}
}

// ackedCount is how many records were acknowledged so far.
func (a *ackClock) ackedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.acked)
}

// finish stops producing, waits for outstanding records and returns the
// acknowledged numbers, sorted.
func (a *ackClock) finish() []int {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a.cl.Flush(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(a.acked)
	slices.Sort(out)
	return out
}

// ackTimes are the acknowledgement times so far, in order (after finish:
// all of them).
func (a *ackClock) ackTimes() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.times)
}

// errors are the errors the application saw for its records.
func (a *ackClock) errors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.errs)
}

// ackGaps are the times between consecutive acknowledgements within
// [from, to], largest first.
func ackGaps(times []time.Time, from, to time.Time) []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(times); i++ {
		if times[i].Before(from) || times[i-1].After(to) {
			continue
		}
		gaps = append(gaps, times[i].Sub(times[i-1]))
	}
	slices.Sort(gaps)
	slices.Reverse(gaps)
	return gaps
}
