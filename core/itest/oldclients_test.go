package itest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Kafka 0.9 and 0.10 clients: sarama pinned to those versions speaks
// Produce v1/v2 with MessageSets of magic 0/1, Fetch v1/v2, Metadata v0 and
// the v0 group APIs, and never sends ApiVersions. The broker up-converts what
// they produce to v2 batches and down-converts what they fetch.

// oldClient is one old Kafka version sarama impersonates.
type oldClient struct {
	name    string
	version sarama.KafkaVersion
	// codecs the version can produce with (lz4 arrived in 0.10 for sarama).
	codecs []sarama.CompressionCodec
	// timestamps: 0.10 messages (magic 1) carry them, 0.9 ones do not.
	timestamps bool
}

var oldClients = []oldClient{
	{"0.9", sarama.V0_9_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy}, false},
	{"0.10", sarama.V0_10_0_0, []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4}, true},
}

// oldSaramaConfig is a sarama config for version with short retries and
// timeouts, producing with acks=all and reporting successes and errors.
func oldSaramaConfig(version sarama.KafkaVersion) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "sluice-itest-old-sarama"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return cfg
}

// oldTimestamp is the CreateTime of message i in these tests.
func oldTimestamp(i int) time.Time {
	return time.UnixMilli(1_700_000_000_000 + int64(i)*7)
}

// noTimestamp is what a 0.9 message (magic 0, no timestamp field) reads
// back as from a newer format, as in Kafka.
const noTimestamp = -1

// TestOldClientsProduceConsume: for each old version and codec, a sarama
// producer's keyed messages are acked at consecutive offsets, a sarama
// partition consumer of the same version reads them back exactly, and so
// does franz-go, with (0.10) the producer's timestamps.
func TestOldClientsProduceConsume(t *testing.T) {
	t.Parallel()
	for _, oc := range oldClients {
		t.Run(oc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 90*time.Second)
			b := startBroker(t, brokerOptions{})
			adm := newAdmin(t, b)
			for _, codec := range oc.codecs {
				topic := fmt.Sprintf("old-%s-%s", oc.name, codec)
				createTopic(ctx, t, adm, topic, 2, nil)
				sent := produceOldSarama(t, b, oc, codec, topic, 120)
				checkOldSaramaConsume(ctx, t, b, oc, topic, sent)

				// Old producer, new consumer.
				got := consumeAll(ctx, t, b, topic)
				for p, msgs := range sent {
					if len(got[p]) != len(msgs) {
						t.Fatalf("%s[%d]: franz-go read %d records, want %d", topic, p, len(got[p]), len(msgs))
					}
					for i, r := range got[p] {
						w := msgs[i]
						wantTS := int64(noTimestamp)
						if oc.timestamps {
							wantTS = w.Timestamp.UnixMilli()
						}
						if r.Offset != w.Offset || string(r.Key) != saramaString(t, w.Key) || string(r.Value) != saramaString(t, w.Value) || r.Timestamp.UnixMilli() != wantTS {
							t.Fatalf("%s[%d] record %d: offset %d %s=%s ts %d; want offset %d %s=%s ts %d", topic, p, i,
								r.Offset, r.Key, r.Value, r.Timestamp.UnixMilli(), w.Offset, saramaString(t, w.Key), saramaString(t, w.Value), wantTS)
						}
					}
				}
			}
		})
	}
}

