package storage

import "time"

// Defaults for zero Config fields (Kafka's topic defaults).
const (
	DefaultSegmentBytes       int64 = 1 << 30
	DefaultSegmentMs                = int64(7 * 24 * time.Hour / time.Millisecond)
	DefaultIndexIntervalBytes int32 = 4096
	DefaultRetentionMs              = int64(7 * 24 * time.Hour / time.Millisecond)
)

// withDefaults fills zero (and nonsensical negative) fields with defaults.
func (c Config) withDefaults() Config {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentMs == 0 || c.SegmentMs < -1 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.RetentionMs == 0 || c.RetentionMs < -1 {
		c.RetentionMs = DefaultRetentionMs
	}
	if c.RetentionBytes <= 0 {
		c.RetentionBytes = -1
	}
	if c.FlushMessages < 0 {
		c.FlushMessages = 0
	}
	if c.FlushMs < 0 {
		c.FlushMs = 0
	}
	return c
}
