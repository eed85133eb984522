package broker

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// configKind is how a topic config's value is validated.
type configKind int8

const (
	kindLong configKind = iota
	kindInt
	kindBool
	kindEnum
	kindList
	kindDouble
	kindThrottledReplicas // "*" or partition:broker,... (throttleconfig.go)
)

// ConfigType maps kinds to DescribeConfigs' ConfigType codes.
func (k configKind) describeType() int8 {
	switch k {
	case kindBool:
		return 1
	case kindInt:
		return 3
	case kindLong:
		return 5
	case kindDouble:
		return 6
	case kindList, kindThrottledReplicas:
		return 7
	}
	return 2 // STRING
}

// topicConfigDef describes one supported topic config.
type topicConfigDef struct {
	name    string
	kind    configKind
	min     int64    // for numbers
	allowed []string // for enums and lists
	doc     string
	// def returns the broker-level default.
	def func(c *Config) string
}

func i64(v int64) string { return strconv.FormatInt(v, 10) }

// topicConfigDefs are the topic configs Sluice knows. Unknown names are
// rejected with INVALID_CONFIG, as Kafka does.
var topicConfigDefs = map[string]topicConfigDef{}

func init() {
	for _, d := range []topicConfigDef{
		{name: "cleanup.policy", kind: kindList, allowed: []string{"delete", "compact"}, doc: "delete and/or compact old segments",
			def: func(*Config) string { return "delete" }},
		{name: "retention.ms", kind: kindLong, min: -1, doc: "delete segments older than this; -1 keeps forever",
			def: func(c *Config) string { return i64(c.RetentionMs) }},
		{name: "retention.bytes", kind: kindLong, min: -1, doc: "delete oldest segments while the partition is larger; -1 unlimited",
			def: func(c *Config) string { return i64(c.RetentionBytes) }},
		{name: "segment.bytes", kind: kindInt, min: 14, doc: "roll segments at this size",
			def: func(c *Config) string { return i64(c.SegmentBytes) }},
		{name: "segment.ms", kind: kindLong, min: 1, doc: "roll segments after this long",
			def: func(c *Config) string { return i64(c.SegmentMs) }},
		{name: "max.message.bytes", kind: kindInt, min: 0, doc: "largest record batch accepted",
			def: func(c *Config) string { return i64(int64(c.MaxMessageBytes)) }},
		{name: "message.timestamp.type", kind: kindEnum, allowed: []string{"CreateTime", "LogAppendTime"}, doc: "producer's or broker's clock",
			def: func(*Config) string { return "CreateTime" }},
		{name: "flush.messages", kind: kindLong, min: 1, doc: "fsync after this many messages; 1 = fsync before acknowledging",
			def: func(c *Config) string {
				if c.FlushMessages > 0 {
					return i64(c.FlushMessages)
				}
				return i64(math.MaxInt64)
			}},
		{name: "flush.ms", kind: kindLong, min: 0, doc: "fsync at least this often",
			def: func(c *Config) string {
				if c.FlushMs > 0 {
					return i64(c.FlushMs)
				}
				return i64(math.MaxInt64)
			}},
		{name: "index.interval.bytes", kind: kindInt, min: 0, doc: "bytes between offset index entries",
			def: func(*Config) string { return "4096" }},
		{name: "min.insync.replicas", kind: kindInt, min: 1, doc: "replicas that must acknowledge acks=all writes",
			def: func(*Config) string { return "1" }},
		{name: "delete.retention.ms", kind: kindLong, min: 0, doc: "how long compaction keeps tombstones",
			def: func(*Config) string { return "86400000" }},
		{name: "min.compaction.lag.ms", kind: kindLong, min: 0, doc: "minimum age before a record may be compacted",
			def: func(*Config) string { return "0" }},
		{name: "min.cleanable.dirty.ratio", kind: kindDouble, doc: "dirty ratio that triggers compaction",
			def: func(*Config) string { return "0.5" }},
		{name: "compression.type", kind: kindEnum, allowed: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}, doc: "batches are stored as the producer sent them",
			def: func(*Config) string { return "producer" }},
		{name: "unclean.leader.election.enable", kind: kindBool, doc: "allow out-of-sync replicas to become leader",
			def: func(*Config) string { return "false" }},
	} {
		topicConfigDefs[d.name] = d
	}
}

// ConfigError is an invalid topic config (INVALID_CONFIG to clients).
type ConfigError struct{ Name, Value, Reason string }

// Kind: a bad value is an invalid config (core/kerrmap answers
// INVALID_CONFIG).
func (e *ConfigError) Kind() errkind.Kind { return errkind.InvalidConfig }

func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid value %q for configuration %s: %s", e.Value, e.Name, e.Reason)
}

// ValidateTopicConfig checks one name/value pair.
func ValidateTopicConfig(name, value string) error {
	d, ok := topicConfigDefs[name]
	if !ok {
		return &ConfigError{Name: name, Value: value, Reason: "unknown topic config"}
	}
	switch d.kind {
	case kindLong, kindInt:
		bits := 64
		if d.kind == kindInt {
			bits = 32
		}
		v, err := strconv.ParseInt(strings.TrimSpace(value), 10, bits)
		if err != nil {
			return &ConfigError{Name: name, Value: value, Reason: "not a number"}
		}
		if v < d.min {
			return &ConfigError{Name: name, Value: value, Reason: fmt.Sprintf("must be at least %d", d.min)}
		}
	case kindDouble:
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || v < 0 || v > 1 {
			return &ConfigError{Name: name, Value: value, Reason: "must be a number between 0 and 1"}
		}
	case kindBool:
		if value != "true" && value != "false" {
			return &ConfigError{Name: name, Value: value, Reason: "must be true or false"}
		}
	case kindEnum:
		for _, a := range d.allowed {
			if value == a {
				return nil
			}
		}
		return &ConfigError{Name: name, Value: value, Reason: "must be one of " + strings.Join(d.allowed, ", ")}
	case kindThrottledReplicas:
		return validThrottledReplicas(name, value)
	case kindList:
		for _, part := range strings.Split(value, ",") {
			ok := false
			for _, a := range d.allowed {
				if strings.TrimSpace(part) == a {
					ok = true
				}
			}
			if !ok {
				return &ConfigError{Name: name, Value: value, Reason: "must be a list of " + strings.Join(d.allowed, ", ")}
			}
		}
	}
	return nil
}