// produceOldSarama sends n keyed messages with a sync producer of the old
// version and returns them per partition in offset order, checking each
// partition's acks are 0, 1, 2, ...
func produceOldSarama(t *testing.T, b *broker, oc oldClient, codec sarama.CompressionCodec, topic string, n int) map[int32][]*sarama.ProducerMessage {
	t.Helper()
	cfg := oldSaramaConfig(oc.version)
	cfg.Producer.Compression = codec
	producer, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("%s: NewSyncProducer: %v", oc.name, err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic:     topic,
			Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", i%11)),
			Value:     sarama.StringEncoder(fmt.Sprintf("value-%03d %s compressible compressible compressible", i, codec)),
			Timestamp: oldTimestamp(i),
		}
	}
	// Several messages per call, so sarama puts several in one wrapper.
	const chunk = 40
	for from := 0; from < n; from += chunk {
		if err := producer.SendMessages(msgs[from:min(from+chunk, n)]); err != nil {
			t.Fatalf("%s %s: SendMessages: %v", oc.name, topic, err)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("%s: close producer: %v", oc.name, err)
	}
	byPartition := make(map[int32][]*sarama.ProducerMessage)
	for _, m := range msgs {
		byPartition[m.Partition] = append(byPartition[m.Partition], m)
	}
	for p, pm := range byPartition {
		// SendMessages may deliver out of order within a call, so sort by
		// acked offset and check the offsets are exactly 0..len-1.
		sortByOffset(pm)
		for i, m := range pm {
			if m.Offset != int64(i) {
				t.Fatalf("%s %s[%d]: acks at offsets %v, want 0..%d\n%s", oc.name, topic, p, offsetsOf(pm), len(pm)-1,
					unackedRecords(t, b, topic, p, pm))
			}
		}
	}
	if len(byPartition) != 2 {
		t.Fatalf("%s %s: messages landed in %d partitions, want 2", oc.name, topic, len(byPartition))
	}
	return byPartition
}

// unackedRecords says, for a failed offset check, which stored records of
// the partition no ack points at (a retried send's first copy, say) and
// what sarama logged meanwhile.
func unackedRecords(t *testing.T, b *broker, topic string, p int32, acked []*sarama.ProducerMessage) string {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	ackedAt := make(map[int64]bool, len(acked))
	for _, m := range acked {
		ackedAt[m.Offset] = true
	}
	var sb strings.Builder
	for _, r := range consumeAll(ctx, t, b, topic)[p] {
		if !ackedAt[r.Offset] {
			fmt.Fprintf(&sb, "stored but not acked: offset %d %s=%s\n", r.Offset, r.Key, r.Value)
		}
	}
	fmt.Fprintf(&sb, "sarama's log for %s:\n%s\nsarama's newest producer lines (all tests):\n%s",
		topic, saramaLog.tail(topic, 50), saramaLog.tail("producer/", 30))
	return sb.String()
}

func sortByOffset(msgs []*sarama.ProducerMessage) {
	for i := 1; i < len(msgs); i++ {
		for j := i; j > 0 && msgs[j].Offset < msgs[j-1].Offset; j-- {
			msgs[j], msgs[j-1] = msgs[j-1], msgs[j]
		}
	}
}

func offsetsOf(msgs []*sarama.ProducerMessage) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Offset
	}
	return out
}

func saramaString(t testing.TB, e sarama.Encoder) string {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(b)
}

// checkOldSaramaConsume reads every partition of topic with a partition
// consumer of the old version and compares with what was sent.
func checkOldSaramaConsume(ctx context.Context, t *testing.T, b *broker, oc oldClient, topic string, sent map[int32][]*sarama.ProducerMessage) {
	t.Helper()
	consumer, err := sarama.NewConsumer([]string{b.Addr()}, oldSaramaConfig(oc.version))
	if err != nil {
		t.Fatalf("%s: NewConsumer: %v", oc.name, err)
	}
	defer consumer.Close()
	for p, msgs := range sent {
		got := consumeSaramaPartition(ctx, t, consumer, topic, p, len(msgs))
		for i, m := range got {
			w := msgs[i]
			key, value := saramaString(t, w.Key), saramaString(t, w.Value)
			if m.Offset != w.Offset || string(m.Key) != key || string(m.Value) != value {
				t.Fatalf("%s %s[%d] message %d: offset %d %s=%s, want offset %d %s=%s", oc.name, topic, p, i, m.Offset, m.Key, m.Value, w.Offset, key, value)
			}
			if oc.timestamps && !m.Timestamp.Equal(w.Timestamp) {
				t.Fatalf("%s %s[%d] message %d: timestamp %v, want %v", oc.name, topic, p, i, m.Timestamp, w.Timestamp)
			}
		}
	}
}

