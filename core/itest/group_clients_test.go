package itest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/needs"
)

// Every client test consumes the same shape of data: clientRecords
// records spread round-robin over clientPartitions partitions.
const (
	clientPartitions = 3
	clientRecords    = 300
	clientPrefix     = "c"
)

// clientGroupSetup starts a broker with a topic holding the client test
// records.
func clientGroupSetup(t *testing.T, topic string) (context.Context, *groupBroker, *kadm.Client) {
	t.Helper()
	ctx := testContext(t, 90*time.Second)
	b := startGroupBroker(t)
	adm := newAdmin(t, b.broker)
	createTopic(ctx, t, adm, topic, clientPartitions, nil)
	produceNumbered(ctx, t, b.broker, topic, clientPrefix, clientPartitions, 0, clientRecords)
	return ctx, b, adm
}

// checkClientGroup verifies a client's group consumed every record once,
// committed the log end of every partition, and left the group.
func checkClientGroup(ctx context.Context, t *testing.T, adm *kadm.Client, client, group, topic string, got []delivery) {
	t.Helper()
	checkNumbered(t, client, got, clientPrefix, clientPartitions, 0, clientRecords)
	waitCommitted(ctx, t, adm, group, topic, uniform(clientPartitions, clientRecords/clientPartitions))
	waitUntil(ctx, t, "group "+group+" Empty after "+client+" left", func() string {
		g := describeGroup(ctx, t, adm, group)
		if g.State != "Empty" || g.ProtocolType != "consumer" || len(g.Members) != 0 {
			return fmt.Sprintf("state %s, protocol type %q, %d members", g.State, g.ProtocolType, len(g.Members))
		}
		return ""
	})
}

// TestGroupSarama: IBM/sarama's ConsumerGroup at the newest protocol
// version it knows, marking every message and committing synchronously.
func TestGroupSarama(t *testing.T) {
	t.Parallel()
	const (
		topic = "sarama-group"
		group = "sarama-group"
	)
	ctx, b, adm := clientGroupSetup(t, topic)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.MaxVersion
	cfg.ClientID = "sluice-itest-sarama-group"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cg, err := sarama.NewConsumerGroup([]string{b.Addr()}, group, cfg)
	if err != nil {
		t.Fatalf("NewConsumerGroup: %v", err)
	}

	consumed := &deliveries{}
	h := &saramaGroupHandler{into: consumed, want: clientRecords, done: make(chan struct{})}
	consumeCtx, stop := context.WithCancel(ctx)
	consuming := make(chan error, 1)
	go func() {
		// Consume returns at the end of every session (a rebalance); call
		// it again until told to stop.
		for {
			err := cg.Consume(consumeCtx, []string{topic}, h)
			if consumeCtx.Err() != nil || err != nil {
				consuming <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
	case err := <-consuming:
		t.Fatalf("sarama Consume ended early: %v (consumed %d)", err, consumed.count())
	case <-ctx.Done():
		t.Fatalf("sarama consumed %d of %d records: %v", consumed.count(), clientRecords, ctx.Err())
	}
	stop()
	if err := <-consuming; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("sarama Consume: %v", err)
	}
	if err := cg.Close(); err != nil {
		t.Fatalf("close sarama consumer group: %v", err)
	}
	checkClientGroup(ctx, t, adm, "sarama", group, topic, consumed.snapshot())
}

// saramaGroupHandler records and marks every message, and commits
// synchronously whenever it has drained what sarama fetched.
type saramaGroupHandler struct {
	into      *deliveries
	want      int
	committed atomic.Int64  // messages committed, over all claims
	done      chan struct{} // closed once want messages were committed
	doneOnce  sync.Once
}

func (h *saramaGroupHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaGroupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaGroupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	uncommitted := 0
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.into.add(delivery{member: "sarama", partition: msg.Partition, offset: msg.Offset, value: string(msg.Value)})
			sess.MarkMessage(msg, "")
			uncommitted++
			// Commit once per fetched batch: a commit per message would
			// queue behind the long-polling fetch on the connection.
			if len(claim.Messages()) > 0 {
				continue
			}
			sess.Commit() // synchronous
			if h.committed.Add(int64(uncommitted)) >= int64(h.want) {
				h.doneOnce.Do(func() { close(h.done) })
			}
			uncommitted = 0
		}
	}
}

