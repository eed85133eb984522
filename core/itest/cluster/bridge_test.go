package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBridgeReachesLeaders: the HTTP bridge of one broker publishes to
// partitions whose leaders are other brokers (it is a Kafka client of the
// cluster), and every record lands where the response says.
func TestBridgeReachesLeaders(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := clusterAdmin(t, c)
	const topic = "web"
	createTopic(ctx, t, adm, topic, 3, 2, nil)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int32{}
	for p, d := range md.Topics[topic].Partitions {
		leaders[p] = d.Leader
	}
	if leaders[0] == leaders[1] && leaders[1] == leaders[2] {
		t.Fatalf("all partitions led by one broker: %v", leaders)
	}

	entry := c.nodes[0]
	type result struct {
		Partition int32 `json:"partition"`
		Offset    int64 `json:"offset"`
		ErrorCode *int  `json:"error_code"`
	}
	want := map[string]result{}
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 5; i++ {
			value := fmt.Sprintf("p%d-r%d", p, i)
			body, _ := json.Marshal(map[string]any{"records": []map[string]any{{"value": value, "partition": p}}})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+entry.http+"/topics/"+topic, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("POST to broker %d for partition %d (leader %d): %d %s", entry.id, p, leaders[p], resp.StatusCode, raw)
			}
			var out struct {
				Offsets []result `json:"offsets"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || len(out.Offsets) != 1 {
				t.Fatalf("response %s: %v", raw, err)
			}
			if out.Offsets[0].Partition != p || out.Offsets[0].Offset != int64(i) {
				t.Fatalf("record %s acknowledged at %d/%d, want %d/%d", value, out.Offsets[0].Partition, out.Offsets[0].Offset, p, i)
			}
			want[fmt.Sprintf(`"%s"`, value)] = out.Offsets[0]
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < len(want) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", got, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) {
			w, ok := want[string(r.Value)]
			if !ok || w.Partition != r.Partition || w.Offset != r.Offset {
				t.Fatalf("unexpected record %s at %d/%d", r.Value, r.Partition, r.Offset)
			}
			got++
		})
	}
}