// ConfigEntry is one described config.
type ConfigEntry struct {
	Name, Value string
	Default     bool // false: a dynamic topic override
	Type        int8
	Doc         string
}

// DescribeTopicConfigs returns every known topic config's effective value,
// sorted by name.
func (b *Broker) DescribeTopicConfigs(overrides map[string]string) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(topicConfigDefs))
	for name, d := range topicConfigDefs {
		e := ConfigEntry{Name: name, Type: d.kind.describeType(), Doc: d.doc}
		if v, ok := overrides[name]; ok {
			e.Value = v
		} else {
			e.Value, e.Default = d.def(&b.cfg), true
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// topicValue is the effective value of a config for a topic.
func (b *Broker) topicValue(overrides map[string]string, name string) string {
	if v, ok := overrides[name]; ok {
		return v
	}
	return topicConfigDefs[name].def(&b.cfg)
}

// topicInt is a numeric config's effective value. Validation accepts
// numbers with surrounding spaces (as Kafka, which trims them), so they
// are trimmed here too: " 2" read as 0 made min.insync.replicas 0 and
// retention.ms 0.
func (b *Broker) topicInt(overrides map[string]string, name string) int64 {
	v, _ := strconv.ParseInt(strings.TrimSpace(b.topicValue(overrides, name)), 10, 64)
	return v
}

// topicFloat is a fractional config's effective value (trimmed, as
// topicInt).
func (b *Broker) topicFloat(overrides map[string]string, name string) float64 {
	v, _ := strconv.ParseFloat(strings.TrimSpace(b.topicValue(overrides, name)), 64)
	return v
}

// partitionConfig derives a partition's effective config from the topic's
// overrides and the broker defaults.
func (b *Broker) partitionConfig(overrides map[string]string) partition.Config {
	flush := b.topicInt(overrides, "flush.messages")
	if flush == math.MaxInt64 {
		flush = 0
	}
	flushMs := b.topicInt(overrides, "flush.ms")
	if flushMs == math.MaxInt64 {
		flushMs = 0
	}
	return partition.Config{
		Log: storage.Config{
			SegmentBytes:       b.topicInt(overrides, "segment.bytes"),
			SegmentMs:          b.topicInt(overrides, "segment.ms"),
			IndexIntervalBytes: int32(b.topicInt(overrides, "index.interval.bytes")),
			RetentionMs:        b.topicInt(overrides, "retention.ms"),
			RetentionBytes:     b.topicInt(overrides, "retention.bytes"),
			FlushMessages:      flush,
			FlushMs:            flushMs,
		},
		MaxMessageBytes:   int32(b.topicInt(overrides, "max.message.bytes")),
		LogAppendTime:     b.topicValue(overrides, "message.timestamp.type") == "LogAppendTime",
		MinInsyncReplicas: int(b.topicInt(overrides, "min.insync.replicas")),
		BrokerID:          b.cfg.BrokerID,
		DecompressBudget:  b.cfg.MaxDecompressedBytes,
		Compacted:         slices.Contains(splitList(b.topicValue(overrides, "cleanup.policy")), "compact"),
	}
}

// BrokerConfigs describes the broker's static settings (DescribeConfigs on
// a BROKER resource); they are read-only.
func (b *Broker) BrokerConfigs() []ConfigEntry {
	c := &b.cfg
	flush := c.FlushMessages
	if flush <= 0 {
		flush = math.MaxInt64
	}
	entries := []ConfigEntry{
		{Name: "broker.id", Value: i64(int64(c.BrokerID)), Type: 3},
		{Name: "log.dirs", Value: c.DataDir, Type: 2},
		{Name: "num.partitions", Value: i64(int64(c.DefaultPartitions)), Type: 3},
		{Name: "auto.create.topics.enable", Value: strconv.FormatBool(c.AutoCreateTopics), Type: 1},
		{Name: "socket.request.max.bytes", Value: i64(int64(c.MaxRequestBytes)), Type: 3},
		{Name: "log.segment.bytes", Value: i64(c.SegmentBytes), Type: 3},
		{Name: "log.roll.ms", Value: i64(c.SegmentMs), Type: 5},
		{Name: "log.retention.ms", Value: i64(c.RetentionMs), Type: 5},
		{Name: "log.retention.bytes", Value: i64(c.RetentionBytes), Type: 5},
		{Name: "log.flush.interval.messages", Value: i64(flush), Type: 5},
		{Name: "message.max.bytes", Value: i64(int64(c.MaxMessageBytes)), Type: 3},
		{Name: "default.replication.factor", Value: "1", Type: 3},
		{Name: "min.insync.replicas", Value: "1", Type: 3},
	}
	return entries
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func joinList(s []string) string { return strings.Join(s, ",") }
