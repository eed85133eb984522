package bridge_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/sluicemq/sluice/bridge"
)

func TestNDJSONAndArray(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "logs", 1)
	status, body, _ := do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson",
		strings.NewReader("{\"m\":1}\n\n{\"m\":2}\n{\"m\":3}"))
	if status != 200 || !strings.Contains(body, `{"partition":0,"offset":2,"error_code":null,"error":null}`) {
		t.Fatalf("ndjson: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/json", strings.NewReader(`[{"m":4},"five"]`))
	if status != 200 {
		t.Fatalf("array: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/logs", "application/json", strings.NewReader(`[{"m":6}]`))
	if status != 200 {
		t.Fatalf("array on /topics: %d %s", status, body)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("{\"m\":7}\n{\"m\":8}\n"))
	zw.Close()
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", &gz, "Content-Encoding", "gzip")
	if status != 200 {
		t.Fatalf("gzip: %d %s", status, body)
	}
	enc, _ := zstd.NewWriter(nil)
	zs := enc.EncodeAll([]byte(`{"m":9}`+"\n"), nil)
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", bytes.NewReader(zs), "Content-Encoding", "zstd")
	if status != 200 {
		t.Fatalf("zstd: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", strings.NewReader("{\"ok\":1}\nnot json\n"))
	if status != 422 || body != `{"error_code":42201,"message":"Line 2 is not valid JSON."}` {
		t.Fatalf("bad line: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", strings.NewReader("{}"), "Content-Encoding", "br")
	if status != 415 || body != `{"error_code":41501,"message":"Content-Encoding \"br\" is not supported (use gzip or zstd)."}` {
		t.Fatalf("brotli: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", strings.NewReader("{}"), "Content-Encoding", "gzip")
	if status != 400 || !strings.HasPrefix(body, `{"error_code":42201,"message":"Cannot read gzip:`) {
		t.Fatalf("corrupt gzip: %d %s", status, body)
	}
	var got []string
	for _, r := range n.readAll(t, "logs", 9) {
		got = append(got, string(r.Value))
	}
	want := `{"m":1} {"m":2} {"m":3} {"m":4} "five" {"m":6} {"m":7} {"m":8} {"m":9}`
	if strings.Join(got, " ") != want {
		t.Fatalf("values %v", got)
	}
}

// A gzip bomb is cut at the decoded limit.
func TestDecodedSizeLimit(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxBodyBytes: 4096})
	n.createTopic(t, "logs", 1)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"m":"` + strings.Repeat("a", 100000) + `"}`))
	zw.Close()
	status, body, _ := do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", &gz, "Content-Encoding", "gzip")
	if status != 413 || body != `{"error_code":41301,"message":"Request body exceeds the limit of 4096 bytes."}` {
		t.Fatalf("%d %s", status, body)
	}
}

func TestElasticsearchBulk(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "app-logs", 1)
	n.createTopic(t, "audit", 1)
	bulk := `{"index":{"_index":"app-logs","_id":"a1"}}
{"msg":"one"}
{"create":{}}
{"msg":"two"}
{"index":{"_index":"audit"}}
{"msg":"three"}
{"delete":{"_index":"app-logs","_id":"a1"}}
`
	status, body, hdr := do(t, "POST", n.base+"/app-logs/_bulk", "application/x-ndjson", strings.NewReader(bulk))
	if status != 200 || hdr.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("bulk: %d %s", status, body)
	}
	want := `"errors":true,"items":[` +
		`{"index":{"_index":"app-logs","_id":"a1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"create":{"_index":"app-logs","_id":"0-1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":201}},` +
		`{"index":{"_index":"audit","_id":"0-0","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"delete":{"_index":"app-logs","_id":"a1","status":400,"error":{"type":"illegal_argument_exception","reason":"delete is not supported: topics are append-only"}}}]}`
	if !strings.HasSuffix(body, want) {
		t.Fatalf("bulk response:\n got %s\nwant suffix %s", body, want)
	}
	recs := n.readAll(t, "app-logs", 2)
	if string(recs[0].Key) != "a1" || string(recs[0].Value) != `{"msg":"one"}` || recs[1].Key != nil || string(recs[1].Value) != `{"msg":"two"}` {
		t.Fatalf("app-logs records: %q=%s %q=%s", recs[0].Key, recs[0].Value, recs[1].Key, recs[1].Value)
	}
	n.readAll(t, "audit", 1)

	status, body, _ = do(t, "POST", n.base+"/_bulk", "application/x-ndjson", strings.NewReader("{\"index\":{}}\n"))
	if status != 400 || body != `{"error":{"reason":"action [index] at line [1] has no source document","root_cause":[{"type":"illegal_argument_exception","reason":"action [index] at line [1] has no source document"}],"type":"illegal_argument_exception"},"status":400}` {
		t.Fatalf("bad bulk: %d %s", status, body)
	}
	status, body, _ = do(t, "GET", n.base+"/", "", nil)
	if status != 200 || !strings.Contains(body, `"tagline":"You Know, for Search"`) {
		t.Fatalf("es info: %d %s", status, body)
	}
}
