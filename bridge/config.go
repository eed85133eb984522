package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/pipeline"
)

// Config configures the bridge. Zero values take the default documented on
// each field (see withDefaults); LoadConfigFile reads the same options from
// JSON, using the json names below.
type Config struct {
	// Brokers are Kafka bootstrap addresses (the broker's own listener).
	// Filled in by node.
	Brokers []string `json:"-"`
	// Pipeline, when set, is what produces go through: appended
	// in-process to the partitions this broker leads (the topic's
	// partitioner and transform run there), a Kafka client for the rest;
	// SSE filtering goes through it too. nil: produces go over the
	// bridge's own Kafka client. Filled in by node.
	Pipeline *pipeline.Pipeline `json:"-"`
	// Logger; default slog.Default().
	Logger *slog.Logger `json:"-"`
	// Dialer, when set, opens the bridge's Kafka connections (node
	// gives the broker's in-process dialer: connections that need no
	// credentials and are not filtered, since the bridge authorizes and
	// filters per HTTP principal itself).
	Dialer func(ctx context.Context, network, host string) (net.Conn, error) `json:"-"`
	// Authorizer decides what each principal may do (Write/Read/Describe
	// on topics, Read on groups); the tokens' grants and PublicTopics are
	// added in front of it. nil or auth.AllowAll: only the grants decide
	// when tokens are configured, and the bridge is open when none are.
	// Filled in by node.
	Authorizer auth.Authorizer `json:"-"`
	// KafkaOpts are added to every Kafka client of the bridge (SASL and TLS
	// to reach a secured listener). Filled in by node.
	KafkaOpts []kgo.Opt `json:"-"`
	// PasswordVerifier, when set, lets HTTP Basic authenticate broker
	// users (User:<name>, authorized by Authorizer) besides tokens.
	// Filled in by node.
	PasswordVerifier auth.PasswordVerifier `json:"-"`

	// AllowedOrigins are the CORS origins allowed to call the bridge ("*"
	// allows any; credentialed requests always get the exact origin echoed).
	// Default: none (no CORS headers, same-origin pages only).
	AllowedOrigins []string `json:"allowed_origins"`
	// EnforceOrigins refuses (403) writes (produce, ndjson, lines, bulk,
	// beacon, pixel) whose Origin (or, without one, Referer) is neither
	// on AllowedOrigins nor the bridge's own. A quota guard against other
	// sites' pages, not authentication: non-browser clients choose their
	// headers. Default false.
	EnforceOrigins bool `json:"enforce_origins"`

	// Tokens are the bearer tokens / API keys, the principal each
	// authenticates as, and what each may do. With no tokens and no
	// authorizer configured the bridge runs open: every request is allowed.
	Tokens []Token `json:"tokens"`
	// PublicTopics accept anonymous beacons and pixels: Write for
	// User:ANONYMOUS on these topics. Default: none.
	PublicTopics []string `json:"public_topics"`

	// RateLimitPerSecond is the per-client-IP request rate allowed on the
	// anonymous endpoints (beacon, pixel). Default 50; negative disables.
	RateLimitPerSecond float64 `json:"rate_limit_per_second"`
	// RateLimitBurst is the bucket size for that rate. Default 100.
	RateLimitBurst int `json:"rate_limit_burst"`

	// MaxBodyBytes bounds a request body after decompression. Default 8 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// MaxBeaconBytes bounds beacon and pixel payloads. Default 64 KiB.
	MaxBeaconBytes int64 `json:"max_beacon_bytes"`
	// ReadHeaderTimeout is the time allowed to read request headers (the
	// slowloris guard); applied by ConfigureServer. Default 10s.
	ReadHeaderTimeout Duration `json:"read_header_timeout"`
	// ReadTimeout is the time allowed to read a whole request, headers
	// and body (http.Server.ReadTimeout; event streams clear it). A client
	// trickling its body is cut off at this point. Default 30s.
	ReadTimeout Duration `json:"read_timeout"`
	// WriteTimeout is the time allowed from the end of the request's
	// headers to the end of the response (http.Server.WriteTimeout);
	// event streams instead get SSEWriteTimeout per write. It must exceed
	// ProduceTimeout and the 30s records long-poll. Default 60s.
	WriteTimeout Duration `json:"write_timeout"`
	// IdleTimeout closes keep-alive connections idle this long
	// (http.Server.IdleTimeout). Default 120s.
	IdleTimeout Duration `json:"idle_timeout"`
	// ProduceTimeout bounds how long a produce waits for the broker's
	// acknowledgement before answering 503. Default 30s.
	ProduceTimeout Duration `json:"produce_timeout"`
	// ProduceBufferBytes bounds the bytes of records being published at
	// once (waiting for their acknowledgement); a request past it answers
	// 429 (a single request larger than it is still taken alone). Default
	// 64 MiB.
	ProduceBufferBytes int `json:"produce_buffer_bytes"`

	// MaxSSEClients bounds concurrent event streams. Default 10000.
	MaxSSEClients int `json:"max_sse_clients"`
	// MaxSSEStreamsPerIP bounds concurrent event streams from one client
	// IP (see TrustForwardedFor). Default 100.
	MaxSSEStreamsPerIP int `json:"max_sse_streams_per_ip"`
	// SSEHeartbeat is the interval of keep-alive comments. Default 15s.
	SSEHeartbeat Duration `json:"sse_heartbeat"`
	// SSEWriteTimeout bounds each write (events, heartbeat) of an event
	// stream: a client that stops reading is cut off after it. Default 10s.
	SSEWriteTimeout Duration `json:"sse_write_timeout"`
	// SSERetry is the reconnect delay suggested to EventSource. Default 2s.
	SSERetry Duration `json:"sse_retry"`
	// ClientBufferRecords is each stream's buffer; a client that falls this
	// far behind is cut off (it resumes by event id). Default 1024.
	ClientBufferRecords int `json:"client_buffer_records"`

	// MaxDecompressedBatchBytes bounds what one fetched record batch may
	// decompress to in the bridge's consumers (event streams, v2 consumer
	// instances): a batch past it is skipped with a warning instead of
	// inflating into memory. node sets 2 x message.max.bytes.
	// Default 2 MiB + 24.
	MaxDecompressedBatchBytes int `json:"max_decompressed_batch_bytes"`

	// ConsumerInstanceTimeout removes idle v2 consumer instances. Default 5m.
	ConsumerInstanceTimeout Duration `json:"consumer_instance_timeout"`
	// MaxConsumerInstances bounds the v2 consumer instances that exist at
	// once (each is a group member with its own Kafka client and broker
	// connections); creating one more answers 503 until one is deleted or
	// expires. Default 1000.
	MaxConsumerInstances int `json:"max_consumer_instances"`

	// HashClientIP records a salted SHA-256 of the client IP instead of the
	// IP in beacon/pixel headers. Default false.
	HashClientIP bool `json:"hash_client_ip"`
	// IPHashSalt salts that hash. Default: random per process.
	IPHashSalt string `json:"ip_hash_salt"`
	// TrustForwardedFor takes the client IP from X-Forwarded-For (set it
	// only behind a proxy you run). Default false.
	TrustForwardedFor bool `json:"trust_forwarded_for"`

	// DedupeWindow is how long /collect remembers tracker event ids to
	// drop retried events. Default 10m.
	DedupeWindow Duration `json:"dedupe_window"`
	// DedupeMaxEvents bounds the event ids remembered (per generation of
	// the window). Default 200000.
	DedupeMaxEvents int `json:"dedupe_max_events"`

	// ExamplesDir, when set, is served under /examples/ (the web-tracking
	// demo pages). Default "" (not served).
	ExamplesDir string `json:"examples_dir"`
}

