package cluster_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// TestTransformEmitsExactlyOnce: the json-dlq transform on orders routes
// invalid records to orders.dlq, whose partitions are led by all three
// brokers. An idempotent acks=all producer writes a mix of valid and
// invalid records to orders-0 while that partition's leader is killed
// and restarted. Every acknowledged valid record is in orders exactly
// once, every acknowledged invalid record is in orders.dlq exactly once
// (on its key's partition), and no record, acknowledged or not, is stored
// twice.
func TestTransformEmitsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	code := buildExample(t, "json-dlq")
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic, dlq = "orders", "orders.dlq"
	minISR := map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}
	createTopic(ctx, t, adm, topic, 3, 3, minISR)
	createTopic(ctx, t, adm, dlq, 3, 3, minISR)
	resp := adminDo(t, http.MethodPost, c.nodes[0], "/admin/plugins?"+url.Values{
		"name": {"dlq"}, "hook": {"transform"}, "topic": {topic},
	}.Encode(), code)
	if resp.code != http.StatusCreated {
		t.Fatalf("deploy: %d %s", resp.code, resp.body)
	}
	for _, nd := range c.nodes {
		waitFor(ctx, t, fmt.Sprintf("broker %d to list the deployment", nd.id), func() bool {
			return slices.Equal(listedPlugins(t, nd), []string{"dlq/v1/transform/" + topic})
		})
	}
	before := partitionInfo(ctx, t, adm, topic, 0)
	md, err := adm.Metadata(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	remote := 0
	for _, p := range md.Topics[dlq].Partitions {
		if p.Leader != before.Leader {
			remote++
		}
	}
	if remote == 0 {
		t.Fatalf("every partition of %s is led by broker %d, the source's leader", dlq, before.Leader)
	}

	ep := startEmitProducer(t, c, topic)
	waitFor(ctx, t, "first acknowledgements", func() bool { return ep.ackedCount() >= 200 })
	old := c.node(before.Leader)
	old.kill()
	afterKill := ep.ackedCount()
	time.Sleep(3 * time.Second)
	old.start()
	waitFor(ctx, t, "acknowledgements after the kill", func() bool { return ep.ackedCount() >= afterKill+300 })
	now := partitionInfo(ctx, t, adm, topic, 0)
	if now.Leader == before.Leader && now.LeaderEpoch <= before.LeaderEpoch {
		t.Fatalf("leader %d epoch %d after the kill, was %d epoch %d", now.Leader, now.LeaderEpoch, before.Leader, before.LeaderEpoch)
	}
	acked, sent, fails := ep.finish()

	// A final valid record marks the end of orders-0 (the transform
	// leaves offsets without records, so the end offset is no count).
	end := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := int32(0); p < 3; p++ {
		if err := end.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(`{"end":true}`)}).FirstErr(); err != nil {
			t.Fatalf("end marker: %v", err)
		}
	}
	var src []string
	marks := 0
	consume(ctx, t, c, topic, func(r *kgo.Record) bool {
		if string(r.Value) == `{"end":true}` {
			marks++
			return marks == 3
		}
		src = append(src, string(r.Value))
		return false
	})
	ends, err := adm.ListEndOffsets(ctx, dlq)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	var emitted []string
	consume(ctx, t, c, dlq, func(r *kgo.Record) bool {
		emitted = append(emitted, string(r.Value))
		if r.Key != nil {
			if want := records.KeyPartition(r.Key, 3); want != r.Partition {
				t.Errorf("emit %q on partition %d, want %d (key hash)", r.Value, r.Partition, want)
			}
		}
		var from string
		for _, h := range r.Headers {
			if h.Key == "dlq-source-partition" {
				from = string(h.Value)
			}
		}
		n, _ := strconv.Atoi(strings.TrimPrefix(string(r.Value), "not-json-"))
		if from != strconv.Itoa(n%3) {
			t.Errorf("emit %q: dlq-source-partition %q", r.Value, from)
		}
		return int64(len(emitted)) >= total
	})

	seenSrc, seenDLQ := tally(src), tally(emitted)
	var lost, dup, misplaced int
	for _, n := range acked {
		valid, v := emitValue(n)
		in, other := seenSrc, seenDLQ
		if !valid {
			in, other = seenDLQ, seenSrc
		}
		if in[v] == 0 {
			lost++
			t.Errorf("acknowledged record %s is missing", v)
		}
		if other[v] != 0 {
			misplaced++
			t.Errorf("record %s in the wrong topic", v)
		}
	}
	for v, k := range seenSrc {
		if k > 1 || !strings.HasPrefix(v, "{") {
			dup += k - 1
			t.Errorf("%s: %q stored %d times", topic, v, k)
		}
	}
	for v, k := range seenDLQ {
		if k > 1 {
			dup += k - 1
			t.Errorf("%s: %q stored %d times", dlq, v, k)
		}
	}
	// Produces whose emits waited past their timeout for a new leader
	// were answered with an error after their source was stored: their
	// retries went through the dedupe of source and emits.
	late := 0
	for _, nd := range c.nodes {
		late += strings.Count(nd.logs.String(), "emit not acknowledged in time")
	}
	t.Logf("sent %d, acknowledged %d (failed %d); %s holds %d, %s %d; lost %d, duplicated %d, misplaced %d; leader %d -> %d; %d emits late",
		sent, len(acked), fails, topic, len(src), dlq, len(emitted), lost, dup, misplaced, before.Leader, now.Leader, late)
}

