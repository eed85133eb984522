package bridge_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/bridge"
)

func TestBeaconAndPixel(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{PublicTopics: []string{"web"}, HashClientIP: true, IPHashSalt: "pepper",
		Tokens: []bridge.Token{{Name: "svc", Secret: "s3cret", Topics: []string{"private"}, Operations: []string{"produce"}}}})
	n.createTopic(t, "web", 1)
	n.createTopic(t, "private", 1)

	send := func(ctype, body string, hdr ...string) (int, string) {
		t.Helper()
		status, resp, _ := do(t, "POST", n.base+"/beacon/web", ctype, strings.NewReader(body), hdr...)
		return status, resp
	}
	if s, b := send("text/plain;charset=UTF-8", `{"type":"page_view"}`, "Origin", "https://shop.example", "Referer", "https://shop.example/a", "User-Agent", "ua/1"); s != 204 || b != "" {
		t.Fatalf("json beacon: %d %q", s, b)
	}
	if s, b := send("text/plain", `just text`); s != 204 {
		t.Fatalf("text beacon: %d %s", s, b)
	}
	if s, b := send("application/x-www-form-urlencoded", `a=1&b=x&b=y`); s != 204 {
		t.Fatalf("form beacon: %d %s", s, b)
	}
	resp, err := http.Get(n.base + "/pixel/web.gif?ev=open&id=42")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || resp.ContentLength != 43 ||
		resp.Header.Get("Cache-Control") != "no-store, no-cache, must-revalidate, max-age=0" {
		t.Fatalf("pixel: %d %v", resp.StatusCode, resp.Header)
	}
	recs := n.readAll(t, "web", 4)
	wantValues := []string{`{"type":"page_view"}`, `just text`, `{"a":"1","b":["x","y"]}`, `{"ev":"open","id":"42"}`}
	wantTypes := []string{"application/json", "text/plain", "application/json", "application/json"}
	for i, r := range recs {
		if string(r.Value) != wantValues[i] {
			t.Fatalf("record %d value %s, want %s", i, r.Value, wantValues[i])
		}
		h := headerMap(r)
		if h[bridge.HeaderContentType] != wantTypes[i] || len(h[bridge.HeaderClientIP]) != 32 || h[bridge.HeaderClientIP] == "127.0.0.1" {
			t.Fatalf("record %d headers %v", i, h)
		}
	}
	if h := headerMap(recs[0]); h[bridge.HeaderOrigin] != "https://shop.example" || h[bridge.HeaderReferer] != "https://shop.example/a" || h[bridge.HeaderUserAgent] != "ua/1" {
		t.Fatalf("context headers %v", h)
	}

	// Non-public topics need a token granting produce.
	status, body, _ := do(t, "POST", n.base+"/beacon/private", "text/plain", strings.NewReader("{}"))
	if status != 401 || body != `{"error_code":40101,"message":"Authentication required: send a bearer token, X-API-Key, ApiKey or Basic credentials."}` {
		t.Fatalf("anonymous private beacon: %d %s", status, body)
	}
	status, _, _ = do(t, "POST", n.base+"/beacon/private", "text/plain", strings.NewReader("{}"), "Authorization", "Bearer s3cret")
	if status != 204 {
		t.Fatalf("token beacon: %d", status)
	}
	status, body, _ = do(t, "GET", n.base+"/pixel/private.gif?access_token=wrong", "", nil)
	if status != 401 || body != `{"error_code":40101,"message":"Invalid credentials."}` {
		t.Fatalf("bad token pixel: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/beacon/web", "image/png", strings.NewReader("x"))
	if status != 415 || !strings.HasPrefix(body, `{"error_code":41501,`) {
		t.Fatalf("bad beacon type: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/beacon/web", "text/plain", strings.NewReader(""))
	if status != 422 || body != `{"error_code":42201,"message":"Beacon body is empty."}` {
		t.Fatalf("empty beacon: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/beacon/web", "text/plain", strings.NewReader(strings.Repeat("x", 70000)))
	if status != 413 || body != `{"error_code":41301,"message":"Request body exceeds the limit of 65536 bytes."}` {
		t.Fatalf("big beacon: %d %s", status, body)
	}
	if got := n.totalRecords(t, "web"); got != 4 {
		t.Fatalf("web has %d records after rejected beacons", got)
	}
	n.readAll(t, "private", 1)
}

func TestAuthGrants(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{Tokens: []bridge.Token{
		{Name: "writer", Secret: "w", Topics: []string{"logs-*"}, Operations: []string{"produce"}},
		{Name: "reader", Secret: "r", Topics: []string{"*"}, Operations: []string{"consume"}},
	}})
	n.createTopic(t, "logs-app", 1)
	n.createTopic(t, "other", 1)
	body := `{"records":[{"value":1}]}`
	ct := "application/vnd.kafka.json.v2+json"
	cases := []struct {
		path   string
		hdr    []string
		status int
		want   string
	}{
		{"/topics/logs-app", nil, 401, `{"error_code":40101,"message":"Authentication required: send a bearer token, X-API-Key, ApiKey or Basic credentials."}`},
		{"/topics/logs-app", []string{"Authorization", "Bearer nope"}, 401, `{"error_code":40101,"message":"Invalid credentials."}`},
		{"/topics/other", []string{"Authorization", "Bearer w"}, 403, `{"error_code":40301,"message":"User:writer may not produce topic other."}`},
		{"/topics/logs-app", []string{"X-API-Key", "r"}, 403, `{"error_code":40301,"message":"User:reader may not produce topic logs-app."}`},
		{"/topics/logs-app", []string{"X-API-Key", "w"}, 200, ""},
	}
	for _, c := range cases {
		status, resp, _ := do(t, "POST", n.base+c.path, ct, strings.NewReader(body), c.hdr...)
		if status != c.status || (c.want != "" && resp != c.want) {
			t.Fatalf("%s %v: %d %s", c.path, c.hdr, status, resp)
		}
	}
	status, resp, _ := do(t, "GET", n.base+"/topics", "", nil, "Authorization", "Bearer w")
	var names []string
	if status != 200 || json.Unmarshal([]byte(resp), &names) != nil || strings.Join(names, ",") != "logs-app" {
		t.Fatalf("list topics as writer: %d %s", status, resp)
	}
	status, resp, _ = do(t, "GET", n.base+"/topics/other", "", nil, "Authorization", "Bearer r")
	if status != 200 || resp != `{"configs":{},"name":"other","partitions":[{"partition":0,"leader":0,"replicas":[{"broker":0,"leader":true,"in_sync":true}]}]}` {
		t.Fatalf("describe: %d %s", status, resp)
	}
	status, resp, _ = do(t, "GET", n.base+"/topics/nope", "", nil, "Authorization", "Bearer r")
	if status != 404 || resp != `{"error_code":40401,"message":"Topic not found."}` {
		t.Fatalf("describe missing: %d %s", status, resp)
	}
}

func TestRateLimitAndCORS(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{PublicTopics: []string{"web"}, RateLimitPerSecond: 0.001, RateLimitBurst: 3,
		AllowedOrigins: []string{"https://shop.example"}})
	n.createTopic(t, "web", 1)
	for i := 0; i < 3; i++ {
		if status, body, _ := do(t, "POST", n.base+"/beacon/web", "text/plain", strings.NewReader(`{}`)); status != 204 {
			t.Fatalf("beacon %d: %d %s", i, status, body)
		}
	}
	status, body, hdr := do(t, "POST", n.base+"/beacon/web", "text/plain", strings.NewReader(`{}`))
	if status != 429 || body != `{"error_code":42901,"message":"Rate limit exceeded for this client."}` || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %s %v", status, body, hdr)
	}
	if got := n.totalRecords(t, "web"); got != 3 {
		t.Fatalf("%d records, want 3", got)
	}

	// Preflight from an allowed origin: exact origin echoed with credentials.
	status, _, hdr = do(t, "OPTIONS", n.base+"/topics/web", "", nil, "Origin", "https://shop.example",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,authorization")
	if status != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		hdr.Get("Access-Control-Allow-Credentials") != "true" || hdr.Get("Access-Control-Allow-Headers") != "content-type,authorization" {
		t.Fatalf("preflight: %d %v", status, hdr)
	}
	status, body, hdr = do(t, "OPTIONS", n.base+"/topics/web", "", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if status != 403 || hdr.Get("Access-Control-Allow-Origin") != "" || body != `{"error_code":40301,"message":"Origin https://evil.example is not allowed."}` {
		t.Fatalf("disallowed preflight: %d %s %v", status, body, hdr)
	}
	_, _, hdr = do(t, "GET", n.base+"/healthz", "", nil, "Origin", "https://shop.example")
	if hdr.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("simple request CORS: %v", hdr)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{})
	for path, want := range map[string]string{"/healthz": `{"status":"ok"}`, "/readyz": `{"status":"ready"}`} {
		if status, body, _ := do(t, "GET", n.base+path, "", nil); status != 200 || body != want {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}
}
