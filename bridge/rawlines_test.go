package bridge_test

import (
	"strings"
	"testing"

	"github.com/sluicemq/sluice/bridge"
)

// TestRawLines: text/plain bodies become one record per line, byte for
// byte; other content types and empty bodies are refused.
func TestRawLines(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	n.createTopic(t, "raw", 1)
	body := "Dec  6 07:00:01 host app[1]: started\r\n\nnot {json} at all\n  indented \"quoted\"\nlast line without newline"
	status, resp, _ := do(t, "POST", n.base+"/topics/raw/lines", "text/plain; charset=utf-8", strings.NewReader(body))
	if status != 200 || resp != `{"offsets":[`+
		`{"partition":0,"offset":0,"error_code":null,"error":null},{"partition":0,"offset":1,"error_code":null,"error":null},`+
		`{"partition":0,"offset":2,"error_code":null,"error":null},{"partition":0,"offset":3,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}` {
		t.Fatalf("lines: %d %s", status, resp)
	}
	status, resp, _ = do(t, "POST", n.base+"/topics/raw/lines", "application/x-ndjson", strings.NewReader("{}\n"))
	if status != 415 || resp != `{"error_code":41501,"message":"Content-Type \"application/x-ndjson\" is not supported; send text/plain, one record per line (JSON lines go to /topics/{topic}/ndjson)."}` {
		t.Fatalf("ndjson to lines: %d %s", status, resp)
	}
	status, resp, _ = do(t, "POST", n.base+"/topics/raw/lines", "text/plain", strings.NewReader("\n\r\n"))
	if status != 422 || resp != `{"error_code":42201,"message":"Request has no lines."}` {
		t.Fatalf("empty: %d %s", status, resp)
	}
	status, resp, _ = do(t, "POST", n.base+"/topics/nosuch/lines", "text/plain", strings.NewReader("x\n"))
	if status != 404 || resp != `{"error_code":40401,"message":"Topic not found."}` {
		t.Fatalf("missing topic: %d %s", status, resp)
	}
	want := []string{"Dec  6 07:00:01 host app[1]: started", "not {json} at all", `  indented "quoted"`, "last line without newline"}
	for i, r := range n.readAll(t, "raw", len(want)) {
		if string(r.Value) != want[i] || headerMap(r)["content-type"] != "text/plain" {
			t.Fatalf("record %d: %q %v", i, r.Value, headerMap(r))
		}
	}
}
