package bridge_test

import (
	"strings"
	"testing"

	"github.com/sluicemq/sluice/bridge"
)

// TestCollectDedupe: /collect stores each event once per event id within
// the window; repeats (a tracker's retries) are answered as duplicates.
func TestCollectDedupe(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{PublicTopics: []string{"tracked"}, Tokens: []bridge.Token{{Secret: "x", Topics: []string{"none"}}}})
	n.createTopic(t, "tracked", 2)
	post := func(body string, status int, want string) {
		t.Helper()
		got, resp, _ := do(t, "POST", n.base+"/collect/tracked", "text/plain;charset=UTF-8", strings.NewReader(body))
		if got != status || resp != want {
			t.Fatalf("collect %s: %d %s, want %d %s", body, got, resp, status, want)
		}
	}
	post(`{"events":[{"eid":"a","sid":"s1","type":"page_view"},{"eid":"b","sid":"s1"},{"eid":"c","sid":"s2"}]}`, 200, `{"accepted":3,"duplicates":0}`)
	post(`{"events":[{"eid":"b","sid":"s1"},{"eid":"c","sid":"s2"},{"eid":"d","sid":"s1"}]}`, 200, `{"accepted":1,"duplicates":2}`)
	post(`[{"eid":"e"},{"eid":"e"}]`, 200, `{"accepted":1,"duplicates":1}`)
	post(`{"events":[{"eid":"a"}]}`, 200, `{"accepted":0,"duplicates":1}`)
	post(`{"events":[{"name":"no id"}]}`, 422, `{"error_code":42201,"message":"Event 0 is not an object with a string \"eid\" of 1 to 64 characters."}`)
	post(`{"events":[]}`, 422, `{"error_code":42201,"message":"Request has no events."}`)
	if got, resp, _ := do(t, "POST", n.base+"/collect/private", "text/plain", strings.NewReader(`[{"eid":"z"}]`)); got != 401 {
		t.Fatalf("collect to a non-public topic: %d %s", got, resp)
	}
	recs := n.readAll(t, "tracked", 5)
	seen := map[string]string{}
	for _, r := range recs {
		id := headerMap(r)[bridge.HeaderEventID]
		if _, dup := seen[id]; dup || !strings.Contains(string(r.Value), `"eid":"`+id+`"`) {
			t.Fatalf("record %s (event id %s) repeated or mislabelled", r.Value, id)
		}
		seen[id] = string(r.Key)
	}
	if len(seen) != 5 || seen["a"] != "s1" || seen["b"] != "s1" || seen["d"] != "s1" || seen["c"] != "s2" || seen["e"] != "" {
		t.Fatalf("events and keys: %v", seen)
	}
	status, js, h := do(t, "GET", n.base+"/sluice.js", "", nil)
	if status != 200 || h.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(js, "w.sluice = api") {
		t.Fatalf("/sluice.js: %d %v", status, h)
	}
}