// TestOldClientsReadNewRecords: records franz-go produces as v2 batches
// (with headers, which old formats cannot carry) read back through 0.9 and
// 0.10 sarama consumers with keys, values, offsets and (0.10) timestamps.
func TestOldClientsReadNewRecords(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	codecs := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
	}
	const n = 50
	for name, codec := range codecs {
		topic := "new-to-old-" + name
		createTopic(ctx, t, adm, topic, 1, nil)
		producer := newClient(t, b, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(50*time.Millisecond))
		records := make([]*kgo.Record, n)
		for i := range records {
			records[i] = &kgo.Record{
				Topic:     topic,
				Key:       fmt.Appendf(nil, "key-%d", i),
				Value:     fmt.Appendf(nil, "value-%d from franz-go with %s", i, name),
				Timestamp: oldTimestamp(i),
				Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte("dropped for old clients")}},
			}
		}
		produceSync(ctx, t, producer, records...)

		for _, oc := range oldClients {
			if oc.name == "0.9" && name == "lz4" {
				// Magic 0 lz4 carries Kafka's wrong header checksum
				// (KAFKA-3160), which 0.9 Java clients require and
				// sarama rejects, as it does with a real Kafka broker.
				continue
			}
			consumer, err := sarama.NewConsumer([]string{b.Addr()}, oldSaramaConfig(oc.version))
			if err != nil {
				t.Fatalf("%s: NewConsumer: %v", oc.name, err)
			}
			got := consumeSaramaPartition(ctx, t, consumer, topic, 0, n)
			if err := consumer.Close(); err != nil {
				t.Fatalf("%s: close consumer: %v", oc.name, err)
			}
			for i, m := range got {
				w := records[i]
				if m.Offset != int64(i) || string(m.Key) != string(w.Key) || string(m.Value) != string(w.Value) || len(m.Headers) != 0 {
					t.Fatalf("%s reading %s, message %d: offset %d %s=%s headers %v; want offset %d %s=%s, no headers",
						oc.name, topic, i, m.Offset, m.Key, m.Value, m.Headers, i, w.Key, w.Value)
				}
				if oc.timestamps && !m.Timestamp.Equal(w.Timestamp) {
					t.Fatalf("%s reading %s, message %d: timestamp %v, want %v", oc.name, topic, i, m.Timestamp, w.Timestamp)
				}
			}
		}
	}
}

// TestOldProduceValidation: Produce v1 (0.9) and v2 (0.10) requests carrying
// hand-made MessageSets get offsets for a valid set and CORRUPT_MESSAGE for
// a bad CRC, a truncated message and an unknown magic, appending nothing.
func TestOldProduceValidation(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	adm := newAdmin(t, b)
	for _, tc := range []struct {
		name     string
		versions *kversion.Versions
		magic    int8
	}{
		{"0.9", kversion.V0_9_0(), 0},
		{"0.10", kversion.V0_10_0(), 1},
	} {
		topic := "old-produce-" + tc.name
		createTopic(ctx, t, adm, topic, 1, nil)
		cl := newClient(t, b, kgo.MaxVersions(tc.versions))

		valid := append(legacyMessage(tc.magic, "k0", "v0"), legacyMessage(tc.magic, "k1", "v1")...)
		badCRC := legacyMessage(tc.magic, "k", "v")
		badCRC[len(badCRC)-1] ^= 0xff
		badMagic := legacyMessage(tc.magic, "k", "v")
		badMagic[16] = 7
		binary.BigEndian.PutUint32(badMagic[12:], crc32.ChecksumIEEE(badMagic[16:]))

		for _, step := range []struct {
			name       string
			set        []byte
			wantErr    *kerr.Error
			wantOffset int64
		}{
			{"valid", valid, nil, 0},
			{"bad CRC", append(legacyMessage(tc.magic, "ok", "ok"), badCRC...), kerr.CorruptMessage, -1},
			{"truncated", valid[:len(valid)-3], kerr.CorruptMessage, -1},
			{"bad magic", badMagic, kerr.CorruptMessage, -1},
			{"valid again", valid, nil, 2},
		} {
			resp := oldProduce(ctx, t, cl, topic, step.set)
			wantErrCode(t, tc.name+" "+step.name, resp.ErrorCode, step.wantErr)
			if step.wantErr == nil && resp.BaseOffset != step.wantOffset {
				t.Fatalf("%s %s: base offset %d, want %d", tc.name, step.name, resp.BaseOffset, step.wantOffset)
			}
		}
		if end := endOffsets(ctx, t, adm, topic)[0]; end != 4 {
			t.Fatalf("%s: end offset %d after two valid produces of 2, want 4", tc.name, end)
		}
	}
}

