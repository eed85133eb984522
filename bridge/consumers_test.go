package bridge_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

// These tests need the broker's consumer-group APIs.

func TestConsumerInstances(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "ct", 1)
	produceJSON(t, n, "ct", `{"key":"k","value":{"n":0}},{"value":{"n":1}},{"value":"two"}`)
	v2 := "application/vnd.kafka.v2+json"
	base := n.base + "/consumers/g1/instances/c1"

	status, body, _ := do(t, "POST", n.base+"/consumers/g1", v2, strings.NewReader(`{"name":"c1","format":"json","auto.offset.reset":"earliest","auto.commit.enable":"false"}`))
	if status != 200 || body != `{"base_uri":"`+base+`","instance_id":"c1"}` {
		t.Fatalf("create: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/consumers/g1", v2, strings.NewReader(`{"name":"c1"}`))
	if status != 409 || body != `{"error_code":40902,"message":"Consumer instance with the specified name already exists."}` {
		t.Fatalf("duplicate: %d %s", status, body)
	}
	status, body, _ = do(t, "GET", base+"/records", "", nil, "Accept", "application/vnd.kafka.json.v2+json")
	if status != 409 || body != `{"error_code":40903,"message":"Consumer instance is not subscribed to any topic."}` {
		t.Fatalf("records before subscribe: %d %s", status, body)
	}
	if status, body, _ = do(t, "POST", base+"/subscription", v2, strings.NewReader(`{"topics":["ct"]}`)); status != 204 {
		t.Fatalf("subscribe: %d %s", status, body)
	}
	if status, body, _ = do(t, "GET", base+"/subscription", "", nil); status != 200 || body != `{"topics":["ct"]}` {
		t.Fatalf("subscription: %d %s", status, body)
	}
	status, body, _ = do(t, "GET", base+"/records", "", nil, "Accept", "application/vnd.kafka.binary.v2+json")
	if status != 406 || !strings.HasPrefix(body, `{"error_code":40601,`) {
		t.Fatalf("format mismatch: %d %s", status, body)
	}
	var got []map[string]any
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		status, body, _ = do(t, "GET", base+"/records?timeout=500", "", nil, "Accept", "application/vnd.kafka.json.v2+json")
		var batch []map[string]any
		if status != 200 || json.Unmarshal([]byte(body), &batch) != nil {
			t.Fatalf("records: %d %s", status, body)
		}
		got = append(got, batch...)
	}
	b, _ := json.Marshal(got)
	if string(b) != `[{"key":"k","offset":0,"partition":0,"topic":"ct","value":{"n":0}},{"key":null,"offset":1,"partition":0,"topic":"ct","value":{"n":1}},{"key":null,"offset":2,"partition":0,"topic":"ct","value":"two"}]` {
		t.Fatalf("records %s", b)
	}
	if status, body, _ = do(t, "POST", base+"/offsets", v2, strings.NewReader(`{"offsets":[{"topic":"ct","partition":0,"offset":2}]}`)); status != 204 {
		t.Fatalf("commit: %d %s", status, body)
	}
	if status, body, _ = do(t, "GET", base+"/offsets", v2, strings.NewReader(`{"partitions":[{"topic":"ct","partition":0}]}`)); status != 200 || body != `{"offsets":[{"topic":"ct","partition":0,"offset":3}]}` {
		t.Fatalf("committed: %d %s", status, body)
	}
	if status, _, _ = do(t, "DELETE", base, "", nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	status, body, _ = do(t, "GET", base+"/records", "", nil)
	if status != 404 || body != `{"error_code":40403,"message":"Consumer instance not found."}` {
		t.Fatalf("after delete: %d %s", status, body)
	}
}

// TestConsumerInstanceLimit: past max_consumer_instances a create answers
// 503/50302 with Retry-After; deleting one makes room.
func TestConsumerInstanceLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxConsumerInstances: 2})
	v2 := "application/vnd.kafka.v2+json"
	for _, name := range []string{"a", "b"} {
		if status, body, _ := do(t, "POST", n.base+"/consumers/lim", v2, strings.NewReader(`{"name":"`+name+`"}`)); status != 200 {
			t.Fatalf("create %s: %d %s", name, status, body)
		}
	}
	status, body, h := do(t, "POST", n.base+"/consumers/lim", v2, strings.NewReader(`{"name":"c"}`))
	if status != 503 || body != `{"error_code":50302,"message":"Too many consumer instances (limit 2); delete one or retry once idle ones expire."}` || h.Get("Retry-After") != "5" {
		t.Fatalf("third: %d %s Retry-After %q", status, body, h.Get("Retry-After"))
	}
	if status, _, _ := do(t, "DELETE", n.base+"/consumers/lim/instances/a", "", nil); status != 204 {
		t.Fatalf("delete a: %d", status)
	}
	if status, body, _ := do(t, "POST", n.base+"/consumers/lim", v2, strings.NewReader(`{"name":"c"}`)); status != 200 {
		t.Fatalf("after delete: %d %s", status, body)
	}
}

func TestEventsGroupCommits(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "gt", 1)
	produceJSON(t, n, "gt", `{"value":0},{"value":1},{"value":2}`)
	s := openStream(t, n.base+"/topics/gt/events?group=dash&from=earliest")
	var values []string
	for len(values) < 3 {
		if ev := s.next(t); ev.comment == "" && ev.event == "" {
			values = append(values, ev.data[strings.Index(ev.data, `"value":`)+8:])
		}
	}
	if strings.Join(values, " ") != "0} 1} 2}" {
		t.Fatalf("values %v", values)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		offs, err := n.adm.FetchOffsets(context.Background(), "dash")
		if err == nil {
			if o, ok := offs.Lookup("gt", 0); ok && o.At == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group dash never committed offset 3: %v %v", offs, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.close()
}