// Token is one bearer token or API key and its grants.
type Token struct {
	// Name names the token; its principal is User:<name> unless
	// Principal is set.
	Name string `json:"name"`
	// Principal the token authenticates as ("User:svc"), matched by ACLs
	// and given to plugin filters. Default User:<name>.
	Principal string `json:"principal"`
	// Secret is the token value clients send.
	Secret string `json:"token"`
	// Topics it may use: exact names, "prefix*" patterns, or "*".
	Topics []string `json:"topics"`
	// Operations it may perform: "produce" (Write), "consume" (Read) or
	// "*"; either grants Describe on its topics.
	Operations []string `json:"operations"`
	// Groups it may read as (exact, "prefix*", "*"); default: every group
	// when it has a consume grant.
	Groups []string `json:"groups"`
}

// Duration is a time.Duration that reads "15s"-style strings from JSON.
// A bare number is refused (see errBareDuration).
type Duration time.Duration

// UnmarshalJSON accepts "1m30s"-style strings only.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errBareDuration
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it like \"2s\", \"500ms\" or \"1m\")", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// ErrConfig marks an invalid bridge configuration.
var ErrConfig = errors.New("bridge: invalid config")

// LoadConfigFile reads bridge options from a JSON file. Unknown fields are
// errors, so a typo does not silently leave a default in place.
func LoadConfigFile(path string) (Config, error) {
	var cfg Config
	f, err := os.Open(path)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return Config{}, err
	}
	if cfg, err = decodeConfig(data); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	if err := cfg.validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %s", ErrConfig, path, strings.TrimPrefix(err.Error(), ErrConfig.Error()+": "))
	}
	return cfg.normalized(), nil
}