// TestGroupKafkaGo: segmentio/kafka-go's Reader with a GroupID and
// CommitInterval 0, so every ReadMessage commits synchronously.
func TestGroupKafkaGo(t *testing.T) {
	t.Parallel()
	const (
		topic = "kafka-go-group"
		group = "kafka-go-group"
	)
	ctx, b, adm := clientGroupSetup(t, topic)

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{b.Addr()},
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          1 << 20,
		MaxWait:           100 * time.Millisecond,
		CommitInterval:    0,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 200 * time.Millisecond,
		JoinGroupBackoff:  200 * time.Millisecond,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    200 * time.Millisecond,
	})
	consumed := &deliveries{}
	for consumed.count() < clientRecords {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go ReadMessage after %d messages: %v", consumed.count(), err)
		}
		consumed.add(delivery{member: "kafka-go", partition: int32(m.Partition), offset: m.Offset, value: string(m.Value)})
	}
	if err := r.Close(); err != nil {
		t.Fatalf("close kafka-go reader: %v", err)
	}
	checkClientGroup(ctx, t, adm, "kafka-go", group, topic, consumed.snapshot())
}

// TestGroupKcat: librdkafka's balanced consumer (`kcat -G`) reads exactly
// the records (-c, as -e is unsupported with -G) and commits on close.
func TestGroupKcat(t *testing.T) {
	t.Parallel()
	const (
		topic = "kcat-group"
		group = "kcat-group"
	)
	ctx, b, adm := clientGroupSetup(t, topic)

	out, _ := runKcat(ctx, t, "", "-b", b.Addr(), "-G", group,
		"-X", "auto.offset.reset=earliest",
		"-X", "client.id=sluice-itest-kcat-group",
		"-X", "fetch.wait.max.ms=100",
		"-c", strconv.Itoa(clientRecords),
		"-f", `%p %o %s\n`,
		topic)
	var got []delivery
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		d := delivery{member: "kcat"}
		if _, err := fmt.Sscanf(sc.Text(), "%d %d %s", &d.partition, &d.offset, &d.value); err != nil {
			t.Fatalf("kcat printed %q: %v", sc.Text(), err)
		}
		got = append(got, d)
	}
	checkClientGroup(ctx, t, adm, "kcat", group, topic, got)
}

// kafkaPythonGroup is what testdata/group_kafka_python_consume.py prints.
type kafkaPythonGroup struct {
	Consumed []struct {
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Value     string `json:"value"`
	} `json:"consumed"`
	Committed map[string]int64 `json:"committed"`
}

// TestGroupKafkaPython: kafka-python's KafkaConsumer with a group_id,
// committing synchronously after every poll.
func TestGroupKafkaPython(t *testing.T) {
	t.Parallel()
	const (
		topic = "kafka-python-group"
		group = "kafka-python-group"
	)
	ctx, b, adm := clientGroupSetup(t, topic)

	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, needs.Python(t), "testdata/group_kafka_python_consume.py",
		b.Addr(), topic, group, strconv.Itoa(clientRecords))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka-python group consumer: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var res kafkaPythonGroup
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode script output: %v\n%s", err, stdout.String())
	}
	var got []delivery
	for _, c := range res.Consumed {
		got = append(got, delivery{member: "kafka-python", partition: c.Partition, offset: c.Offset, value: c.Value})
	}
	// What the client itself read back through OffsetFetch.
	wantCommitted := map[string]int64{}
	for p := range clientPartitions {
		wantCommitted[strconv.Itoa(p)] = clientRecords / clientPartitions
	}
	if fmt.Sprint(res.Committed) != fmt.Sprint(wantCommitted) {
		t.Errorf("kafka-python saw committed offsets %v, want %v", res.Committed, wantCommitted)
	}
	checkClientGroup(ctx, t, adm, "kafka-python", group, topic, got)
}

