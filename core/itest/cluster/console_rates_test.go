package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/console"
)

// createAssigned creates topic with an explicit replica assignment (the
// first replica of each partition is its preferred leader).
func createAssigned(ctx context.Context, t *testing.T, c *testCluster, topic string, assignment [][]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for i, reps := range assignment {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(i), reps
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 30000
	resp, err := req.RequestWith(ctx, clientOf(t, nil, c.nodes...))
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consoleGet reads a console API endpoint of broker nd (a loopback
// listener without admin credentials: anonymous access).
func consoleGet(t *testing.T, nd *node, path string, out any) {
	t.Helper()
	if err := consoleRead(nd, path, out); err != nil {
		t.Fatal(err)
	}
}

// consoleRead is consoleGet for any goroutine.
func consoleRead(nd *node, path string, out any) error {
	resp, err := http.Get("http://" + nd.http + "/console/api" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on broker %d: %s", path, nd.id, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s on broker %d: %v", path, nd.id, err)
	}
	return nil
}

// consoleView is one poll of a console: its overview and topic list.
type consoleView struct {
	ov  console.Overview
	tl  console.TopicList
	err error
}

// TestConsoleClusterRates: the console's rates are the cluster's, not the
// serving broker's. Three brokers each lead one partition of a topic; a
// burst of 7, 11 and 13 records goes to the three partitions, and the
// console of every broker (each sampling the cluster on its own) shows a
// window of exactly 31 messages and exactly the record bytes the three
// leaders counted as received (their sluice_topic_bytes_in_total), in
// the overview and in the topic's row, with the rates those windows give.
//
// A console's window is the last 5 s of samples and slides on whether the
// test looks or not: under load, polling three consoles (each answer
// several Kafka requests) can take longer than the burst stays in one's
// window. So a console whose window provably moved past the burst without
// the test seeing it (the window starts after the burst was complete)
// gets another burst, and a window counts only if it provably starts
// after the previous burst: then exactly 31 messages and the leaders'
// bytes can only be the whole of the latest burst.
func TestConsoleClusterRates(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "console-rates"
	createAssigned(ctx, t, c, topic, [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}})
	waitFor(ctx, t, "partition p led by broker p+1, ISR full", func() bool {
		for p := int32(0); p < 3; p++ {
			if pi := partitionInfo(ctx, t, adm, topic, p); pi.Err != nil || pi.Leader != p+1 || len(pi.ISR) != 3 {
				return false
			}
		}
		return true
	})

	// The first API call starts each console's sampler; wait until every
	// one has a window over all three brokers, with nothing moving.
	waitFor(ctx, t, "every console sampling three brokers", func() bool {
		for _, nd := range c.nodes {
			var ov console.Overview
			consoleGet(t, nd, "/overview", &ov)
			if !ov.Throughput.Known || ov.Throughput.Brokers != 3 || ov.Throughput.BrokersLive != 3 || ov.Throughput.Window.MessagesIn != 0 {
				return false
			}
		}
		return true
	})

	counts := []int64{7, 11, 13}
	const wantMsgs = 7 + 11 + 13
	cl := clientOf(t, []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, c.nodes...)
	bytesSeries := fmt.Sprintf("sluice_topic_bytes_in_total{topic=%q}", topic)
	msgsSeries := fmt.Sprintf("sluice_topic_messages_in_total{topic=%q}", topic)
	var (
		leaderBytes int64     // the leaders' bytes-in counters before this burst
		prevDone    time.Time // when the previous burst was complete
		seen        = map[int32]int{}
		last        = map[int32]string{}
	)
	for burst := 1; len(seen) < len(c.nodes); burst++ {
		var recs []*kgo.Record
		for p, n := range counts {
			for i := range n {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "p%d-record-%d-%s", p, i, make([]byte, 10*p+int(i)))})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		// The consoles count messages by high watermark: the burst is
		// complete once every partition's shows it.
		waitFor(ctx, t, "the burst under every high watermark", func() bool {
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				return false
			}
			for p, n := range counts {
				if e, ok := ends.Lookup(topic, int32(p)); !ok || e.Err != nil || e.Offset != n*int64(burst) {
					return false
				}
			}
			return true
		})
		done := time.Now()
		// What each leader received, by its own counters: every broker
		// led one partition, so each contributes.
		var total int64
		for i, nd := range c.nodes {
			m := scrapeMetrics(t, nd.http)
			if m[msgsSeries] != float64(counts[i]*int64(burst)) || m[bytesSeries] <= 0 {
				t.Fatalf("broker %d counted %v messages and %v bytes after burst %d; want %d messages", nd.id, m[msgsSeries], m[bytesSeries], burst, counts[i]*int64(burst))
			}
			total += int64(m[bytesSeries])
		}
		wantBytes := total - leaderBytes
		leaderBytes = total
		t.Logf("burst %d: %d records, %d record bytes, over three leaders", burst, wantMsgs, wantBytes)

		// Poll every console not yet satisfied until it shows exactly this
		// burst, or its window has moved past it (started after done). The
		// consoles are polled at once, so that a slow one does not delay
		// the others' polls while their windows slide.
		missed := map[int32]bool{}
		for len(seen)+len(missed) < len(c.nodes) {
			views := make([]consoleView, len(c.nodes))
			var wg sync.WaitGroup
			for i, nd := range c.nodes {
				if seen[nd.id] > 0 || missed[nd.id] {
					continue
				}
				wg.Go(func() {
					v := &views[i]
					if v.err = consoleRead(nd, "/overview", &v.ov); v.err == nil {
						v.err = consoleRead(nd, "/topics", &v.tl)
					}
				})
			}
			wg.Wait()
			for i, nd := range c.nodes {
				if seen[nd.id] > 0 || missed[nd.id] {
					continue
				}
				ov, tl := views[i].ov, views[i].tl
				if err := views[i].err; err != nil {
					t.Fatal(err)
				}
				var row *console.TopicSummary
				for i := range tl.Topics {
					if tl.Topics[i].Name == topic {
						row = &tl.Topics[i]
					}
				}
				th := ov.Throughput
				if row == nil || th.Window == nil || row.Window == nil {
					t.Fatalf("broker %d: no window: overview %+v; topics %+v", nd.id, th, tl.Topics)
				}
				last[nd.id] = fmt.Sprintf("overview %+v window %+v; row %+v window %+v", th, *th.Window, *row, *row.Window)
				w, rw := *th.Window, *row.Window
				if w.From.After(done) || rw.From.After(done) {
					missed[nd.id] = true
					t.Logf("broker %d: window moved past burst %d unseen: %s", nd.id, burst, last[nd.id])
					continue
				}
				if !w.From.After(prevDone) || !rw.From.After(prevDone) || th.Brokers != 3 || th.BrokersLive != 3 || row.Messages != wantMsgs*int64(burst) ||
					w.MessagesIn != wantMsgs || w.BytesIn != wantBytes || rw.MessagesIn != wantMsgs || rw.BytesIn != wantBytes {
					continue
				}
				// The rates are the window over its length, and the
				// length is the samples' distance (To − From is more only
				// when a partition's growth spans unread samples).
				if !near(th.MessagesInPerSec, float64(wantMsgs)/w.Seconds) || !near(th.BytesInPerSec, float64(wantBytes)/w.Seconds) ||
					!near(row.MessagesInPerSec, float64(wantMsgs)/rw.Seconds) || !near(row.BytesInPerSec, float64(wantBytes)/rw.Seconds) {
					t.Fatalf("broker %d: rates do not match their window: %s", nd.id, last[nd.id])
				}
				for _, x := range []console.Window{w, rw} {
					if x.Seconds <= 0 || x.To.Sub(x.From).Seconds() < x.Seconds-0.05 {
						t.Fatalf("broker %d: window of %v s from %v to %v", nd.id, x.Seconds, x.From, x.To)
					}
				}
				seen[nd.id] = burst
				t.Logf("broker %d: burst %d seen: %s", nd.id, burst, last[nd.id])
			}
			select {
			case <-ctx.Done():
				for id, s := range last {
					t.Logf("broker %d: %s", id, s)
				}
				t.Fatalf("timed out waiting for burst %d in every console's window (seen: %v)", burst, seen)
			case <-time.After(100 * time.Millisecond):
			}
		}
		prevDone = done
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
