package itest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newClient is a kgo client for b, closed when the test ends.
func newClient(t testing.TB, b *broker, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(b.Addr()),
		kgo.ClientID("sluice-itest"),
		// Short backoffs keep restarts and retries quick in tests.
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
	}, append(append([]kgo.Opt(nil), b.opts.ClientOpts...), opts...)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin is a kadm client on its own kgo client for b.
func newAdmin(t testing.TB, b *broker) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, b))
}

// createTopic creates topic with partitions and configs and fails the test
// unless the broker reports success.
func createTopic(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("CreateTopic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
	if resp.NumPartitions != partitions {
		t.Fatalf("CreateTopic %s: NumPartitions = %d, want %d", topic, resp.NumPartitions, partitions)
	}
}

// produceSync produces rs and fails the test on any record error.
func produceSync(ctx context.Context, t testing.TB, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("ProduceSync: %v", err)
	}
}

// endOffsets lists the high watermark of every partition of topic.
func endOffsets(ctx context.Context, t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	return listed(t, "ListEndOffsets", topic, func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topic) })
}

// startOffsets lists the log start offset of every partition of topic.
func startOffsets(ctx context.Context, t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	return listed(t, "ListStartOffsets", topic, func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topic) })
}

func listed(t testing.TB, what, topic string, list func() (kadm.ListedOffsets, error)) map[int32]int64 {
	t.Helper()
	lo, err := list()
	if err != nil {
		t.Fatalf("%s %s: %v", what, topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range lo[topic] {
		if o.Err != nil {
			t.Fatalf("%s %s[%d]: %v", what, topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out
}

// consumeAll reads every partition of topic from its start offset up to the
// end offsets listed before reading (nothing is produced concurrently), with
// a direct (non-group) consumer. Records come back per partition in log order.
func consumeAll(ctx context.Context, t testing.TB, b *broker, topic string) map[int32][]*kgo.Record {
	t.Helper()
	adm := newAdmin(t, b)
	starts := startOffsets(ctx, t, adm, topic)
	ends := endOffsets(ctx, t, adm, topic)
	from := make(map[int32]kgo.Offset)
	for p, start := range starts {
		from[p] = kgo.NewOffset().At(start)
	}
	return consumeRange(ctx, t, b, topic, from, ends)
}

// consumeRange consumes partitions from the given offsets until each
// reaches its end offset (exclusive).
func consumeRange(ctx context.Context, t testing.TB, b *broker, topic string, from map[int32]kgo.Offset, ends map[int32]int64, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	out := make(map[int32][]*kgo.Record)
	pending := 0
	for p, end := range ends {
		out[p] = nil
		if next := nextOffset(from[p]); next < end {
			pending++
		}
	}
	if pending == 0 {
		return out
	}
	opts = append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}, opts...)
	cl := newClient(t, b, opts...)
	defer cl.Close()
	for pending > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v; got so far: %s", topic, err, describeCounts(out, ends))
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("consume %s[%d]: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			end := ends[r.Partition]
			if r.Offset >= end {
				t.Fatalf("consume %s[%d]: record at offset %d, beyond end offset %d", topic, r.Partition, r.Offset, end)
			}
			out[r.Partition] = append(out[r.Partition], r)
			if r.Offset == end-1 {
				pending--
			}
		})
	}
	return out
}

// nextOffset extracts the exact offset of an kgo.Offset built with At; other
// offsets (start, end) count as 0 for the "anything to read?" check.
func nextOffset(o kgo.Offset) int64 {
	if o.EpochOffset().Offset >= 0 {
		return o.EpochOffset().Offset
	}
	return 0
}

func describeCounts(got map[int32][]*kgo.Record, ends map[int32]int64) string {
	ps := make([]int32, 0, len(ends))
	for p := range ends {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	s := ""
	for _, p := range ps {
		s += fmt.Sprintf("p%d: %d records (end %d); ", p, len(got[p]), ends[p])
	}
	return s
}

// topicID looks up a topic's ID (needed by Fetch v13+, which names topics
// by ID only).
func topicID(ctx context.Context, t testing.TB, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("metadata %s: %d topics in response, want 1", topic, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	return resp.Topics[0].TopicID
}

// rawFetch issues one Fetch for topic/partition at offset and returns the
// partition's response.
func rawFetch(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partition int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MinBytes = 1
	req.MaxBytes = 10 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID(ctx, t, cl, topic)
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.LogStartOffset = -1
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch %s[%d]@%d: %v", topic, partition, offset, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("fetch %s[%d]@%d: top-level error %v", topic, partition, offset, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s[%d]@%d: response has %d topics, want 1 with 1 partition", topic, partition, offset, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// rawProduce sends one acks=all Produce of batch to topic/partition and
// returns the partition's response.
func rawProduce(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = topicID(ctx, t, cl, topic) // Produce v13+ names topics by ID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce %s[%d]: %v", topic, partition, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce %s[%d]: response has %d topics, want 1 with 1 partition", topic, partition, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// wantErrCode fails the test unless code is want's code (0 for a nil want).
func wantErrCode(t testing.TB, what string, code int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if code != wantCode {
		t.Fatalf("%s: error code %d (%v), want %d (%v)", what, code, kerr.ErrorForCode(code), wantCode, want)
	}
}

// wantKerr fails the test unless err is the Kafka error want.
func wantKerr(t testing.TB, what string, err error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}
