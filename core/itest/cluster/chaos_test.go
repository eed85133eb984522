package cluster_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestChaos is a randomized fault run against a 3-broker cluster: two
// idempotent acks=all producers write to 6 partitions (RF=3,
// min.insync.replicas=2) while, every ~6 s, one fault hits: kill -9 of a
// partition leader (restarted 2–5 s later), SIGSTOP of a leader for the
// ZooKeeper session timeout + 3–5 s, or kill -9 of the controller. Never
// more than one broker is down or paused at once. The checker then reads
// every partition back: each acknowledged record must be at its
// acknowledged offset exactly once, no partition may be unreadable, and
// every ISR must be full again within 10 s after each healing.
//
// CHAOS_SEED fixes the fault schedule's seed (printed either way);
// CHAOS_MINUTES sets the length (default 90 s; `make chaos` runs 10
// minutes).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("randomized fault run")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED: %v", err)
		}
		seed = v
	}
	length := 90 * time.Second
	if s := os.Getenv("CHAOS_MINUTES"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			t.Fatalf("CHAOS_MINUTES=%q: want a positive number", s)
		}
		length = time.Duration(v * float64(time.Minute))
	}
	t.Logf("chaos: seed %d (CHAOS_SEED=%d reproduces the schedule), length %v", seed, seed, length)
	rng := rand.New(rand.NewSource(seed))

	session, lagMax := chaosDuration(t, "CHAOS_SESSION_TIMEOUT", 4*time.Second), chaosDuration(t, "CHAOS_LAG_MAX", 10*time.Second)
	t.Logf("chaos: zookeeper session timeout %v, replica.lag.time.max %v", session, lagMax)
	c := startCluster(t, 3, "--zookeeper-session-timeout", session.String(), "--replica-lag-time-max", lagMax.String())
	ctx, cancel := context.WithTimeout(context.Background(), length+5*time.Minute)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "chaos"
	const partitions = 6
	createTopic(ctx, t, adm, topic, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})

	ck := &chaosChecker{start: time.Now(), lastAck: time.Now()}
	p1 := startChaosProducer(t, c, topic, "a", ck)
	p2 := startChaosProducer(t, c, topic, "b", ck)
	waitFor(ctx, t, "first acknowledgements", func() bool { return ck.ackedCount() >= 200 })

	var schedule []string
	logf := func(format string, args ...any) {
		line := fmt.Sprintf("%6.1fs ", time.Since(ck.start).Seconds()) + fmt.Sprintf(format, args...)
		schedule = append(schedule, line)
		t.Log(line)
	}
	var healTimes []time.Duration
	var healFailures int
	end := time.Now().Add(length)
	faults := 0
	for time.Now().Before(end) {
		next := time.Now().Add(time.Duration(5000+rng.Intn(2000)) * time.Millisecond)
		faults++
		md := chaosMetadata(ctx, c, topic)
		switch kind := rng.Intn(3); {
		case kind == 0 || md == nil:
			p := int32(rng.Intn(partitions))
			leader := chaosLeader(md, topic, p, c, rng)
			down := time.Duration(2000+rng.Intn(3000)) * time.Millisecond
			logf("fault %d: kill -9 broker %d (leader of %s-%d), restart after %v", faults, leader.id, topic, p, down)
			leader.kill()
			time.Sleep(down)
			// start waits until it serves again.
			leader.start()
		case kind == 1:
			p := int32(rng.Intn(partitions))
			leader := chaosLeader(md, topic, p, c, rng)
			pause := session + time.Duration(3000+rng.Intn(2000))*time.Millisecond
			logf("fault %d: SIGSTOP broker %d (leader of %s-%d) for %v", faults, leader.id, topic, p, pause)
			leader.signal(syscall.SIGSTOP)
			time.Sleep(pause)
			leader.signal(syscall.SIGCONT)
		default:
			ctrl := c.node(md.Controller)
			down := time.Duration(2000+rng.Intn(3000)) * time.Millisecond
			logf("fault %d: kill -9 broker %d (controller), restart after %v", faults, ctrl.id, down)
			ctrl.kill()
			time.Sleep(down)
			ctrl.start()
		}
		// Healed once every broker is registered again; the ISR of every
		// partition must be full within 10 s of that.
		healed := waitAllRegistered(ctx, t, c)
		full := waitISRsFull(ctx, c, topic, partitions, healed.Add(10*time.Second))
		if full.IsZero() {
			healFailures++
			logf("fault %d: ISRs NOT full 10 s after healing: %s", faults, describeISRs(ctx, c, topic))
		} else {
			healTimes = append(healTimes, full.Sub(healed))
			logf("fault %d: healed; every ISR full %v later", faults, full.Sub(healed).Round(10*time.Millisecond))
		}
		time.Sleep(time.Until(next))
	}

	unanswered := p1.finish() + p2.finish()
	acked, failed, gap, gapAt := ck.summary()
	t.Logf("chaos: %d faults; %d acknowledged, %d failed, %d never answered; longest acknowledgement gap %v (from %.1fs)",
		faults, len(acked), failed, unanswered, gap.Round(time.Millisecond), gapAt.Seconds())
	if len(healTimes) > 0 {
		slices.Sort(healTimes)
		t.Logf("chaos: ISR heal time (healing -> every ISR full): median %v, max %v",
			healTimes[len(healTimes)/2].Round(10*time.Millisecond), healTimes[len(healTimes)-1].Round(10*time.Millisecond))
	}

	lost, dup, inconsistent, unreadable := verifyChaos(ctx, t, c, adm, topic, partitions, acked)
	t.Logf("chaos: lost %d, duplicated %d, inconsistent %d, unreadable partitions %d, ISR heal failures %d",
		lost, dup, inconsistent, unreadable, healFailures)
	t.Logf("chaos: fault schedule (seed %d):\n%s", seed, strings.Join(schedule, "\n"))
	if lost+dup+inconsistent+unreadable+healFailures > 0 || unanswered > 0 {
		t.Fatalf("chaos run failed (seed %d): lost %d, duplicated %d, inconsistent %d, unreadable %d, heal failures %d, unanswered %d",
			seed, lost, dup, inconsistent, unreadable, healFailures, unanswered)
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
}

