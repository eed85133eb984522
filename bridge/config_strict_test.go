package bridge_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

// TestConfigStrict: each config mistake that used to be accepted silently
// is refused with a message naming the key, and what can be normalised is.
func TestConfigStrict(t *testing.T) {
	dir := t.TempDir()
	load := func(body string) (bridge.Config, error) {
		p := filepath.Join(dir, "bridge.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return bridge.LoadConfigFile(p)
	}
	for _, c := range []struct{ body, want string }{
		{`{"sse_retry": 2000}`, `key "sse_retry": a duration needs a unit: write it as a string like "2s", "500ms" or "1m" (a bare number is refused)`},
		{`{"read_timeout": "soon"}`, `key "read_timeout": "soon" is not a duration`},
		{`{"produce_timeout": "-1s"}`, `key "produce_timeout": -1s is negative`},
		{`{"max_body_bytes": -5}`, `key "max_body_bytes": -5 is negative`},
		{`{"max_body_byte": 1}`, `unknown key "max_body_byte"`},
		{`{"tokens": [{"token": "x", "topic": ["a"]}]}`, `key "tokens": json: unknown field "topic"`},
		{`{"allowed_origins": ["shop.example"]}`, `key "allowed_origins"[0]: "shop.example" is not an origin: write scheme://host[:port]`},
		{`{"allowed_origins": ["https://shop.example/checkout"]}`, `key "allowed_origins"[0]: "https://shop.example/checkout": an origin has no path`},
		{`{"allowed_origins": ["ftp://shop.example"]}`, `key "allowed_origins"[0]: "ftp://shop.example": the scheme must be http or https`},
		{`{"allowed_origins": ["https://*.shop.example"]}`, `key "allowed_origins"[0]: "https://*.shop.example": wildcards inside an origin are not supported`},
		{`{"public_topics": ["web-*-x"]}`, `key "public_topics"[0]: "web-*-x": "*" may only end a pattern`},
		{`{"public_topics": [""]}`, `key "public_topics"[0]: empty topic or group pattern`},
		{`{"tokens": [{"token": "x", "topics": ["*-logs"]}]}`, `key "tokens"[0].topics[0]: "*-logs": "*" may only end a pattern`},
	} {
		_, err := load(c.body)
		if !errors.Is(err, bridge.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want ErrConfig containing %q", c.body, err, c.want)
		}
	}
	cfg, err := load(`{"allowed_origins": ["https://Shop.Example/", "http://localhost:3000", "*"], "sse_retry": "2s", "public_topics": ["web-*"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.AllowedOrigins, " ") != "https://shop.example http://localhost:3000 *" || time.Duration(cfg.SSERetry) != 2*time.Second {
		t.Fatalf("normalised config: %q %v", cfg.AllowedOrigins, time.Duration(cfg.SSERetry))
	}
	// New refuses what LoadConfigFile refuses (a config built in code).
	if _, err := bridge.New(bridge.Config{Brokers: []string{"127.0.0.1:1"}, PublicTopics: []string{"a*b"}}); !errors.Is(err, bridge.ErrConfig) {
		t.Fatalf("New with a bad pattern: %v", err)
	}
}

// TestConfigNormalisedInUse: an origin written with a trailing slash
// allows that origin's preflights, and public topic patterns admit
// anonymous beacons as token patterns do.
func TestConfigNormalisedInUse(t *testing.T) {
	n := startNode(t, bridge.Config{
		AllowedOrigins: []string{"https://shop.example/"},
		PublicTopics:   []string{"web-*"},
		Tokens:         []bridge.Token{{Name: "ci", Secret: "t", Topics: []string{"*"}, Operations: []string{"*"}}},
	})
	n.createTopic(t, "web-clicks", 1)
	n.createTopic(t, "private", 1)
	status, _, h := do(t, "OPTIONS", n.base+"/beacon/web-clicks", "", nil,
		"Origin", "https://shop.example", "Access-Control-Request-Method", "POST")
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Fatalf("preflight: %d %v", status, h)
	}
	status, body, _ := do(t, "POST", n.base+"/beacon/web-clicks", "text/plain", strings.NewReader(`{"e":"click"}`), "Origin", "https://shop.example")
	if status != 204 {
		t.Fatalf("beacon to a public pattern: %d %s", status, body)
	}
	status, body, _ = do(t, "POST", n.base+"/beacon/private", "text/plain", strings.NewReader(`{"e":"click"}`))
	if status != 401 {
		t.Fatalf("beacon to a non-public topic: %d %s", status, body)
	}
	n.readAll(t, "web-clicks", 1)
}
