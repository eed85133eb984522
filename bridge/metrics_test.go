package bridge_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

// scrape reads /metrics as series → value (the text format's sample
// lines; metrics are process-wide, so tests compare differences).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	status, body, _ := do(t, "GET", base+"/metrics", "", nil)
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestBridgeMetrics: after a known mix of accepted and refused requests,
// the bridge series on /metrics moved by exactly that mix.
func TestBridgeMetrics(t *testing.T) {
	n := startNode(t, bridge.Config{
		Tokens:             []bridge.Token{{Name: "ci", Secret: "t", Topics: []string{"*"}, Operations: []string{"*"}}},
		PublicTopics:       []string{"m"},
		AllowedOrigins:     []string{"https://ok.example"},
		EnforceOrigins:     true,
		RateLimitPerSecond: 0.001,
		RateLimitBurst:     3,
	})
	n.createTopic(t, "m", 1)
	before := scrape(t, n.base)
	linesSent := 0
	req := func(method, path, ct, body string, status int, hdr ...string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		got, resp, _ := do(t, method, n.base+path, ct, rd, hdr...)
		if got != status {
			t.Fatalf("%s %s: %d %s, want %d", method, path, got, resp, status)
		}
		if strings.HasSuffix(path, "/lines") {
			linesSent += len(resp)
		}
	}
	bearer := []string{"Authorization", "Bearer t"}
	req("POST", "/topics/m/lines", "text/plain", "a\nb\n", 200, bearer...)                    // 2 records, 4 bytes read
	req("POST", "/topics/m/lines", "text/plain", "c\n", 401, "Authorization", "Bearer wrong") // body never read
	req("POST", "/topics/nosuch/lines", "text/plain", "x\n", 404, bearer...)                  // 2 bytes read
	req("POST", "/beacon/m", "text/plain", `{"e":1}`, 204, "Origin", "https://ok.example")
	req("POST", "/beacon/m", "text/plain", `{"e":2}`, 403, "Origin", "http://evil.example") // before the rate limit
	req("POST", "/beacon/m", "multipart/form-data; boundary=x", "--x--", 415)
	req("POST", "/beacon/m", "text/plain", `{"e":3}`, 204)
	req("POST", "/beacon/m", "text/plain", `{"e":4}`, 429) // burst of 3 spent
	req("GET", "/nope", "", "", 404)
	req("POST", "/topics/m/events", "", "", 405)
	req("BREW", "/topics/m", "", "", 405) // any method token: labelled "other"

	// One event stream open: the gauge counts it.
	sreq, _ := http.NewRequest("GET", n.base+"/topics/m/events?access_token=t", nil)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil || sresp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", err, sresp)
	}
	during := scrape(t, n.base)
	if d := during["sluice_bridge_sse_clients"] - before["sluice_bridge_sse_clients"]; d != 1 {
		t.Fatalf("sse clients moved by %v with one stream open", d)
	}
	sresp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, n.base)["sluice_bridge_sse_clients"] != before["sluice_bridge_sse_clients"] {
		if time.Now().After(deadline) {
			t.Fatal("sse clients gauge did not drop after the stream closed")
		}
		time.Sleep(50 * time.Millisecond)
	}

	after := scrape(t, n.base)
	want := map[string]float64{
		`sluice_bridge_requests_total{method="POST",route="/topics/{topic}/lines",status="200"}`: 1,
		`sluice_bridge_requests_total{method="POST",route="/topics/{topic}/lines",status="401"}`: 1,
		`sluice_bridge_requests_total{method="POST",route="/topics/{topic}/lines",status="404"}`: 1,
		`sluice_bridge_requests_total{method="POST",route="/beacon/{topic}",status="204"}`:       2,
		`sluice_bridge_requests_total{method="POST",route="/beacon/{topic}",status="403"}`:       1,
		`sluice_bridge_requests_total{method="POST",route="/beacon/{topic}",status="415"}`:       1,
		`sluice_bridge_requests_total{method="POST",route="/beacon/{topic}",status="429"}`:       1,
		`sluice_bridge_requests_total{method="GET",route="unmatched",status="404"}`:              1,
		`sluice_bridge_requests_total{method="POST",route="unmatched",status="405"}`:             1,
		`sluice_bridge_requests_total{method="other",route="unmatched",status="405"}`:            1,
		`sluice_bridge_requests_total{method="GET",route="/topics/{topic}/events",status="200"}`: 1,
		`sluice_bridge_rejected_total{reason="unauthenticated"}`:                                 1,
		`sluice_bridge_rejected_total{reason="topic_not_found"}`:                                 1,
		`sluice_bridge_rejected_total{reason="origin"}`:                                          1,
		`sluice_bridge_rejected_total{reason="unsupported_media_type"}`:                          1,
		`sluice_bridge_rejected_total{reason="rate_limited"}`:                                    1,
		`sluice_bridge_rejected_total{reason="route_not_found"}`:                                 1,
		`sluice_bridge_rejected_total{reason="method_not_allowed"}`:                              2,
		`sluice_bridge_records_produced_total{topic="m"}`:                                        4,
		`sluice_bridge_request_seconds_count{route="/beacon/{topic}"}`:                           5,
		`sluice_bridge_request_seconds_count{route="/topics/{topic}/lines"}`:                     3,
		`sluice_bridge_received_bytes_total{route="/topics/{topic}/lines"}`:                      6,
		`sluice_bridge_sent_bytes_total{route="/topics/{topic}/lines"}`:                          float64(linesSent),
	}
	for series, w := range want {
		if got := after[series] - before[series]; got != w {
			t.Errorf("%s moved by %v, want %v", series, got, w)
		}
	}
	// Nothing else was refused.
	var rejected float64
	for series, v := range after {
		if strings.HasPrefix(series, "sluice_bridge_rejected_total{") {
			rejected += v - before[series]
		}
	}
	if rejected != 8 {
		t.Errorf("rejected_total moved by %v in all, want 8", rejected)
	}
}