// legacyMessage is one uncompressed MessageSet entry built with kmsg, CRC
// and size computed here.
func legacyMessage(magic int8, key, value string) []byte {
	var out []byte
	if magic == 0 {
		m := kmsg.MessageV0{Key: []byte(key), Value: []byte(value)}
		out = m.AppendTo(nil)
	} else {
		m := kmsg.MessageV1{Magic: 1, Timestamp: oldTimestamp(0).UnixMilli(), Key: []byte(key), Value: []byte(value)}
		out = m.AppendTo(nil)
	}
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[12:], crc32.ChecksumIEEE(out[16:]))
	return out
}

// oldProduce sends set as the records of partition 0 in an acks=all
// Produce at the client's pinned (old) version.
func oldProduce(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, set []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = set
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("produce %s: %v", topic, err)
	}
	if resp.Version > 2 {
		t.Fatalf("produce %s went out as v%d, want an old version", topic, resp.Version)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce %s: response has %d topics, want 1 with 1 partition", topic, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// TestOldClientsConsumerGroup: a sarama consumer group at the oldest
// version sarama supports for groups (0.10.2: JoinGroup v1, SyncGroup,
// Heartbeat and LeaveGroup v0, OffsetCommit v2, OffsetFetch v1, Fetch v3)
// consumes what a 0.10 producer wrote, commits, and after a restart of the
// group receives only what was produced since.
func TestOldClientsConsumerGroup(t *testing.T) {
	t.Parallel()
	const (
		topic = "old-group"
		group = "old-group-g"
	)
	ctx := testContext(t, 120*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, 2, nil)
	producerClient := oldClients[1]

	first := produceOldSarama(t, b, producerClient, sarama.CompressionSnappy, topic, 60)
	got := consumeOldGroup(ctx, t, b, topic, group, 60)
	checkGroupReceived(t, got, first)

	// The committed offsets survive the group's restart: a new session
	// starts where the last one stopped.
	second := produceOldSaramaAfter(t, b, producerClient, topic, 60, 20)
	got = consumeOldGroup(ctx, t, b, topic, group, 20)
	checkGroupReceived(t, got, second)
}

// produceOldSaramaAfter produces n more messages (numbered from start) and
// returns them per partition.
func produceOldSaramaAfter(t *testing.T, b *broker, oc oldClient, topic string, start, n int) map[int32][]*sarama.ProducerMessage {
	t.Helper()
	producer, err := sarama.NewSyncProducer([]string{b.Addr()}, oldSaramaConfig(oc.version))
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{
			Topic:     topic,
			Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", start+i)),
			Value:     sarama.StringEncoder(fmt.Sprintf("value-%03d", start+i)),
			Timestamp: oldTimestamp(start + i),
		}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("SendMessages: %v", err)
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("close producer: %v", err)
	}
	out := make(map[int32][]*sarama.ProducerMessage)
	for _, m := range msgs {
		out[m.Partition] = append(out[m.Partition], m)
	}
	for _, pm := range out {
		sortByOffset(pm)
	}
	return out
}

// consumeOldGroup runs one consumer group session until it has received n
// messages, marking each, then closes the group (committing the marks).
func consumeOldGroup(ctx context.Context, t *testing.T, b *broker, topic, group string, n int) map[int32][]*sarama.ConsumerMessage {
	t.Helper()
	cfg := oldSaramaConfig(sarama.V0_10_2_0)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cg, err := sarama.NewConsumerGroup([]string{b.Addr()}, group, cfg)
	if err != nil {
		t.Fatalf("NewConsumerGroup: %v", err)
	}
	h := &collectingHandler{want: n, done: make(chan struct{})}
	sessionCtx, cancel := context.WithCancel(ctx)
	consumeErr := make(chan error, 1)
	go func() {
		// Consume returns at each rebalance; loop until told to stop.
		for sessionCtx.Err() == nil {
			if err := cg.Consume(sessionCtx, []string{topic}, h); err != nil {
				consumeErr <- err
				return
			}
		}
		consumeErr <- nil
	}()
	select {
	case <-h.done:
	case err := <-cg.Errors():
		t.Fatalf("consumer group error: %v", err)
	case <-ctx.Done():
		t.Fatalf("group received %d of %d messages: %v", h.count(), n, ctx.Err())
	}
	cancel()
	if err := <-consumeErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	if err := cg.Close(); err != nil {
		t.Fatalf("close consumer group: %v", err)
	}
	return h.received()
}