func (cfg Config) validate() error {
	if err := cfg.validateStrict(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, t := range cfg.Tokens {
		if t.Secret == "" {
			return fmt.Errorf("%w: tokens[%d] has no token", ErrConfig, i)
		}
		if seen[t.Secret] {
			return fmt.Errorf("%w: tokens[%d] repeats a token", ErrConfig, i)
		}
		seen[t.Secret] = true
		if t.Principal != "" && !strings.Contains(t.Principal, ":") {
			return fmt.Errorf("%w: tokens[%d]: principal %q must look like User:NAME", ErrConfig, i, t.Principal)
		}
		for _, op := range t.Operations {
			switch op {
			case opProduce, opConsume, "*":
			default:
				return fmt.Errorf("%w: tokens[%d]: unknown operation %q", ErrConfig, i, op)
			}
		}
	}
	return nil
}

func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RateLimitPerSecond == 0 {
		cfg.RateLimitPerSecond = 50
	}
	if cfg.RateLimitBurst <= 0 {
		cfg.RateLimitBurst = 100
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.MaxBeaconBytes <= 0 {
		cfg.MaxBeaconBytes = 64 << 10
	}
	setDur(&cfg.ReadHeaderTimeout, 10*time.Second)
	setDur(&cfg.ReadTimeout, 30*time.Second)
	setDur(&cfg.WriteTimeout, 60*time.Second)
	setDur(&cfg.IdleTimeout, 120*time.Second)
	setDur(&cfg.SSEWriteTimeout, 10*time.Second)
	setDur(&cfg.ProduceTimeout, 30*time.Second)
	if cfg.ProduceBufferBytes <= 0 {
		cfg.ProduceBufferBytes = 64 << 20
	}
	if cfg.MaxSSEClients <= 0 {
		cfg.MaxSSEClients = 10000
	}
	if cfg.MaxConsumerInstances <= 0 {
		cfg.MaxConsumerInstances = 1000
	}
	if cfg.MaxSSEStreamsPerIP <= 0 {
		cfg.MaxSSEStreamsPerIP = 100
	}
	setDur(&cfg.SSEHeartbeat, 15*time.Second)
	setDur(&cfg.SSERetry, 2*time.Second)
	if cfg.ClientBufferRecords <= 0 {
		cfg.ClientBufferRecords = 1024
	}
	if cfg.MaxDecompressedBatchBytes <= 0 {
		cfg.MaxDecompressedBatchBytes = 2 * 1048588
	}
	setDur(&cfg.ConsumerInstanceTimeout, 5*time.Minute)
	setDur(&cfg.DedupeWindow, 10*time.Minute)
	if cfg.DedupeMaxEvents <= 0 {
		cfg.DedupeMaxEvents = 200000
	}
	return cfg
}

func setDur(d *Duration, def time.Duration) {
	if *d <= 0 {
		*d = Duration(def)
	}
}

// kafkaOpts are the bootstrap options of every bridge Kafka client, with
// the configured dialer.
func kafkaOpts(cfg Config) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...)}
	if cfg.Dialer != nil {
		opts = append(opts, kgo.Dialer(cfg.Dialer))
	}
	return append(opts, cfg.KafkaOpts...)
}