// chaosDuration reads a duration from the environment.
func chaosDuration(t *testing.T, env string, def time.Duration) time.Duration {
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", env, s)
	}
	return d
}

// chaosAck is one acknowledged record.
type chaosAck struct {
	partition int32
	offset    int64
	value     string
}

type chaosChecker struct {
	start time.Time

	mu       sync.Mutex
	acked    []chaosAck
	failed   int
	lastAck  time.Time
	maxGap   time.Duration
	maxGapAt time.Duration // since start, when the longest gap began
}

func (ck *chaosChecker) ack(a chaosAck) {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	now := time.Now()
	if gap := now.Sub(ck.lastAck); gap > ck.maxGap {
		ck.maxGap, ck.maxGapAt = gap, ck.lastAck.Sub(ck.start)
	}
	ck.lastAck = now
	ck.acked = append(ck.acked, a)
}

func (ck *chaosChecker) fail() {
	ck.mu.Lock()
	ck.failed++
	ck.mu.Unlock()
}

func (ck *chaosChecker) ackedCount() int {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	return len(ck.acked)
}

func (ck *chaosChecker) summary() ([]chaosAck, int, time.Duration, time.Duration) {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	return slices.Clone(ck.acked), ck.failed, ck.maxGap, ck.maxGapAt
}

// chaosProducer writes ~200 records/s with an idempotent acks=all client.
type chaosProducer struct {
	cl       *kgo.Client
	stop     chan struct{}
	done     chan struct{}
	inflight sync.WaitGroup
	mu       sync.Mutex
	pending  int
}

func startChaosProducer(t *testing.T, c *testCluster, topic, name string, ck *chaosChecker) *chaosProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.RecordDeliveryTimeout(2*time.Minute),
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.MaxBufferedRecords(2000),
	)
	if err != nil {
		t.Fatal(err)
	}
	p := &chaosProducer{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(cl.Close)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			v := name + "-" + strconv.Itoa(n)
			p.mu.Lock()
			p.pending++
			p.mu.Unlock()
			p.inflight.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer p.inflight.Done()
				p.mu.Lock()
				p.pending--
				p.mu.Unlock()
				if err != nil {
					ck.fail()
					return
				}
				ck.ack(chaosAck{partition: r.Partition, offset: r.Offset, value: v})
			})
		}
	}()
	return p
}

