package metrics_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// batchOverhead is a v2 record batch's header; kgo's batch metrics count
// only the records after it.
const batchOverhead = 61

// scrape reads /metrics into "name{sorted labels}" -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// series names a series as the text format prints it (labels sorted).
func series(name string, kv ...string) string {
	if len(kv) == 0 {
		return name
	}
	type pair struct{ k, v string }
	var ps []pair
	for i := 0; i < len(kv); i += 2 {
		ps = append(ps, pair{kv[i], kv[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].k < ps[j].k })
	var b strings.Builder
	b.WriteString(name + "{")
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", p.k, p.v)
	}
	b.WriteByte('}')
	return b.String()
}

// produceHooks counts what a kgo producer wrote: batches' bytes and
// records per partition, and produce requests.
type produceHooks struct {
	mu       sync.Mutex
	bytes    map[int32]int
	records  map[int32]int
	requests int
}

func (h *produceHooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, part int32, m kgo.ProduceBatchMetrics) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bytes[part] += m.CompressedBytes + batchOverhead
	h.records[part] += m.NumRecords
}

func (h *produceHooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		h.mu.Lock()
		h.requests++
		h.mu.Unlock()
	}
}

// TestBrokerMetricsAfterWorkload: after a known workload the topic's
// counters equal what was produced and fetched to the byte, the log size
// equals the bytes produced, the lag equals the high watermark minus what
// a group committed, request latency histograms count every request and
// error codes are counted by name.
func TestBrokerMetricsAfterWorkload(t *testing.T) {
	n := testkit.StartNode(t)
	base := n.HTTPBase
	const topic = "metrics-workload"
	n.CreateTopic(t, topic, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	before := scrape(t, base)
	hooks := &produceHooks{bytes: map[int32]int{}, records: map[int32]int{}}
	prod := n.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(hooks), kgo.ProducerLinger(0))
	want := map[int32]int{0: 25, 1: 12}
	for part, count := range want {
		for i := range count {
			r := &kgo.Record{Partition: part, Key: []byte(strconv.Itoa(i)), Value: []byte(strings.Repeat("v", 10+i))}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// kgo runs OnProduceBatchWritten after it has finished the batch's
	// promises, so the last ProduceSync can return before its hook ran:
	// wait for the hooks to have seen all 37 (they can never see more).
	var wantBytes, wantRecords, produceRequests int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		hooks.mu.Lock()
		wantBytes = hooks.bytes[0] + hooks.bytes[1]
		wantRecords = hooks.records[0] + hooks.records[1]
		produceRequests = hooks.requests
		hooks.mu.Unlock()
		if wantRecords >= 37 || time.Now().After(deadline) {
			break
		}
	}
	if wantRecords != 37 {
		t.Fatalf("kgo wrote %d records, want 37", wantRecords)
	}

	tl := []string{"topic", topic}
	// Produce requests: only this client produces in this process.
	pr := series("sluice_kafka_requests_total", "api", "Produce")
	hc := series("sluice_kafka_request_duration_seconds_count", "api", "Produce")
	after := expectMetrics(t, base, map[string]float64{
		series("sluice_topic_bytes_in_total", tl...):    float64(wantBytes), // the batches kgo wrote
		series("sluice_topic_messages_in_total", tl...): 37,
		series("sluice_log_size_bytes", tl...):          float64(wantBytes),
		series("sluice_log_segments", tl...):            2, // one per partition
		pr:                                              before[pr] + float64(produceRequests),
		hc:                                              before[hc] + float64(produceRequests),
	})
	if after[series("sluice_partitions")] < 2 || after[series("sluice_under_replicated_partitions")] != 0 ||
		after[series("sluice_offline_partitions")] != 0 || after[series("sluice_active_controller")] != 1 {
		t.Errorf("partition health: partitions %v, URP %v, offline %v, controller %v", after[series("sluice_partitions")],
			after[series("sluice_under_replicated_partitions")], after[series("sluice_offline_partitions")], after[series("sluice_active_controller")])
	}

	// A consumer's fetch: bytes out are exactly the record bytes sent.
	cl := n.Client(t)
	freq := kmsg.NewPtrFetchRequest()
	freq.Version, freq.ReplicaID, freq.MaxBytes, freq.MaxWaitMillis = 11, -1, 1<<20, 0
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	for _, p := range []int32{0, 1} {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes = p, 1<<20
		ft.Partitions = append(ft.Partitions, fp)
	}
	freq.Topics = append(freq.Topics, ft)
	fresp, err := freq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, rt := range fresp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetch partition %d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
			}
			sent += len(rp.RecordBatches)
		}
	}
	if sent != wantBytes {
		t.Fatalf("fetched %d bytes, want all %d produced", sent, wantBytes)
	}
	after = expectMetrics(t, base, map[string]float64{series("sluice_topic_bytes_out_total", tl...): float64(sent)})

	// Errors by code: a produce to a partition the topic does not have.
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 7
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	errKey := series("sluice_kafka_request_errors_total", "api", "Produce", "error", "UNKNOWN_TOPIC_OR_PARTITION")
	beforeErr := after[errKey]
	presp, err := preq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to partition 7: code %d", code)
	}
	// The reply is counted once written, just before the client reads it.
	expectMetrics(t, base, map[string]float64{errKey: beforeErr + 1})

	// Latency histogram count equals request count, for an API nothing
	// else in this process sends.
	dc := series("sluice_kafka_request_duration_seconds_count", "api", "DescribeConfigs")
	dr := series("sluice_kafka_requests_total", "api", "DescribeConfigs")
	m0 := scrape(t, base)
	adm := kadm.NewClient(cl)
	for range 5 {
		if _, err := adm.DescribeTopicConfigs(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	expectMetrics(t, base, map[string]float64{dc: m0[dc] + 5, dr: m0[dr] + 5})

	// Lag: a group commits 10 of partition 0's 25 and 12 of partition 1's
	// 12 records.
	const grp = "metrics-lag-group"
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 10, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: topic, Partition: 1, At: 12, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, grp, offs); err != nil {
		t.Fatal(err)
	}
	m2 := expectMetrics(t, base, map[string]float64{
		series("sluice_consumer_group_lag", "group", grp, "topic", topic): 15, // 25-10 + 12-12
	})

	// Every sluice_ series the node serves is documented.
	docs := documentedMetrics(t)
	for s := range m2 {
		name, _, _ := strings.Cut(s, "{")
		if strings.HasPrefix(name, "sluice_") && !documented(docs, name) {
			t.Errorf("/metrics serves %s, which docs/metrics.md does not list", name)
		}
	}
}

