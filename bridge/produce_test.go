package bridge_test

import (
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/sluicemq/sluice/bridge"
)

func TestProduceV2Formats(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "orders", 3)

	status, body, hdr := do(t, "POST", n.base+"/topics/orders", "application/vnd.kafka.json.v2+json", strings.NewReader(
		`{"records":[{"key":"k1","value":{"n":1},"partition":2,"headers":[{"key":"h","value":"aGk="}]},{"value":[1,2],"partition":2},{"value":null,"partition":2}]}`))
	if status != 200 {
		t.Fatalf("json.v2: %d %s", status, body)
	}
	if hdr.Get("Content-Type") != "application/vnd.kafka.v2+json" {
		t.Fatalf("content type %q", hdr.Get("Content-Type"))
	}
	want := `{"offsets":[{"partition":2,"offset":0,"error_code":null,"error":null},{"partition":2,"offset":1,"error_code":null,"error":null},{"partition":2,"offset":2,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}`
	if body != want {
		t.Fatalf("json.v2 body:\n got %s\nwant %s", body, want)
	}

	status, body, _ = do(t, "POST", n.base+"/topics/orders/partitions/1", "application/vnd.kafka.binary.v2+json", strings.NewReader(
		`{"records":[{"key":"a2V5","value":"AAEC"}]}`))
	if status != 200 || !strings.Contains(body, `"partition":1,"offset":0`) {
		t.Fatalf("binary.v2: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/orders/partitions/0", "application/json", strings.NewReader(
		`{"records":[{"value":"plain"}]}`))
	if status != 200 || !strings.Contains(body, `"partition":0,"offset":0`) {
		t.Fatalf("plain json: %d %s", status, body)
	}

	recs := n.readAll(t, "orders", 5)
	byPart := map[int32][]string{}
	for _, r := range recs {
		v := string(r.Value)
		if r.Value == nil {
			v = "<nil>"
		}
		byPart[r.Partition] = append(byPart[r.Partition], string(r.Key)+"="+v)
	}
	if got := strings.Join(byPart[2], " "); got != `"k1"={"n":1} =[1,2] =<nil>` {
		t.Fatalf("partition 2: %s", got)
	}
	if got := strings.Join(byPart[1], " "); got != "key=\x00\x01\x02" {
		t.Fatalf("partition 1: %q", got)
	}
	if got := strings.Join(byPart[0], " "); got != `="plain"` {
		t.Fatalf("partition 0: %s", got)
	}
	for _, r := range recs {
		if string(r.Key) == `"k1"` && (len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "hi") {
			t.Fatalf("headers: %+v", r.Headers)
		}
	}
}

// Keyed records land where the Java client's murmur2 partitioner puts them
// (kafka-go's Murmur2Balancer is an independent implementation of it), and
// unkeyed records spread evenly.
func TestProducePartitioning(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "keyed", 4)
	var sb strings.Builder
	sb.WriteString(`{"records":[`)
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"key":"` + k + `","value":1}`)
	}
	sb.WriteString(`]}`)
	status, body, _ := do(t, "POST", n.base+"/topics/keyed", "application/vnd.kafka.json.v2+json", strings.NewReader(sb.String()))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	recs := n.readAll(t, "keyed", len(keys))
	bal := &kafka.Murmur2Balancer{}
	parts := []int{0, 1, 2, 3}
	for _, r := range recs {
		want := bal.Balance(kafka.Message{Key: r.Key}, parts...)
		if int(r.Partition) != want {
			t.Errorf("key %s: partition %d, murmur2 says %d", r.Key, r.Partition, want)
		}
	}

	n.createTopic(t, "spread", 4)
	status, body, _ = do(t, "POST", n.base+"/topics/spread", "application/json", strings.NewReader(`[1,2,3,4,5,6,7,8]`))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	// Unkeyed records stick to one partition (the Java client's uniform
	// sticky partitioner) until about 16 KiB of values went there.
	counts := map[int32]int{}
	for _, r := range n.readAll(t, "spread", 8) {
		counts[r.Partition]++
	}
	if len(counts) != 1 {
		t.Fatalf("8 small unkeyed records on partitions %v, want one partition", counts)
	}
	big := `"` + strings.Repeat("x", 1024) + `"`
	body48 := "[" + strings.Repeat(big+",", 47) + big + "]"
	status, body, _ = do(t, "POST", n.base+"/topics/spread", "application/json", strings.NewReader(body48))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	counts = map[int32]int{}
	for _, r := range n.readAll(t, "spread", 56) {
		counts[r.Partition]++
	}
	if len(counts) < 2 {
		t.Fatalf("48 KiB of unkeyed records all on partitions %v, want them to move on after 16 KiB", counts)
	}
}

func TestProduceErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxBodyBytes: 1024})
	n.createTopic(t, "t1", 2)
	cases := []struct {
		name, path, ctype, body string
		status                  int
		want                    string
	}{
		{"unknown topic", "/topics/nope", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`, 404,
			`{"error_code":40401,"message":"Topic not found."}`},
		{"unknown partition", "/topics/t1/partitions/7", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`, 404,
			`{"error_code":40402,"message":"Partition not found."}`},
		{"record partition out of range", "/topics/t1", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1,"partition":2}]}`, 404,
			`{"error_code":40402,"message":"Partition not found."}`},
		{"bad media type", "/topics/t1", "text/csv", `a,b`, 415,
			`{"error_code":41501,"message":"Content-Type \"text/csv\" is not supported; use application/vnd.kafka.json.v2+json, application/vnd.kafka.binary.v2+json or application/json."}`},
		{"malformed", "/topics/t1", "application/vnd.kafka.json.v2+json", `{"records":`, 422,
			`{"error_code":42201,"message":"Malformed request body: unexpected end of JSON input"}`},
		{"no records", "/topics/t1", "application/vnd.kafka.json.v2+json", `{"records":[]}`, 422,
			`{"error_code":42201,"message":"Request has no records."}`},
		{"bad base64", "/topics/t1", "application/vnd.kafka.binary.v2+json", `{"records":[{"value":"!!"}]}`, 422,
			`{"error_code":42201,"message":"records[0].value: illegal base64 data at input byte 0"}`},
		{"bad header", "/topics/t1", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1,"headers":[{"key":"h","value":"%"}]}]}`, 422,
			`{"error_code":42201,"message":"records[0].headers[0].value: not base64: illegal base64 data at input byte 0"}`},
		{"too large", "/topics/t1", "application/vnd.kafka.json.v2+json", `{"records":[{"value":"` + strings.Repeat("x", 2000) + `"}]}`, 413,
			`{"error_code":41301,"message":"Request body exceeds the limit of 1024 bytes."}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := do(t, "POST", n.base+c.path, c.ctype, strings.NewReader(c.body))
			if status != c.status || body != c.want {
				t.Fatalf("got %d %s\nwant %d %s", status, body, c.status, c.want)
			}
		})
	}
	if got := n.totalRecords(t, "t1"); got != 0 {
		t.Fatalf("failed requests wrote %d records", got)
	}
}
