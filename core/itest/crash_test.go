package itest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackProgressTimeout bounds how long a restarted broker may take before
// the producer's retries get acknowledged again.
const ackProgressTimeout = 20 * time.Second

// crashTopics are produced to round-robin while the broker is killed.
var crashTopics = []struct {
	name       string
	partitions int32
}{
	{"crash-single", 1},
	{"crash-three", 3},
}

// TestCrashRecovery SIGKILLs a durable (--flush-messages 1) broker three
// times at random moments while an idempotent acks=all producer keeps
// producing, restarting it on the same data dir each time. Afterwards every
// acknowledged record is in the log exactly once at its acknowledged
// offset, per-partition order is the ack order, and no record appears twice
// (the broker deduplicates the producer's retries across restarts).
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	const kills = 3
	ctx := testContext(t, 3*time.Minute)
	b := startBroker(t, brokerOptions{FlushMessages: 1})
	adm := newAdmin(t, b)
	for _, ct := range crashTopics {
		createTopic(ctx, t, adm, ct.name, ct.partitions, nil)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SLUICE_ITEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("SLUICE_ITEST_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random seed %d (rerun the same kill timing with SLUICE_ITEST_SEED)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	start := time.Now() // log lines carry the time since, to line up with kills
	producer := newClient(t, b,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordRetries(math.MaxInt), // never give up on a record ...
		kgo.UnknownTopicRetries(-1),    // ... even while the broker is loading
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RequestTimeoutOverhead(5*time.Second),
		kgo.MaxBufferedRecords(2000),
		// Refresh metadata right after a failed produce, not up to the
		// default 5s later, so the producer resumes soon after a restart.
		kgo.MetadataMinAge(100*time.Millisecond),
		// The producer's view of each crash, shown with the failure.
		kgo.WithLogger(kgo.BasicLogger(testLogWriter{t}, kgo.LogLevelInfo, func() string {
			return time.Since(start).Round(time.Millisecond).String() + " "
		})),
	)
	acks := newAckLog()
	// Stopping is a separate signal: a record whose Produce context is
	// canceled before it is sent fails, and we want every record sent.
	stop := make(chan struct{})
	produced := make(chan int, 1) // how many sequence numbers were handed out (per topic)
	go func() { produced <- produceSequence(ctx, stop, producer, acks) }()
	// stopProducing ends the loop and returns its count; also on a failed
	// test, before the client (and its logging to t) is closed.
	var stopOnce sync.Once
	perTopic := 0
	stopProducing := func() int {
		stopOnce.Do(func() {
			close(stop)
			perTopic = <-produced
		})
		return perTopic
	}
	t.Cleanup(func() { stopProducing() })

	for i := range kills {
		// Kill only a broker that is taking writes, so every crash cuts
		// into live produce traffic: wait for acks from this incarnation.
		waitForAcks(ctx, t, acks, acks.count()+1)
		time.Sleep(time.Duration(200+rng.IntN(500)) * time.Millisecond)
		t.Logf("%v kill %d: %d records acknowledged before it", time.Since(start).Round(time.Millisecond), i+1, acks.count())
		b.Kill()
		b.Restart()
		t.Logf("%v restarted", time.Since(start).Round(time.Millisecond))
	}
	waitForAcks(ctx, t, acks, acks.count()+1)
	time.Sleep(500 * time.Millisecond)
	sent := stopProducing() * len(crashTopics)
	flushCtx, cancelFlush := context.WithTimeout(ctx, time.Minute)
	defer cancelFlush()
	if err := producer.Flush(flushCtx); err != nil {
		t.Fatalf("flush after the last restart: %v (%d of %d records resolved)", err, acks.count()+acks.failures(), sent)
	}
	t.Logf("%d records produced, %d acknowledged, %d failed (first failure: %v)", sent, acks.count(), acks.failures(), acks.firstFailure())
	if acks.count() == 0 {
		t.Fatalf("no record was acknowledged")
	}

	for _, ct := range crashTopics {
		got := consumeAll(ctx, t, b, ct.name)
		checkCrashTopic(t, ct.name, ct.partitions, got, acks)
	}
}

// waitForAcks waits until at least n records are acknowledged.
func waitForAcks(ctx context.Context, t *testing.T, acks *ackLog, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, ackProgressTimeout)
	defer cancel()
	for acks.count() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("producer made no progress for %v: %d records acknowledged, waiting for %d", ackProgressTimeout, acks.count(), n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// produceSequence produces records numbered 0, 1, 2, ... round-robin over
// the partitions of every crash topic until stop is closed (or ctx ends),
// and returns how many numbers it handed out. Records are resolved into acks.
func produceSequence(ctx context.Context, stop <-chan struct{}, producer *kgo.Client, acks *ackLog) int {
	seq := 0
	for ; ctx.Err() == nil; seq++ {
		select {
		case <-stop:
			return seq
		default:
		}
		for _, ct := range crashTopics {
			r := &kgo.Record{
				Topic:     ct.name,
				Partition: int32(seq) % ct.partitions,
				Value:     []byte(strconv.Itoa(seq)),
			}
			producer.Produce(ctx, r, acks.resolve)
		}
		// Paced, so the logs stay a few thousand records long.
		time.Sleep(500 * time.Microsecond)
	}
	return seq
}

// ackedRecord is a record the broker acknowledged.
type ackedRecord struct {
	seq    int
	offset int64
}

// ackLog collects produce results in the order the client resolved them
// (per partition, kgo resolves in produce order).
type ackLog struct {
	mu       sync.Mutex
	acked    map[string]map[int32][]ackedRecord // topic -> partition -> acks in order
	failed   map[string]map[int]bool            // topic -> seq
	firstErr error
	nFailed  int
	nAcked   int
}

func newAckLog() *ackLog {
	return &ackLog{acked: make(map[string]map[int32][]ackedRecord), failed: make(map[string]map[int]bool)}
}

func (a *ackLog) resolve(r *kgo.Record, err error) {
	seq, convErr := strconv.Atoi(string(r.Value))
	if convErr != nil {
		panic(fmt.Sprintf("record value %q is not a sequence number", r.Value))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		if a.failed[r.Topic] == nil {
			a.failed[r.Topic] = make(map[int]bool)
		}
		a.failed[r.Topic][seq] = true
		a.nFailed++
		if a.firstErr == nil {
			a.firstErr = err
		}
		return
	}
	if a.acked[r.Topic] == nil {
		a.acked[r.Topic] = make(map[int32][]ackedRecord)
	}
	a.acked[r.Topic][r.Partition] = append(a.acked[r.Topic][r.Partition], ackedRecord{seq: seq, offset: r.Offset})
	a.nAcked++
}

func (a *ackLog) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nAcked
}

func (a *ackLog) failures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nFailed
}

