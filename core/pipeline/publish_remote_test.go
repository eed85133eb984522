package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kafka"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// The internal producer (partitions other brokers lead) delivers each
// record once, idempotently, to the partition Publish placed it on, and
// answers its offset; without RemoteOpts (single node) it answers
// NOT_LEADER.
func TestPublishRemoteProducer(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// The "other broker": a node of its own with the topic.
	other, err := localbroker.Open(broker.Config{DataDir: t.TempDir(), Logger: logger, OffsetsTopicPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other.SetAdvertised("127.0.0.1", int32(ln.Addr().(*net.TCPAddr).Port))
	srv := kafka.New(other, kafka.Config{Logger: logger, Authorizer: auth.AllowAll{}})
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := other.CreateTopic(broker.TopicSpec{Name: "t", Partitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}

	self, err := localbroker.Open(broker.Config{DataDir: t.TempDir(), Logger: logger, OffsetsTopicPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	single := pipeline.New(pipeline.Config{Broker: self, Logger: logger})
	defer single.ClosePublish()
	out := single.PublishRemote(ctx, "t", []hooks.Record{{Value: []byte("x")}}, []int32{1})
	if !kerrmap.Is(out[0].Err, kerr.NotLeaderForPartition) {
		t.Fatalf("single node, remote partition: %+v", out[0])
	}

	p := pipeline.New(pipeline.Config{Broker: self, Logger: logger, RemoteOpts: []kgo.Opt{kgo.SeedBrokers(ln.Addr().String())}})
	defer p.ClosePublish()
	var recs []hooks.Record
	var parts []int32
	for i := 0; i < 30; i++ {
		recs = append(recs, hooks.Record{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)),
			Headers: []hooks.Header{{Key: "h", Value: []byte("1")}}})
		parts = append(parts, int32(i%3))
	}
	out = p.PublishRemote(ctx, "t", recs, parts)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stored := map[string]*kgo.Record{}
	for len(stored) < 30 && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			if stored[string(r.Value)] != nil {
				t.Fatalf("duplicate %s", r.Value)
			}
			stored[string(r.Value)] = r
		}
	}
	for i, pl := range out {
		r := stored[string(recs[i].Value)]
		if pl.Err != nil || r == nil {
			t.Fatalf("record %d: %+v, stored %v", i, pl, r)
		}
		if r.Partition != parts[i] || r.Offset != pl.Offset || string(r.Key) != string(recs[i].Key) ||
			len(r.Headers) != 1 || r.ProducerID < 0 {
			t.Fatalf("record %d answered %d@%d, stored %d@%d key %s producer %d", i, pl.Partition, pl.Offset, r.Partition, r.Offset, r.Key, r.ProducerID)
		}
	}
}
