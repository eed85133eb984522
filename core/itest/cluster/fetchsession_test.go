package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchSessionLeaderChange: a kgo consumer of 12 partitions (RF 3) on
// 3 brokers, with fetch sessions, reads every acknowledged record exactly
// once and in order while one broker is killed (its partitions' leaders
// move to the others and join the consumer's sessions there) and
// restarted (the consumer opens a new session with it), after which the
// preferred-leader election moves leadership back (the others' sessions
// then answer those partitions NOT_LEADER_OR_FOLLOWER until the consumer
// forgets them). The brokers' metrics show incremental fetches dominating
// throughout.
func TestFetchSessionLeaderChange(t *testing.T) {
	c := startCluster(t, 3, "--preferred-leader-interval", "2s")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic, parts = "sessions", 12
	createTopic(ctx, t, adm, topic, parts, 3, nil)

	prod, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var mu sync.Mutex
	acked := map[string]bool{}
	prodCtx, stopProd := context.WithCancel(ctx)
	var prodWG sync.WaitGroup
	prodWG.Add(1)
	go func() {
		defer prodWG.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; prodCtx.Err() == nil; i++ {
			select {
			case <-prodCtx.Done():
			case <-tick.C:
			}
			p := int32(i % parts)
			v := fmt.Sprintf("%d/%d", p, i/parts)
			prod.Produce(ctx, &kgo.Record{Partition: p, Value: []byte(v)}, func(_ *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[v] = true
					mu.Unlock()
				}
			})
		}
	}()

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MetadataMinAge(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	last := map[int32]int{}
	var consErr error
	consumeCtx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for consumeCtx.Err() == nil {
			fs := cons.PollFetches(consumeCtx)
			fs.EachRecord(func(r *kgo.Record) {
				var p int32
				var n int
				if _, err := fmt.Sscanf(string(r.Value), "%d/%d", &p, &n); err != nil || p != r.Partition {
					consErr = fmt.Errorf("record %q in partition %d", r.Value, r.Partition)
					return
				}
				if prev, ok := last[p]; ok && n <= prev {
					consErr = fmt.Errorf("partition %d: %d after %d", p, n, prev)
				}
				last[p] = n
				mu.Lock()
				seen[string(r.Value)]++
				mu.Unlock()
			})
		}
	}()

	seenCount := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	waitFor(ctx, t, "records consumed", func() bool { return seenCount() > 300 })
	victim := c.nodes[1]
	led := func() int {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return -1
		}
		n := 0
		for _, p := range md.Topics[topic].Partitions {
			if p.Leader == victim.id {
				n++
			}
		}
		return n
	}
	before := led()
	victim.kill()
	waitFor(ctx, t, "leaders moved off the killed broker", func() bool { return led() == 0 })
	mark := seenCount()
	waitFor(ctx, t, "records consumed after the kill", func() bool { return seenCount() > mark+300 })
	victim.start()
	waitFor(ctx, t, "leadership back on the restarted broker", func() bool { return led() == before })
	mark = seenCount()
	waitFor(ctx, t, "records consumed after the leaders moved back", func() bool { return seenCount() > mark+300 })

	stopProd()
	prodWG.Wait()
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "every acknowledged record consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for v := range acked {
			if seen[v] == 0 {
				return false
			}
		}
		return true
	})
	stopConsume()
	<-consumed
	if consErr != nil {
		t.Fatal(consErr)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("record %s consumed %d times", v, n)
		}
	}

	var full, inc, errs float64
	for _, nd := range c.nodes {
		m := scrapeMetrics(t, nd.http)
		full += m[`sluice_kafka_fetch_requests_total{kind="full"}`]
		inc += m[`sluice_kafka_fetch_requests_total{kind="incremental"}`]
		for k, v := range m {
			if strings.HasPrefix(k, "sluice_kafka_fetch_session_errors_total") {
				errs += v
			}
		}
	}
	t.Logf("consumed %d records (%d acknowledged); %d partitions led by the killed broker; fetches: %v full, %v incremental, %v session errors",
		len(seen), len(acked), before, full, inc, errs)
	if full < 1 || inc < 10*full {
		t.Fatalf("fetches: %v full, %v incremental; want incremental ones to dominate", full, inc)
	}
}

// scrapeMetrics reads a broker's /metrics into series -> value.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