func (a *ackLog) firstFailure() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.firstErr
}

// checkCrashTopic compares the log of one topic with the acks.
func checkCrashTopic(t *testing.T, topic string, partitions int32, got map[int32][]*kgo.Record, acks *ackLog) {
	t.Helper()
	acks.mu.Lock()
	defer acks.mu.Unlock()
	type place struct {
		partition int32
		offset    int64
	}
	seen := make(map[int]place) // seq -> where it is stored, over the whole topic
	for p := range partitions {
		atOffset := make(map[int64]int) // offset -> seq
		prev := -1
		for _, r := range got[p] {
			seq, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("%s[%d]@%d: value %q is not a sequence number", topic, p, r.Offset, r.Value)
			}
			if first, dup := seen[seq]; dup {
				t.Fatalf("%s: sequence %d stored twice, at %d@%d and %d@%d", topic, seq, first.partition, first.offset, p, r.Offset)
			}
			seen[seq] = place{p, r.Offset}
			if int32(seq)%partitions != p {
				t.Fatalf("%s: sequence %d stored in partition %d, produced to %d", topic, seq, p, int32(seq)%partitions)
			}
			if seq <= prev {
				t.Fatalf("%s[%d]@%d: sequence %d after %d: out of produce order", topic, p, r.Offset, seq, prev)
			}
			prev = seq
			atOffset[r.Offset] = seq
		}
		// Every acknowledged record is where its ack said, and acks came
		// in log order.
		lastOffset := int64(-1)
		for _, a := range acks.acked[topic][p] {
			stored, ok := atOffset[a.offset]
			if !ok || stored != a.seq {
				t.Fatalf("%s[%d]: sequence %d acknowledged at offset %d, but the log has %v there (present: %v)", topic, p, a.seq, a.offset, stored, ok)
			}
			if a.offset <= lastOffset {
				t.Fatalf("%s[%d]: ack for offset %d came after the ack for %d", topic, p, a.offset, lastOffset)
			}
			lastOffset = a.offset
		}
		// Nothing in the log that the client neither saw acknowledged nor
		// failed (no phantom or resurrected records).
		acked := make(map[int]bool, len(acks.acked[topic][p]))
		for _, a := range acks.acked[topic][p] {
			acked[a.seq] = true
		}
		for _, r := range got[p] {
			seq, _ := strconv.Atoi(string(r.Value))
			if !acked[seq] && !acks.failed[topic][seq] {
				t.Fatalf("%s[%d]@%d: sequence %d is stored but was neither acknowledged nor failed", topic, p, r.Offset, seq)
			}
		}
	}
	t.Logf("%s: %d records stored, all acknowledged ones present exactly once", topic, len(seen))
}