// TestGroupAdmin: DescribeGroups, ListGroups, DeleteGroups and OffsetDelete
// through kadm, for a live group, the same group once empty, and a group
// that only holds a tool's commits.
func TestGroupAdmin(t *testing.T) {
	t.Parallel()
	const (
		topic = "admin-orders"
		other = "admin-other"
		group = "admin-group"
		tool  = "admin-tool"
	)
	ctx := testContext(t, 60*time.Second)
	b := startGroupBroker(t)
	adm := newAdmin(t, b.broker)
	createTopic(ctx, t, adm, topic, 3, nil)
	createTopic(ctx, t, adm, other, 1, nil)

	toolOffsets := kadm.Offsets{}
	toolOffsets.Add(kadm.Offset{Topic: other, Partition: 0, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, tool, toolOffsets); err != nil {
		t.Fatalf("tool commit: %v", err)
	}

	consumed := &deliveries{}
	a := startMember(ctx, t, b.broker, group, "admin-a", topic, consumed, kgo.Balancers(kgo.RangeBalancer()))
	bm := startMember(ctx, t, b.broker, group, "admin-b", topic, consumed, kgo.Balancers(kgo.RangeBalancer()))
	assigned, memberIDs := waitAssignment(ctx, t, adm, group, topic, 3, "admin-a", "admin-b")
	// Range orders members by id, and ids start with the client id.
	if fmt.Sprint(assigned) != fmt.Sprint(map[string][]int32{"admin-a": {0, 1}, "admin-b": {2}}) {
		t.Fatalf("range assignment %v, want admin-a [0 1], admin-b [2]", assigned)
	}
	produceNumbered(ctx, t, b.broker, topic, "a", 3, 0, 30)
	consumed.waitCount(ctx, t, 30)
	waitCommitted(ctx, t, adm, group, topic, uniform(3, 10))

	g := describeGroup(ctx, t, adm, group)
	if g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" || len(g.Members) != 2 {
		t.Fatalf("stable group described as %s/%s/%s with %d members, want Stable/consumer/range with 2",
			g.State, g.ProtocolType, g.Protocol, len(g.Members))
	}
	for _, m := range g.Members {
		if m.MemberID != memberIDs[m.ClientID] || m.ClientHost != "/127.0.0.1" || m.InstanceID != nil {
			t.Errorf("member %+v: want id %s, host /127.0.0.1, no instance id", m, memberIDs[m.ClientID])
		}
		join, ok := m.Join.AsConsumer()
		if !ok || !slices.Equal(join.Topics, []string{topic}) {
			t.Errorf("member %s subscribed to %v, want [%s]", m.ClientID, join, topic)
		}
	}

	wantListed(ctx, t, adm, nil, map[string]string{group: "Stable/consumer", tool: "Empty/"})
	wantListed(ctx, t, adm, []string{"Empty"}, map[string]string{tool: "Empty/"})
	wantListed(ctx, t, adm, []string{"Stable"}, map[string]string{group: "Stable/consumer"})

	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Fatalf("DeleteGroup of a live group: %v, want NON_EMPTY_GROUP", err)
	}
	deleteOffset(ctx, t, adm, group, topic, 0, kerr.GroupSubscribedToTopic)
	wantCommitted(ctx, t, adm, group, topic, uniform(3, 10))

	a.Close()
	bm.Close()
	g = describeGroup(ctx, t, adm, group)
	if g.State != "Empty" || g.ProtocolType != "consumer" || g.Protocol != "" || len(g.Members) != 0 {
		t.Fatalf("left group described as %s/%s/%q with %d members, want Empty/consumer/\"\" with 0",
			g.State, g.ProtocolType, g.Protocol, len(g.Members))
	}
	deleteOffset(ctx, t, adm, group, topic, 0, nil)
	wantCommitted(ctx, t, adm, group, topic, map[int32]int64{1: 10, 2: 10})

	if _, err := adm.DeleteGroup(ctx, group); err != nil {
		t.Fatalf("DeleteGroup of an empty group: %v", err)
	}
	wantListed(ctx, t, adm, nil, map[string]string{tool: "Empty/"})
	if g := describeGroup(ctx, t, adm, group); g.State != "Dead" || len(g.Members) != 0 {
		t.Fatalf("deleted group described as %s with %d members, want Dead with 0", g.State, len(g.Members))
	}
	wantCommitted(ctx, t, adm, group, topic, map[int32]int64{})
	if _, err := adm.DeleteGroup(ctx, group); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroup of a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}
	if _, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {0: {}}}); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteOffsets of a deleted group: %v, want GROUP_ID_NOT_FOUND", err)
	}

	if _, err := adm.DeleteGroup(ctx, tool); err != nil {
		t.Fatalf("DeleteGroup %s: %v", tool, err)
	}
	wantListed(ctx, t, adm, nil, map[string]string{})
}

// wantListed fails unless ListGroups with the state filter returns exactly
// want (group -> "State/protocol type").
func wantListed(ctx context.Context, t *testing.T, adm *kadm.Client, states []string, want map[string]string) {
	t.Helper()
	listed, err := adm.ListGroups(ctx, states...)
	if err != nil {
		t.Fatalf("ListGroups %v: %v", states, err)
	}
	got := map[string]string{}
	for name, l := range listed {
		got[name] = l.State + "/" + l.ProtocolType
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ListGroups %v: %v, want %v", states, got, want)
	}
}

// deleteOffset runs OffsetDelete for one partition and fails unless the
// partition's result is want (nil: success).
func deleteOffset(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, partition int32, want *kerr.Error) {
	t.Helper()
	resp, err := adm.DeleteOffsets(ctx, group, kadm.TopicsSet{topic: {partition: {}}})
	if err != nil {
		t.Fatalf("DeleteOffsets %s %s[%d]: %v", group, topic, partition, err)
	}
	got, ok := resp.Lookup(topic, partition)
	if !ok {
		t.Fatalf("DeleteOffsets %s %s[%d]: partition missing from response", group, topic, partition)
	}
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("DeleteOffsets %s %s[%d]: %v, want %v", group, topic, partition, got, want)
	}
}
