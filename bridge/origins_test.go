package bridge_test

import (
	"strings"
	"testing"

	"github.com/sluicemq/sluice/bridge"
)

// TestEnforceOrigins: with enforce_origins, writes carrying a foreign
// Origin (or Referer, for pixels) are refused with 403 before anything is
// written; allowed, same-origin and header-less requests pass.
func TestEnforceOrigins(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{AllowedOrigins: []string{"https://shop.example"}, EnforceOrigins: true, PublicTopics: []string{"web"}})
	n.createTopic(t, "web", 1)
	const evil = `{"error_code":40302,"message":"Origin http://evil.example may not write here (enforce_origins)."}`
	cases := []struct {
		method, path, ct, body string
		hdr                    []string
		status                 int
		want                   string
	}{
		{"POST", "/beacon/web", "text/plain", `{"e":1}`, []string{"Origin", "http://evil.example"}, 403, evil},
		{"GET", "/pixel/web.gif?e=2", "", "", []string{"Referer", "http://evil.example/page.html"}, 403, evil},
		{"POST", "/topics/web", "application/vnd.kafka.json.v2+json", `{"records":[{"value":3}]}`, []string{"Origin", "http://evil.example"}, 403, evil},
		{"POST", "/topics/web/ndjson", "application/x-ndjson", "{\"e\":4}\n", []string{"Origin", "http://evil.example"}, 403, evil},
		{"POST", "/topics/web/lines", "text/plain", "e5\n", []string{"Origin", "http://evil.example"}, 403, evil},
		{"POST", "/web/_bulk", "application/x-ndjson", "{\"index\":{}}\n{\"e\":6}\n", []string{"Origin", "http://evil.example"}, 403, evil},
		{"POST", "/beacon/web", "text/plain", `{"e":7}`, []string{"Origin", "null"}, 403, `{"error_code":40302,"message":"Origin null may not write here (enforce_origins)."}`},
		// Accepted: 5 records.
		{"POST", "/beacon/web", "text/plain", `{"e":"a"}`, []string{"Origin", "https://shop.example"}, 204, ""},
		{"GET", "/pixel/web.gif?e=b", "", "", []string{"Referer", "https://shop.example/checkout"}, 200, ""},
		{"POST", "/topics/web", "application/vnd.kafka.json.v2+json", `{"records":[{"value":"c"}]}`, nil, 200, ""},
		{"POST", "/beacon/web", "text/plain", `{"e":"d"}`, []string{"Origin", n.base}, 204, ""},
		{"POST", "/topics/web/lines", "text/plain", "e\n", []string{"Origin", "https://shop.example"}, 200, ""},
	}
	for _, c := range cases {
		var body *strings.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		var status int
		var resp string
		if body != nil {
			status, resp, _ = do(t, c.method, n.base+c.path, c.ct, body, c.hdr...)
		} else {
			status, resp, _ = do(t, c.method, n.base+c.path, c.ct, nil, c.hdr...)
		}
		if status != c.status || (c.want != "" && resp != c.want) {
			t.Fatalf("%s %s %v: %d %s", c.method, c.path, c.hdr, status, resp)
		}
	}
	recs := n.readAll(t, "web", 5)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if strings.Join(got, " ") != `{"e":"a"} {"e":"b"} "c" {"e":"d"} e` {
		t.Fatalf("records: %q", got)
	}
}
