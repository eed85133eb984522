package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesBadBridgeConfig: `sluice serve` does not start on an
// invalid bridge config, and its message names the key that is wrong.
func TestServeRefusesBadBridgeConfig(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"bare duration", `{"sse_retry": 2000}`, `key "sse_retry": a duration needs a unit: write it as a string like "2s"`},
		{"unknown key", `{"allowed_origin": ["https://a.example"]}`, `unknown key "allowed_origin"`},
		{"origin with path", `{"allowed_origins": ["https://a.example/app"]}`, `key "allowed_origins"[0]: "https://a.example/app": an origin has no path`},
		{"bad public pattern", `{"public_topics": ["web-*-x"]}`, `key "public_topics"[0]: "web-*-x": "*" may only end a pattern`},
		{"nested unknown key", `{"tokens": [{"token": "x", "topics": ["a"], "operation": ["produce"]}]}`, `key "tokens": json: unknown field "operation"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearServeEnv(t)
			file := filepath.Join(t.TempDir(), "bridge.json")
			if err := os.WriteFile(file, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stdout, stderr strings.Builder
			code := run(ctx, []string{"serve", "--data-dir", t.TempDir(), "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
				"--bridge-config", file}, &stdout, &stderr)
			if code != exitError || !strings.Contains(stderr.String(), c.want) || !strings.Contains(stderr.String(), "--bridge-config") {
				t.Fatalf("exit %d, stderr %q, want it to contain %q", code, stderr.String(), c.want)
			}
		})
	}
}
