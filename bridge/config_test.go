package bridge_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicemq/sluice/bridge"
)

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "bridge.json")
	os.WriteFile(good, []byte(`{
  "allowed_origins": ["https://shop.example"],
  "public_topics": ["web"],
  "tokens": [{"name": "ci", "token": "abc", "topics": ["logs-*"], "operations": ["produce"]}],
  "rate_limit_per_second": 5, "rate_limit_burst": 10,
  "max_body_bytes": 1048576, "read_timeout": "5s", "sse_heartbeat": "1m", "hash_client_ip": true
}`), 0o644)
	cfg, err := bridge.LoadConfigFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AllowedOrigins[0] != "https://shop.example" || cfg.PublicTopics[0] != "web" || cfg.Tokens[0].Secret != "abc" ||
		cfg.Tokens[0].Topics[0] != "logs-*" || cfg.RateLimitPerSecond != 5 || cfg.RateLimitBurst != 10 || cfg.MaxBodyBytes != 1<<20 ||
		time.Duration(cfg.ReadTimeout) != 5*time.Second || time.Duration(cfg.SSEHeartbeat) != time.Minute || !cfg.HashClientIP {
		t.Fatalf("config %+v", cfg)
	}
	for name, body := range map[string]string{
		"typo":      `{"max_body_byte": 1}`,
		"bad op":    `{"tokens":[{"token":"x","operations":["delete"]}]}`,
		"no secret": `{"tokens":[{"name":"x"}]}`,
		"bad dur":   `{"read_timeout":"soon"}`,
	} {
		p := filepath.Join(dir, "bad.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := bridge.LoadConfigFile(p); !errors.Is(err, bridge.ErrConfig) {
			t.Errorf("%s: err %v, want ErrConfig", name, err)
		}
	}
}
