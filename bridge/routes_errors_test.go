package bridge_test

import (
	"testing"

	"github.com/sluicemq/sluice/bridge"
)

// TestRouteErrors: unknown paths are 404 and known paths with another
// method 405, each with a v2 error body, exactly one Allow header on 405,
// and CORS headers for an allowed origin only.
func TestRouteErrors(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{AllowedOrigins: []string{"https://shop.example"}})
	cases := []struct {
		method, path string
		status       int
		allow        string
		body         string
	}{
		{"GET", "/nonexistent", 404, "", `{"error_code":40400,"message":"No route for GET /nonexistent."}`},
		{"POST", "/nonexistent", 404, "", `{"error_code":40400,"message":"No route for POST /nonexistent."}`},
		{"GET", "/topics/t/foo", 404, "", `{"error_code":40400,"message":"No route for GET /topics/t/foo."}`},
		{"DELETE", "/topics/t/partitions/0/x", 404, "", `{"error_code":40400,"message":"No route for DELETE /topics/t/partitions/0/x."}`},
		{"POST", "/topics/t/events", 405, "GET, OPTIONS", `{"error_code":40501,"message":"Method POST is not allowed on /topics/t/events; allowed: GET, OPTIONS."}`},
		{"DELETE", "/topics/t", 405, "GET, POST, OPTIONS", `{"error_code":40501,"message":"Method DELETE is not allowed on /topics/t; allowed: GET, POST, OPTIONS."}`},
		{"GET", "/_bulk", 405, "POST, PUT, OPTIONS", `{"error_code":40501,"message":"Method GET is not allowed on /_bulk; allowed: POST, PUT, OPTIONS."}`},
		{"GET", "/beacon/web", 405, "POST, OPTIONS", `{"error_code":40501,"message":"Method GET is not allowed on /beacon/web; allowed: POST, OPTIONS."}`},
		{"PUT", "/healthz", 405, "GET, OPTIONS", `{"error_code":40501,"message":"Method PUT is not allowed on /healthz; allowed: GET, OPTIONS."}`},
		{"POST", "/pixel/web.gif", 405, "GET, OPTIONS", `{"error_code":40501,"message":"Method POST is not allowed on /pixel/web.gif; allowed: GET, OPTIONS."}`},
	}
	for _, c := range cases {
		for _, origin := range []string{"https://shop.example", "http://evil.example", ""} {
			var hdr []string
			if origin != "" {
				hdr = []string{"Origin", origin}
			}
			status, body, h := do(t, c.method, n.base+c.path, "", nil, hdr...)
			if status != c.status || body != c.body || h.Get("Content-Type") != "application/vnd.kafka.v2+json" {
				t.Fatalf("%s %s (%s): %d %s %v", c.method, c.path, origin, status, body, h)
			}
			if allow := h.Values("Allow"); (c.allow == "" && len(allow) != 0) || (c.allow != "" && (len(allow) != 1 || allow[0] != c.allow)) {
				t.Fatalf("%s %s: Allow %q, want %q", c.method, c.path, allow, c.allow)
			}
			want := ""
			if origin == "https://shop.example" {
				want = origin
			}
			if acao := h.Get("Access-Control-Allow-Origin"); acao != want {
				t.Fatalf("%s %s (%s): Access-Control-Allow-Origin %q, want %q", c.method, c.path, origin, acao, want)
			}
		}
	}
	// A preflight for an unknown path is still answered by CORS.
	status, _, h := do(t, "OPTIONS", n.base+"/topics/web", "", nil, "Origin", "https://shop.example", "Access-Control-Request-Method", "POST")
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("preflight: %d %v", status, h)
	}
}