// collectingHandler records messages per partition and marks them consumed.
type collectingHandler struct {
	want int
	done chan struct{}

	mu   sync.Mutex
	got  map[int32][]*sarama.ConsumerMessage
	seen int
}

func (h *collectingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *collectingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *collectingHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.add(m)
			sess.MarkMessage(m, "")
		case <-sess.Context().Done():
			return nil
		}
	}
}

func (h *collectingHandler) add(m *sarama.ConsumerMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.got == nil {
		h.got = make(map[int32][]*sarama.ConsumerMessage)
	}
	h.got[m.Partition] = append(h.got[m.Partition], m)
	h.seen++
	if h.seen == h.want {
		close(h.done)
	}
}

func (h *collectingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen
}

func (h *collectingHandler) received() map[int32][]*sarama.ConsumerMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got
}

// checkGroupReceived compares a group's messages with what was produced,
// per partition and in order.
func checkGroupReceived(t *testing.T, got map[int32][]*sarama.ConsumerMessage, want map[int32][]*sarama.ProducerMessage) {
	t.Helper()
	for p, pw := range want {
		if len(got[p]) != len(pw) {
			t.Fatalf("partition %d: group received %d messages, want %d", p, len(got[p]), len(pw))
		}
		for i, m := range got[p] {
			w := pw[i]
			key, value := saramaString(t, w.Key), saramaString(t, w.Value)
			if m.Offset != w.Offset || string(m.Key) != key || string(m.Value) != value || !m.Timestamp.Equal(w.Timestamp) {
				t.Fatalf("partition %d message %d: offset %d %s=%s ts %v; want offset %d %s=%s ts %v",
					p, i, m.Offset, m.Key, m.Value, m.Timestamp, w.Offset, key, value, w.Timestamp)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Fatalf("group received %d messages from partition %d, where none were produced", len(got[p]), p)
		}
	}
}

// TestOldClientsGroupAPIsV0: the group protocol exactly as a 0.9 client
// speaks it, through sarama's request types at version 0: FindCoordinator
// v0, JoinGroup v0, SyncGroup v0, Heartbeat v0, OffsetCommit v2 with the
// generation, OffsetFetch v1, LeaveGroup v0.
func TestOldClientsGroupAPIsV0(t *testing.T) {
	t.Parallel()
	const (
		topic = "old-group-v0"
		group = "old-group-v0-g"
	)
	ctx := testContext(t, 60*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, 2, nil)

	// Sarama refuses JoinGroup v0 below its V0_10_0_0 setting (it dates the
	// group requests to 0.10); the request versions are the 0.9 ones.
	client, err := sarama.NewClient([]string{b.Addr()}, oldSaramaConfig(sarama.V0_10_0_0))
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer client.Close()
	coordinator, err := client.Coordinator(group)
	if err != nil {
		t.Fatalf("Coordinator: %v", err)
	}

	join := &sarama.JoinGroupRequest{Version: 0, GroupId: group, SessionTimeout: 10_000, ProtocolType: "consumer"}
	if err := join.AddGroupProtocolMetadata("range", &sarama.ConsumerGroupMemberMetadata{Topics: []string{topic}}); err != nil {
		t.Fatalf("AddGroupProtocolMetadata: %v", err)
	}
	joined, err := coordinator.JoinGroup(join)
	wantSaramaOK(t, "JoinGroup v0", err, func() sarama.KError { return joined.Err })
	if joined.MemberId == "" || joined.LeaderId != joined.MemberId || joined.GenerationId < 1 || joined.GroupProtocol != "range" || len(joined.Members) != 1 {
		t.Fatalf("JoinGroup v0: member %q leader %q generation %d protocol %q members %d; want us as leader of generation >= 1 with range",
			joined.MemberId, joined.LeaderId, joined.GenerationId, joined.GroupProtocol, len(joined.Members))
	}
	members, err := joined.GetMembers()
	if err != nil || len(members[joined.MemberId].Topics) != 1 || members[joined.MemberId].Topics[0] != topic {
		t.Fatalf("JoinGroup v0 member metadata: %+v, err %v; want our subscription to %s", members, err, topic)
	}

	sync := &sarama.SyncGroupRequest{Version: 0, GroupId: group, GenerationId: joined.GenerationId, MemberId: joined.MemberId}
	assignment := &sarama.ConsumerGroupMemberAssignment{Topics: map[string][]int32{topic: {0, 1}}}
	if err := sync.AddGroupAssignmentMember(joined.MemberId, assignment); err != nil {
		t.Fatalf("AddGroupAssignmentMember: %v", err)
	}
	synced, err := coordinator.SyncGroup(sync)
	wantSaramaOK(t, "SyncGroup v0", err, func() sarama.KError { return synced.Err })
	gotAssignment, err := synced.GetMemberAssignment()
	if err != nil || len(gotAssignment.Topics[topic]) != 2 || gotAssignment.Topics[topic][0] != 0 || gotAssignment.Topics[topic][1] != 1 {
		t.Fatalf("SyncGroup v0 assignment %+v, err %v; want %s: [0 1]", gotAssignment, err, topic)
	}

	hb, err := coordinator.Heartbeat(&sarama.HeartbeatRequest{Version: 0, GroupId: group, GenerationId: joined.GenerationId, MemberId: joined.MemberId})
	wantSaramaOK(t, "Heartbeat v0", err, func() sarama.KError { return hb.Err })
	stale, err := coordinator.Heartbeat(&sarama.HeartbeatRequest{Version: 0, GroupId: group, GenerationId: joined.GenerationId + 1, MemberId: joined.MemberId})
	if err != nil {
		t.Fatalf("Heartbeat v0 with a wrong generation: %v", err)
	}
	if !errors.Is(stale.Err, sarama.ErrIllegalGeneration) {
		t.Fatalf("Heartbeat v0 with a wrong generation: response error %v, want ILLEGAL_GENERATION", stale.Err)
	}

	commit := &sarama.OffsetCommitRequest{
		Version:                 2,
		ConsumerGroup:           group,
		ConsumerGroupGeneration: joined.GenerationId,
		ConsumerID:              joined.MemberId,
		RetentionTime:           -1,
	}
	commit.AddBlock(topic, 0, 17, 0, "meta-0")
	commit.AddBlock(topic, 1, 4, 0, "")
	committed, err := coordinator.CommitOffset(commit)
	if err != nil {
		t.Fatalf("OffsetCommit v2: %v", err)
	}
	for p := range int32(2) {
		if kerr := committed.Errors[topic][p]; !errors.Is(kerr, sarama.ErrNoError) {
			t.Fatalf("OffsetCommit v2 %s[%d]: %v", topic, p, kerr)
		}
	}

	fetch := &sarama.OffsetFetchRequest{Version: 1, ConsumerGroup: group}
	fetch.AddPartition(topic, 0)
	fetch.AddPartition(topic, 1)
	fetched, err := coordinator.FetchOffset(fetch)
	if err != nil {
		t.Fatalf("OffsetFetch v1: %v", err)
	}
	for p, want := range map[int32]struct {
		offset   int64
		metadata string
	}{0: {17, "meta-0"}, 1: {4, ""}} {
		blk := fetched.GetBlock(topic, p)
		if blk == nil || !errors.Is(blk.Err, sarama.ErrNoError) || blk.Offset != want.offset || blk.Metadata != want.metadata {
			t.Fatalf("OffsetFetch v1 %s[%d]: %+v, want offset %d metadata %q", topic, p, blk, want.offset, want.metadata)
		}
	}

	left, err := coordinator.LeaveGroup(&sarama.LeaveGroupRequest{Version: 0, GroupId: group, MemberId: joined.MemberId})
	wantSaramaOK(t, "LeaveGroup v0", err, func() sarama.KError { return left.Err })
	// The member is gone: its heartbeat is refused.
	gone, err := coordinator.Heartbeat(&sarama.HeartbeatRequest{Version: 0, GroupId: group, GenerationId: joined.GenerationId, MemberId: joined.MemberId})
	if err != nil {
		t.Fatalf("Heartbeat v0 after LeaveGroup: %v", err)
	}
	if errors.Is(gone.Err, sarama.ErrNoError) {
		t.Fatal("Heartbeat v0 after LeaveGroup succeeded; want an error")
	}
}

// wantSaramaOK fails the test on a request error or, when the request went
// through, a Kafka error in the response (read lazily: no response on error).
func wantSaramaOK(t testing.TB, what string, err error, respErr func() sarama.KError) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if kerr := respErr(); !errors.Is(kerr, sarama.ErrNoError) {
		t.Fatalf("%s: response error %v", what, kerr)
	}
}
