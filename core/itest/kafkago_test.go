package itest

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestKafkaGo: segmentio/kafka-go's Writer (acks=all, hash balancer) writes
// messages that per-partition Readers read back exactly, each in the
// partition the balancer chose, in write order; its Conn and Client see the
// topic's metadata.
func TestKafkaGo(t *testing.T) {
	t.Parallel()
	const (
		topic       = "kafka-go"
		partitions  = 3
		numMessages = 500
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, partitions, nil)
	host, portStr, _ := net.SplitHostPort(b.Addr())
	port, _ := strconv.Atoi(portStr)

	checkKafkaGoMetadata(ctx, t, b.Addr(), topic, host, port, partitions)

	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Addr()),
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 10 * time.Millisecond, // WriteMessages waits for full or timed-out batches
		BatchSize:    100,
	}
	msgs := make([]kafka.Message, numMessages)
	for i := range msgs {
		msgs[i] = kafka.Message{
			Key:   fmt.Appendf(nil, "key-%d", i%41),
			Value: fmt.Appendf(nil, "value-%03d", i),
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	// The balancer is deterministic: recompute where each message went.
	want := make(map[int][]kafka.Message)
	for _, m := range msgs {
		p := (&kafka.Hash{}).Balance(m, 0, 1, 2)
		want[p] = append(want[p], m)
	}
	for p := range partitions {
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:   []string{b.Addr()},
			Topic:     topic,
			Partition: p,
			MinBytes:  1,
			MaxBytes:  1 << 20,
			MaxWait:   100 * time.Millisecond,
		})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			t.Fatalf("partition %d: SetOffset: %v", p, err)
		}
		for i, w := range want[p] {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: read %d of %d: %v", p, i, len(want[p]), err)
			}
			if m.Partition != p || m.Offset != int64(i) || string(m.Key) != string(w.Key) || string(m.Value) != string(w.Value) {
				t.Fatalf("partition %d message %d: got p%d offset %d %s=%s, want offset %d %s=%s",
					p, i, m.Partition, m.Offset, m.Key, m.Value, i, w.Key, w.Value)
			}
		}
		lag, err := r.ReadLag(ctx)
		if err != nil || lag != 0 {
			t.Fatalf("partition %d: lag after reading all %d messages = %d (%v), want 0", p, len(want[p]), lag, err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("partition %d: close reader: %v", p, err)
		}
	}
}

// checkKafkaGoMetadata checks topic's metadata through kafka-go's Conn and
// its Client: one broker (id 0) at the advertised host:port leads every
// partition.
func checkKafkaGoMetadata(ctx context.Context, t testing.TB, addr, topic, host string, port, partitions int) {
	t.Helper()
	wantBroker := kafka.Broker{Host: host, Port: port, ID: 0}

	conn, err := kafka.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("kafka.Dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	brokers, err := conn.Brokers()
	if err != nil || len(brokers) != 1 || !sameBroker(brokers[0], wantBroker) {
		t.Fatalf("Conn.Brokers = %+v (%v), want [%+v]", brokers, err, wantBroker)
	}
	controller, err := conn.Controller()
	if err != nil || !sameBroker(controller, wantBroker) {
		t.Fatalf("Conn.Controller = %+v (%v), want %+v", controller, err, wantBroker)
	}
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("Conn.ReadPartitions: %v", err)
	}
	checkKafkaGoPartitions(t, "Conn.ReadPartitions", parts, topic, wantBroker, partitions)

	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Client.Metadata: %v", err)
	}
	if len(md.Brokers) != 1 || !sameBroker(md.Brokers[0], wantBroker) || !sameBroker(md.Controller, wantBroker) {
		t.Fatalf("Client.Metadata brokers %+v controller %+v, want [%+v]", md.Brokers, md.Controller, wantBroker)
	}
	if len(md.Topics) != 1 || md.Topics[0].Name != topic || md.Topics[0].Error != nil {
		t.Fatalf("Client.Metadata topics = %+v, want just %s", md.Topics, topic)
	}
	checkKafkaGoPartitions(t, "Client.Metadata", md.Topics[0].Partitions, topic, wantBroker, partitions)
}

func checkKafkaGoPartitions(t testing.TB, what string, parts []kafka.Partition, topic string, leader kafka.Broker, n int) {
	t.Helper()
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	if len(parts) != n {
		t.Fatalf("%s: %d partitions, want %d", what, len(parts), n)
	}
	for i, p := range parts {
		if p.Topic != topic || p.ID != i || !sameBroker(p.Leader, leader) || p.Error != nil ||
			len(p.Replicas) != 1 || p.Replicas[0].ID != 0 || len(p.Isr) != 1 || p.Isr[0].ID != 0 {
			t.Fatalf("%s: partition %d = %+v, want topic %s id %d led by %+v with replicas and ISR [0]", what, i, p, topic, i, leader)
		}
	}
}

// sameBroker compares the broker identity and address (racks are not set
// up by the harness, so they are not compared).
func sameBroker(a, b kafka.Broker) bool {
	return a.ID == b.ID && a.Host == b.Host && a.Port == b.Port
}