// emitValue is record n's value: valid JSON for odd n, not JSON for even.
func emitValue(n int) (valid bool, v string) {
	if n%2 == 1 {
		return true, fmt.Sprintf(`{"n":%d}`, n)
	}
	return false, fmt.Sprintf("not-json-%d", n)
}

func tally(vs []string) map[string]int {
	m := map[string]int{}
	for _, v := range vs {
		m[v]++
	}
	return m
}

// emitProducer writes emitValue(n) records to partition 0 of a topic
// with an idempotent acks=all producer, keyed "key-n" except every fifth
// (unkeyed emits are placed from the source batch's identity).
type emitProducer struct {
	t     *testing.T
	cl    *kgo.Client
	mu    sync.Mutex
	next  int
	acked []int
	fails int
	stop  chan struct{}
	done  chan struct{}
}

func startEmitProducer(t *testing.T, c *testCluster, topic string) *emitProducer {
	t.Helper()
	cl := mustClient(t, kgo.SeedBrokers(c.seeds()...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Shorter than a failover: requests whose emits wait for a
		// new leader time out and are retried after their source
		// records were stored.
		kgo.ProduceRequestTimeout(time.Second),
		kgo.RecordDeliveryTimeout(90*time.Second),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.MaxBufferedRecords(200),
	)
	ep := &emitProducer{t: t, cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ep.done)
		for {
			select {
			case <-ep.stop:
				return
			default:
			}
			ep.mu.Lock()
			n := ep.next
			ep.next++
			ep.mu.Unlock()
			_, v := emitValue(n)
			r := &kgo.Record{Partition: int32(n % 3), Value: []byte(v)}
			if n%5 != 0 {
				r.Key = []byte("key-" + strconv.Itoa(n))
			}
			cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				ep.mu.Lock()
				defer ep.mu.Unlock()
				if err != nil {
					if ep.fails++; ep.fails <= 3 {
						ep.t.Logf("record %d failed: %v", n, err)
					}
					return
				}
				ep.acked = append(ep.acked, n)
			})
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { ep.finish() })
	return ep
}

func (ep *emitProducer) ackedCount() int {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return len(ep.acked)
}

// finish stops producing, waits for outstanding records and returns the
// acknowledged ones, how many were sent and how many failed.
func (ep *emitProducer) finish() (acked []int, sent, fails int) {
	select {
	case <-ep.stop:
	default:
		close(ep.stop)
	}
	<-ep.done
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ep.cl.Flush(ctx)
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return slices.Clone(ep.acked), ep.next, ep.fails
}

// consume reads every partition of topic from the start, calling fn per
// record until it returns true.
func consume(ctx context.Context, t *testing.T, c *testCluster, topic string, fn func(*kgo.Record) bool) {
	t.Helper()
	cl := mustClient(t, kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consuming %s: %v", topic, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if !done && fn(r) {
				done = true
			}
		})
		if done {
			return
		}
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// buildExample builds examples/plugins/<name> as a WASI reactor.
func buildExample(t *testing.T, name string) []byte {
	t.Helper()
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", name), out); err != nil {
		t.Fatalf("building %s: %v", name, err)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}
