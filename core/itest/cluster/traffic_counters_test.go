package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTrafficCountersSurviveReplicaMoves: a broker's per-topic traffic
// counters (sluice_topic_messages_in_total, _bytes_in_total,
// _bytes_out_total) are Prometheus counters and never go down, even when
// the partition object that counted is dropped (the replica reassigned
// away) and a new one is opened for it later (reassigned back): the
// counts are kept per topic partition by the broker, not by the object.
func TestTrafficCountersSurviveReplicaMoves(t *testing.T) {
	c := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "moving-counters"
	createAssigned(ctx, t, c, topic, [][]int32{{1}})
	n1, n2 := c.node(1), c.node(2)
	msgs := fmt.Sprintf("sluice_topic_messages_in_total{topic=%q}", topic)
	bytesIn := fmt.Sprintf("sluice_topic_bytes_in_total{topic=%q}", topic)
	bytesOut := fmt.Sprintf("sluice_topic_bytes_out_total{topic=%q}", topic)
	type counts struct{ msgs, in, out float64 }
	read := func(nd *node) counts {
		m := scrapeMetrics(t, nd.http)
		return counts{m[msgs], m[bytesIn], m[bytesOut]}
	}
	// history checks every scrape of a broker against its previous one.
	prev := map[int32]counts{}
	check := func(nd *node, wantMsgs float64) counts {
		t.Helper()
		got := read(nd)
		p := prev[nd.id]
		if got.msgs < p.msgs || got.in < p.in || got.out < p.out {
			t.Fatalf("broker %d: counters went down: %+v after %+v", nd.id, got, p)
		}
		if got.msgs != wantMsgs {
			t.Fatalf("broker %d: %v messages in, want %v", nd.id, got.msgs, wantMsgs)
		}
		prev[nd.id] = got
		return got
	}
	cl := clientOf(t, []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, c.nodes...)
	produce := func(n int) {
		t.Helper()
		for i := range n {
			produceValues(ctx, t, cl, topic, 0, fmt.Sprintf("value-%d", i))
		}
	}
	consumeAll := func(want int) {
		t.Helper()
		cons := clientOf(t, []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}})}, c.nodes...)
		got := 0
		for got < want {
			fs := cons.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatal(err)
			}
			got += fs.NumRecords()
		}
		cons.Close()
	}
	moveTo := func(to, from *node) {
		t.Helper()
		if err := alterAssignment(ctx, t, adm, topic, []int32{to.id}); err != nil {
			t.Fatal(err)
		}
		waitFor(ctx, t, fmt.Sprintf("%s-0 moved to broker %d and gone from broker %d", topic, to.id, from.id), func() bool {
			pi := partitionInfo(ctx, t, adm, topic, 0)
			return pi.Err == nil && slices.Equal(pi.Replicas, []int32{to.id}) && pi.Leader == to.id &&
				len(reassignments(ctx, t, adm, topic)) == 0 && partitionDirGone(from, topic)
		})
	}

	produce(10)
	consumeAll(10)
	first := check(n1, 10)
	if first.in <= 0 || first.out <= 0 {
		t.Fatalf("broker 1 after 10 records produced and consumed: %+v", first)
	}

	// Away: broker 1 no longer hosts the partition, its counts stay.
	moveTo(n2, n1)
	if got := check(n1, 10); got != first {
		t.Fatalf("broker 1 after the replica moved away: %+v, want %+v", got, first)
	}
	produce(4)
	check(n2, 4)

	// And back: a new partition object on broker 1 counts on from 10.
	moveTo(n1, n2)
	produce(5)
	consumeAll(19)
	got := check(n1, 15)
	if got.in <= first.in || got.out <= first.out {
		t.Fatalf("broker 1 after the replica came back and 5 more records: %+v, before %+v", got, first)
	}
	check(n2, 4) // broker 2 keeps what it counted while it led
}
