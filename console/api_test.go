package console_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/console"
	"github.com/sluicemq/sluice/internal/testkit"
)

// call sends a console API request (JSON body if body != nil) and returns
// the status and raw body; out, if set, receives the decoded JSON.
func call(t *testing.T, method, url string, body any, out any, hdr ...string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func must(t *testing.T, method, url string, body any, out any, want int) {
	t.Helper()
	if code, b := call(t, method, url, body, out); code != want {
		t.Fatalf("%s %s: %d %s (want %d)", method, url, code, b, want)
	}
}

func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestAPI drives the console API of an in-process node (loopback listener,
// no admin credentials: the guard lets local callers in) through a topic's
// life, the message browser and a consumer group's lag and reset.
func TestAPI(t *testing.T) {
	n := testkit.StartNode(t)
	api := n.HTTPBase + "/console/api"
	cl := n.Client(t, kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	var who console.WhoAmI
	must(t, "GET", api+"/whoami", nil, &who, 200)
	if who.Principal != "User:ANONYMOUS" || who.Auth != "none" || who.AdminBase != "/admin" {
		t.Fatalf("whoami %+v", who)
	}

	must(t, "POST", api+"/topics", console.CreateTopicRequest{Name: "orders", Partitions: 2, Configs: map[string]string{"retention.ms": "3600000"}}, nil, 201)
	if code, body := call(t, "POST", api+"/topics", console.CreateTopicRequest{Name: "orders", Partitions: 1}, nil); code != 409 || !strings.Contains(body, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("duplicate create: %d %s", code, body)
	}
	if code, body := call(t, "POST", api+"/topics", console.CreateTopicRequest{Name: "bad/name", Partitions: 1}, nil); code != 400 || !strings.Contains(body, "INVALID_TOPIC_EXCEPTION") {
		t.Fatalf("bad name: %d %s", code, body)
	}

	// Partition 0: a JSON value with a header, a text value, a binary
	// value; partition 1: one record.
	produce(t, cl,
		&kgo.Record{Partition: 0, Key: []byte("k-1"), Value: []byte(`{"id":1,"item":"tea"}`), Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("web")}}},
		&kgo.Record{Partition: 0, Key: []byte("k-2"), Value: []byte("plain text")},
		&kgo.Record{Partition: 0, Key: []byte("k-1"), Value: []byte{0x00, 0xff, 0x10}},
		&kgo.Record{Partition: 1, Value: []byte("other")},
	)

	var overview console.Overview
	must(t, "GET", api+"/overview", nil, &overview, 200)
	if len(overview.Brokers) != 1 || !overview.Brokers[0].Up || !overview.Brokers[0].Controller || overview.Brokers[0].Host != "127.0.0.1" ||
		overview.Partitions.Total < 2 || overview.Partitions.UnderReplicated != 0 || overview.Partitions.Offline != 0 {
		t.Fatalf("overview %+v", overview)
	}

	var topics console.TopicList
	must(t, "GET", api+"/topics", nil, &topics, 200)
	var orders *console.TopicSummary
	for i := range topics.Topics {
		if topics.Topics[i].Name == "orders" {
			orders = &topics.Topics[i]
		}
	}
	if orders == nil || orders.Partitions != 2 || orders.ReplicationFactor != 1 || orders.Messages != 4 || orders.Internal || orders.SizeBytes <= 0 ||
		len(orders.Configs) != 1 || orders.Configs["retention.ms"] != "3600000" {
		t.Fatalf("topics %+v", topics)
	}

	var detail console.TopicDetail
	must(t, "GET", api+"/topics/orders", nil, &detail, 200)
	if len(detail.Partitions) != 2 || detail.Partitions[0].LogEnd != 3 || detail.Partitions[1].LogEnd != 1 ||
		detail.Partitions[0].Leader != 0 || len(detail.Partitions[0].ISR) != 1 || detail.Partitions[0].SizeBytes <= 0 {
		t.Fatalf("detail %+v", detail)
	}
	cfg := map[string]console.ConfigEntry{}
	for _, c := range detail.Configs {
		cfg[c.Name] = c
	}
	if c := cfg["retention.ms"]; c.Value != "3600000" || c.Source != "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms %+v", c)
	}

	var page console.Browse
	must(t, "GET", api+"/topics/orders/messages?partition=0&offset=0", nil, &page, 200)
	if len(page.Messages) != 3 || page.LogEnd != 3 || page.NextOffset != 3 {
		t.Fatalf("browse %+v", page)
	}
	m := page.Messages
	if m[0].Value.Encoding != "json" || m[0].Value.Text != `{"id":1,"item":"tea"}` || m[0].Key.Text != "k-1" ||
		len(m[0].Headers) != 1 || m[0].Headers[0].Key != "source" || m[0].Headers[0].Value.Text != "web" ||
		m[1].Value.Encoding != "text" || m[1].Value.Text != "plain text" ||
		m[2].Value.Encoding != "binary" || m[2].Value.Text != "00ff10" || m[2].Value.Size != 3 || m[2].Offset != 2 {
		t.Fatalf("messages %+v", m)
	}
	must(t, "GET", api+"/topics/orders/messages?partition=0&offset=1&key=k-1", nil, &page, 200)
	if len(page.Messages) != 1 || page.Messages[0].Offset != 2 || page.Scanned != 2 {
		t.Fatalf("key filter %+v", page)
	}
	must(t, "GET", api+"/topics/orders/messages?partition=0&timestamp=4102444800000", nil, &page, 200) // 2100-01-01
	if len(page.Messages) != 0 || page.From != 3 {
		t.Fatalf("future timestamp %+v", page)
	}
	if code, body := call(t, "GET", api+"/topics/orders/messages?partition=7", nil, nil); code != 404 || !strings.Contains(body, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("unknown partition: %d %s", code, body)
	}

	// Configs and partitions.
	must(t, "POST", api+"/topics/orders/configs", console.AlterConfigsRequest{Set: map[string]string{"cleanup.policy": "compact"}, Delete: []string{"retention.ms"}}, nil, 200)
	must(t, "GET", api+"/topics/orders", nil, &detail, 200)
	cfg = map[string]console.ConfigEntry{}
	for _, c := range detail.Configs {
		cfg[c.Name] = c
	}
	if cfg["cleanup.policy"].Value != "compact" || cfg["retention.ms"].Source == "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("after alter: %+v %+v", cfg["cleanup.policy"], cfg["retention.ms"])
	}
	if code, body := call(t, "POST", api+"/topics/orders/configs", console.AlterConfigsRequest{Set: map[string]string{"no.such.config": "1"}}, nil); code != 400 || !strings.Contains(body, "INVALID_CONFIG") {
		t.Fatalf("bad config: %d %s", code, body)
	}
	must(t, "POST", api+"/topics/orders/partitions", console.AddPartitionsRequest{Count: 3}, nil, 200)
	if code, body := call(t, "POST", api+"/topics/orders/partitions", console.AddPartitionsRequest{Count: 2}, nil); code != 400 || !strings.Contains(body, "INVALID_PARTITIONS") {
		t.Fatalf("shrink: %d %s", code, body)
	}
	must(t, "GET", api+"/topics/orders", nil, &detail, 200)
	if len(detail.Partitions) != 3 {
		t.Fatalf("partitions after add: %d", len(detail.Partitions))
	}

	// A group that consumed partition 0 and 1 and committed 2 of 3 and
	// 1 of 1: lag 1 on partition 0.
	consumer := n.Client(t, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testkit.Consume(t, ctx, consumer, 4)
	var commitErr error
	consumer.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"orders": {0: {Epoch: -1, Offset: 2}, 1: {Epoch: -1, Offset: 1}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if resp == nil {
				return
			}
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil && commitErr == nil {
						commitErr = err
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	var g console.GroupDetail
	must(t, "GET", api+"/groups/billing", nil, &g, 200)
	if g.State != "Stable" || g.ProtocolType != "consumer" || len(g.Members) != 1 || g.Lag != 1 {
		t.Fatalf("group %+v", g)
	}
	lag := map[int32]console.PartitionLag{}
	for _, o := range g.Offsets {
		lag[o.Partition] = o
	}
	if lag[0].Committed != 2 || lag[0].LogEnd != 3 || lag[0].Lag != 1 || lag[1].Lag != 0 || lag[0].MemberID != g.Members[0].MemberID {
		t.Fatalf("group offsets %+v", g.Offsets)
	}
	var groups console.GroupList
	must(t, "GET", api+"/groups", nil, &groups, 200)
	if len(groups.Groups) != 1 || groups.Groups[0].Group != "billing" || groups.Groups[0].Lag != 1 || groups.Groups[0].Members != 1 {
		t.Fatalf("groups %+v", groups)
	}
	if code, body := call(t, "POST", api+"/groups/billing/reset", console.ResetRequest{To: "earliest"}, nil); code != 409 || !strings.Contains(body, "stop its consumers first") {
		t.Fatalf("reset of a live group: %d %s", code, body)
	}
	consumer.Close()
	var reset console.ResetResult
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := call(t, "POST", api+"/groups/billing/reset", console.ResetRequest{To: "earliest"}, &reset)
		if code == 200 {
			break
		}
		if code != 409 || time.Now().After(deadline) {
			t.Fatalf("reset: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, "GET", api+"/groups/billing", nil, &g, 200)
	if g.State != "Empty" || g.Lag != 4 || len(g.Members) != 0 {
		t.Fatalf("after reset to earliest: %+v", g)
	}
	must(t, "POST", api+"/groups/billing/reset", console.ResetRequest{To: "latest"}, &reset, 200)
	must(t, "GET", api+"/groups/billing", nil, &g, 200)
	if g.Lag != 0 {
		t.Fatalf("after reset to latest: %+v", g)
	}

	must(t, "DELETE", api+"/topics/orders", nil, nil, 200)
	if code, body := call(t, "GET", api+"/topics/orders", nil, nil); code != 404 || !strings.Contains(body, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("deleted topic: %d %s", code, body)
	}
	if code, body := call(t, "GET", api+"/nope", nil, nil); code != 404 || !strings.Contains(body, "no such console API endpoint") {
		t.Fatalf("unknown endpoint: %d %s", code, body)
	}
}

// TestTail reads the live tail as a plain HTTP client: a record produced
// after the stream opened arrives as an SSE "message" event, and stopping
// the node ends the open stream at once instead of holding the graceful
// shutdown for its full timeout.
func TestTail(t *testing.T) {
	n := testkit.StartNode(t)
	n.CreateTopic(t, "live", 2)
	cl := n.Client(t, kgo.DefaultProduceTopic("live"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce(t, cl, &kgo.Record{Partition: 0, Value: []byte("before")})

	resp, err := http.Get(n.HTTPBase + "/console/api/topics/live/tail")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("tail: %d %v", resp.StatusCode, resp.Header)
	}
	rd := bufio.NewReader(resp.Body)
	if line, _ := rd.ReadString('\n'); line != ": tail of live\n" {
		t.Fatalf("first line %q", line)
	}
	produce(t, cl, &kgo.Record{Partition: 1, Key: []byte("k"), Value: []byte(`{"after":true}`)})
	var event, id, data string
	for data == "" {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimSpace(line[7:])
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimSpace(line[4:])
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimSpace(line[6:])
		}
	}
	var m console.Message
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatal(err)
	}
	if event != "message" || id != "1-0" || m.Partition != 1 || m.Offset != 0 || m.Key.Text != "k" || m.Value.Encoding != "json" || m.Value.Text != `{"after":true}` {
		t.Fatalf("event %q id %q message %+v", event, id, m)
	}
	if code, body := call(t, "GET", n.HTTPBase+"/console/api/topics/nope/tail", nil, nil); code != 404 || !strings.Contains(body, "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("unknown topic: %d %s", code, body)
	}
	// 2^32+1 is not partition 1 (it wrapped to it when read as an int).
	if code, body := call(t, "GET", n.HTTPBase+"/console/api/topics/live/tail?partition=4294967297", nil, nil); code != 400 || !strings.Contains(body, "want a partition number") {
		t.Fatalf("partition 2^32+1: %d %s", code, body)
	}

	start := time.Now()
	n.Stop()
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("stopping with an open tail took %s", d)
	}
	if _, err := io.Copy(io.Discard, rd); err != nil && !strings.Contains(err.Error(), "EOF") {
		t.Logf("stream ended with %v", err)
	}
}