// TestConnectionMetrics: a client connection is counted accepted and
// open, and closed once it goes.
func TestConnectionMetrics(t *testing.T) {
	n := testkit.StartNode(t)
	l := []string{"listener", "PLAINTEXT"}
	acc, open, closed := series("sluice_kafka_connections_accepted_total", l...), series("sluice_kafka_connections", l...), series("sluice_kafka_connections_closed_total", l...)
	m0 := scrape(t, n.HTTPBase)
	nc, err := net.Dial("tcp", n.Addrs.Kafka)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the connection counted", func() bool {
		m := scrape(t, n.HTTPBase)
		return m[acc]-m0[acc] == 1 && m[open]-m0[open] == 1
	})
	nc.Close()
	waitFor(t, "the close counted", func() bool {
		m := scrape(t, n.HTTPBase)
		return m[closed]-m0[closed] == 1 && m[open] == m0[open]
	})
}

// TestPartitionLabels: with the partition labels on, log size and lag
// are reported per partition.
func TestPartitionLabels(t *testing.T) {
	n := testkit.StartNode(t, testkit.WithConfig(func(c *node.Config) { c.MetricsPartitionLabels = true }))
	const topic, grp = "metrics-parts", "metrics-parts-group"
	n.CreateTopic(t, topic, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := n.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part, count := range []int{4, 0, 9} {
		for range count {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: int32(part), Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1})
	offs.Add(kadm.Offset{Topic: topic, Partition: 2, At: 9, LeaderEpoch: -1})
	if err := kadm.NewClient(prod).CommitAllOffsets(ctx, grp, offs); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, n.HTTPBase)
	for part, want := range map[string]float64{"0": 3, "2": 0} {
		if got, ok := m[series("sluice_consumer_group_lag", "group", grp, "topic", topic, "partition", part)]; !ok || got != want {
			t.Errorf("lag of partition %s: %v (present %v), want %v", part, got, ok, want)
		}
	}
	if _, ok := m[series("sluice_consumer_group_lag", "group", grp, "topic", topic, "partition", "1")]; ok {
		t.Errorf("lag reported for partition 1, where the group committed nothing")
	}
	if m[series("sluice_log_size_bytes", "topic", topic, "partition", "1")] != 0 || m[series("sluice_log_size_bytes", "topic", topic, "partition", "2")] <= 0 {
		t.Errorf("per-partition log sizes wrong: %v", m)
	}
}

// expectMetrics scrapes until every series has its wanted value and
// returns that scrape; after 10 s it fails the test with the values last
// seen. (A response is counted once written, so a client may read it an
// instant before its request is counted.)
func expectMetrics(t *testing.T, base string, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := scrape(t, base)
		ok := true
		for k, v := range want {
			if m[k] != v {
				ok = false
			}
		}
		if ok {
			return m
		}
		if time.Now().After(deadline) {
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
