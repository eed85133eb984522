package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama: sarama's idempotent SyncProducer (acks=all, the newest
// protocol version it knows) sends keyed messages that partition consumers
// read back exactly, at the offsets the producer was told.
func TestSarama(t *testing.T) {
	t.Parallel()
	const (
		topic       = "sarama"
		partitions  = 3
		numMessages = 500
		chunk       = 100 // messages per SendMessages call, so sarama batches
	)
	ctx := testContext(t, 90*time.Second)
	b := startBroker(t, brokerOptions{})
	createTopic(ctx, t, newAdmin(t, b), topic, partitions, nil)

	cfg := sarama.NewConfig()
	cfg.Version = sarama.MaxVersion
	cfg.ClientID = "sluice-itest-sarama"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Retry.Backoff = 50 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond

	producer, err := sarama.NewSyncProducer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewSyncProducer: %v", err)
	}
	sent := make([]*sarama.ProducerMessage, numMessages)
	for i := range sent {
		sent[i] = &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%d", i%37)),
			Value: sarama.StringEncoder(fmt.Sprintf("value-%03d", i)),
		}
	}
	for from := 0; from < numMessages; from += chunk {
		if err := producer.SendMessages(sent[from : from+chunk]); err != nil {
			t.Fatalf("SendMessages %d-%d: %v", from, from+chunk-1, err)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("close producer: %v", err)
	}

	// Per partition, in send order; each must have been acked at the next
	// offset (one idempotent in-flight request keeps the order).
	want := make(map[int32][]*sarama.ProducerMessage)
	for _, m := range sent {
		if wantOffset := int64(len(want[m.Partition])); m.Offset != wantOffset {
			t.Fatalf("message %v acked at %d[%d], want offset %d", m.Value, m.Partition, m.Offset, wantOffset)
		}
		want[m.Partition] = append(want[m.Partition], m)
	}
	if len(want) != partitions {
		t.Fatalf("messages landed in %d partitions, want %d", len(want), partitions)
	}

	consumer, err := sarama.NewConsumer([]string{b.Addr()}, cfg)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	defer consumer.Close()
	for p := range int32(partitions) {
		got := consumeSaramaPartition(ctx, t, consumer, topic, p, len(want[p]))
		for i, m := range got {
			w := want[p][i]
			wantKey, _ := w.Key.Encode()
			wantValue, _ := w.Value.Encode()
			if m.Offset != int64(i) || string(m.Key) != string(wantKey) || string(m.Value) != string(wantValue) {
				t.Fatalf("partition %d message %d: offset %d %s=%s, want offset %d %s=%s", p, i, m.Offset, m.Key, m.Value, i, wantKey, wantValue)
			}
		}
	}
}

// consumeSaramaPartition reads exactly n messages of topic[p] from the
// oldest offset and checks the high watermark says there are no more.
func consumeSaramaPartition(ctx context.Context, t testing.TB, consumer sarama.Consumer, topic string, p int32, n int) []*sarama.ConsumerMessage {
	t.Helper()
	pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition %d: %v", p, err)
	}
	defer pc.Close()
	var got []*sarama.ConsumerMessage
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
		case err := <-pc.Errors():
			t.Fatalf("partition %d: consumer error: %v", p, err)
		case <-ctx.Done():
			t.Fatalf("partition %d: got %d of %d messages: %v", p, len(got), n, ctx.Err())
		}
	}
	if hwm := pc.HighWaterMarkOffset(); hwm != int64(n) {
		t.Fatalf("partition %d: high watermark %d, want %d", p, hwm, n)
	}
	return got
}