// finish stops producing and returns how many records got no answer
// within a minute.
func (p *chaosProducer) finish() int {
	close(p.stop)
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p.cl.Flush(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending
}

// chaosMetadata asks the running brokers for the cluster's metadata.
func chaosMetadata(ctx context.Context, c *testCluster, topic string) *kadm.Metadata {
	var seeds []string
	for _, nd := range c.nodes {
		if nd.running() {
			seeds = append(seeds, nd.addr)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(rctx, topic)
	if err != nil {
		return nil
	}
	return &md
}

// chaosLeader is the node leading topic-p, or a random node when unknown.
func chaosLeader(md *kadm.Metadata, topic string, p int32, c *testCluster, rng *rand.Rand) *node {
	if md != nil {
		if pd, ok := md.Topics[topic].Partitions[p]; ok && pd.Leader > 0 {
			return c.node(pd.Leader)
		}
	}
	return c.nodes[rng.Intn(len(c.nodes))]
}

// waitAllRegistered waits until Metadata lists every broker and returns
// when it first did.
func waitAllRegistered(ctx context.Context, t *testing.T, c *testCluster) time.Time {
	t.Helper()
	for {
		for _, nd := range c.nodes {
			if !nd.running() {
				t.Fatalf("broker %d exited by itself", nd.id)
			}
		}
		if md := chaosMetadata(ctx, c, "chaos"); md != nil && len(md.Brokers) == len(c.nodes) {
			return time.Now()
		}
		select {
		case <-ctx.Done():
			t.Fatal("brokers never all registered again")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitISRsFull polls until every partition has a full ISR and returns
// when it did, or the zero time at the deadline.
func waitISRsFull(ctx context.Context, c *testCluster, topic string, partitions int, deadline time.Time) time.Time {
	for time.Now().Before(deadline) {
		if md := chaosMetadata(ctx, c, topic); md != nil {
			full := 0
			for _, pd := range md.Topics[topic].Partitions {
				if len(pd.ISR) == len(c.nodes) && pd.Leader > 0 {
					full++
				}
			}
			if full == partitions {
				return time.Now()
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Time{}
}

func describeISRs(ctx context.Context, c *testCluster, topic string) string {
	md := chaosMetadata(ctx, c, topic)
	if md == nil {
		return "no metadata"
	}
	var parts []string
	for p := int32(0); p < int32(len(md.Topics[topic].Partitions)); p++ {
		pd := md.Topics[topic].Partitions[p]
		parts = append(parts, fmt.Sprintf("%d: leader %d epoch %d isr %v", p, pd.Leader, pd.LeaderEpoch, pd.ISR))
	}
	return strings.Join(parts, "; ")
}

// verifyChaos reads every partition from offset 0 to its end and checks
// the acknowledged records: each at its acknowledged offset, exactly once.
func verifyChaos(ctx context.Context, t *testing.T, c *testCluster, adm *kadm.Client, topic string, partitions int, acked []chaosAck) (lost, dup, inconsistent, unreadable int) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	byOffset := map[int32]map[int64]string{}
	count := map[string]int{}
	for p := int32(0); p < int32(partitions); p++ {
		end, _ := ends.Lookup(topic, p)
		got := map[int64]string{}
		byOffset[p] = got
		if end.Offset <= 0 {
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		var last error
		for int64(len(got)) < end.Offset && rctx.Err() == nil {
			fs := cl.PollFetches(rctx)
			fs.EachError(func(_ string, _ int32, err error) { last = err })
			fs.EachRecord(func(r *kgo.Record) {
				got[r.Offset] = string(r.Value)
				count[string(r.Value)]++
			})
		}
		cancel()
		cl.Close()
		if int64(len(got)) < end.Offset {
			unreadable++
			t.Errorf("partition %d: read %d of %d records (last error %v)", p, len(got), end.Offset, last)
		}
	}
	for _, a := range acked {
		v, ok := byOffset[a.partition][a.offset]
		switch {
		case !ok:
			lost++
			if lost <= 10 {
				t.Errorf("acknowledged %q at %s-%d@%d is missing", a.value, topic, a.partition, a.offset)
			}
		case v != a.value:
			inconsistent++
			if inconsistent <= 10 {
				t.Errorf("%s-%d@%d holds %q, acknowledged %q", topic, a.partition, a.offset, v, a.value)
			}
		case count[a.value] > 1:
			dup++
			if dup <= 10 {
				t.Errorf("acknowledged %q stored %d times", a.value, count[a.value])
			}
		}
	}
	return lost, dup, inconsistent, unreadable
}
