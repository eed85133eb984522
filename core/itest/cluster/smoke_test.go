package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPlacementAndReplicatedProduce: replicas follow the seed algorithm
// (sorted brokers; partition i on broker i mod n, its j-th replica on
// (i+j) mod n, the first one leading), and acks=all produce works through
// replication on every leader.
func TestPlacementAndReplicatedProduce(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic("placed"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, rf := range []int16{3, 2} {
		topic := "placed"
		if rf == 2 {
			topic = "placed-rf2"
		}
		createTopic(ctx, t, adm, topic, 6, rf, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")})
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		brokers := []int32{1, 2, 3}
		for i := int32(0); i < 6; i++ {
			var want []int32
			for j := int32(0); j < int32(rf); j++ {
				want = append(want, brokers[(i+j)%3])
			}
			p := md.Topics[topic].Partitions[i]
			if !slices.Equal(p.Replicas, want) || p.Leader != want[0] {
				t.Fatalf("%s partition %d: replicas %v leader %d, want %v leader %d", topic, i, p.Replicas, p.Leader, want, want[0])
			}
		}
	}
	for i := 0; i < 60; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 6), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, "placed")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 60 {
		t.Fatalf("end offsets sum to %d, want 60", total)
	}
}
