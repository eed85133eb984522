package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"
)

// errBareDuration: a duration given as a bare number. It used to be read
// as nanoseconds ("sse_retry": 2000 became 2µs, sent as "retry: 0").
var errBareDuration = errors.New(`a duration needs a unit: write it as a string like "2s", "500ms" or "1m" (a bare number is refused)`)

// decodeConfig reads a bridge config document strictly: every key must be
// known (nested ones too), and an error names the key it is about.
func decodeConfig(data []byte) (Config, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return Config{}, err
	}
	known := configKeys()
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !known[k] {
			return Config{}, fmt.Errorf("unknown key %q", k)
		}
		// Decode each key alone so the error can name it.
		one, _ := json.Marshal(map[string]json.RawMessage{k: keys[k]})
		dec := json.NewDecoder(bytes.NewReader(one))
		dec.DisallowUnknownFields()
		var c Config
		if err := dec.Decode(&c); err != nil {
			return Config{}, fmt.Errorf("key %q: %v", k, unwrapJSONError(err))
		}
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// unwrapJSONError drops encoding/json's "json: cannot unmarshal …" framing
// around a Duration's own error.
func unwrapJSONError(err error) error {
	if errors.Is(err, errBareDuration) {
		return errBareDuration
	}
	return err
}

// configKeys are the JSON names of Config's fields.
func configKeys() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeFor[Config]()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// validateStrict checks what the defaults would otherwise hide: negative
// durations and sizes, malformed origins and topic patterns. It runs at
// load and in New, so a config given in code is checked too.
func (cfg Config) validateStrict() error {
	durations := []struct {
		key string
		d   Duration
	}{
		{"read_header_timeout", cfg.ReadHeaderTimeout}, {"read_timeout", cfg.ReadTimeout},
		{"produce_timeout", cfg.ProduceTimeout}, {"sse_heartbeat", cfg.SSEHeartbeat},
		{"sse_retry", cfg.SSERetry}, {"consumer_instance_timeout", cfg.ConsumerInstanceTimeout},
		{"dedupe_window", cfg.DedupeWindow},
	}
	for _, d := range durations {
		if d.d < 0 {
			return fmt.Errorf("%w: key %q: %s is negative", ErrConfig, d.key, time.Duration(d.d))
		}
	}
	sizes := []struct {
		key string
		n   int64
	}{
		{"max_body_bytes", cfg.MaxBodyBytes}, {"max_beacon_bytes", cfg.MaxBeaconBytes},
		{"produce_buffer_bytes", int64(cfg.ProduceBufferBytes)}, {"max_sse_clients", int64(cfg.MaxSSEClients)},
		{"client_buffer_records", int64(cfg.ClientBufferRecords)}, {"rate_limit_burst", int64(cfg.RateLimitBurst)},
		{"dedupe_max_events", int64(cfg.DedupeMaxEvents)}, {"max_consumer_instances", int64(cfg.MaxConsumerInstances)},
	}
	for _, s := range sizes {
		if s.n < 0 {
			return fmt.Errorf("%w: key %q: %d is negative (0 or absent means the default)", ErrConfig, s.key, s.n)
		}
	}
	for i, o := range cfg.AllowedOrigins {
		if _, err := normalizeOrigin(o); err != nil {
			return fmt.Errorf("%w: key \"allowed_origins\"[%d]: %v", ErrConfig, i, err)
		}
	}
	for i, p := range cfg.PublicTopics {
		if err := checkPattern(p); err != nil {
			return fmt.Errorf("%w: key \"public_topics\"[%d]: %v", ErrConfig, i, err)
		}
	}
	for i, t := range cfg.Tokens {
		for j, p := range t.Topics {
			if err := checkPattern(p); err != nil {
				return fmt.Errorf("%w: key \"tokens\"[%d].topics[%d]: %v", ErrConfig, i, j, err)
			}
		}
		for j, p := range t.Groups {
			if err := checkPattern(p); err != nil {
				return fmt.Errorf("%w: key \"tokens\"[%d].groups[%d]: %v", ErrConfig, i, j, err)
			}
		}
	}
	return nil
}

// normalizeOrigin returns an origin as browsers send it in Origin
// (scheme://host[:port], lower case, no path): a trailing slash is
// dropped, anything else that is not an origin is refused, since it would
// never match and every preflight would be 403.
func normalizeOrigin(o string) (string, error) {
	if o == "*" {
		return o, nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not an origin: write scheme://host[:port], e.g. \"https://shop.example\" or \"http://localhost:3000\"", o)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: the scheme must be http or https", o)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: an origin has no path, query, fragment or user (browsers send only scheme://host[:port])", o)
	}
	if strings.Contains(u.Host, "*") {
		return "", fmt.Errorf("%q: wildcards inside an origin are not supported; list each origin, or \"*\" for any", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// checkPattern accepts what matchAny matches: "*", an exact name, or
// "prefix*".
func checkPattern(p string) error {
	if p == "" {
		return errors.New("empty topic or group pattern")
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return fmt.Errorf("%q: \"*\" may only end a pattern (\"web-*\") or stand alone (\"*\")", p)
	}
	return nil
}

// normalized is cfg with its origins in the form browsers send them
// (validateStrict has checked they all parse).
func (cfg Config) normalized() Config {
	if len(cfg.AllowedOrigins) > 0 {
		out := make([]string, 0, len(cfg.AllowedOrigins))
		for _, o := range cfg.AllowedOrigins {
			n, err := normalizeOrigin(o)
			if err != nil {
				n = o
			}
			out = append(out, n)
		}
		cfg.AllowedOrigins = out
	}
	return cfg
}
