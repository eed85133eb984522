// Package hooks is the seam between the broker and plugins: the broker
// calls these interfaces at its produce and fetch paths for topics that
// have a plugin bound, and keeps its fast path (batches stored as received,
// fetched with sendfile) for topics that have none. Package plugins
// implements Registry with WebAssembly modules run by package wasm.
//
// Every call is per batch, never per record, so a plugin's fixed cost
// (instance checkout, memory copies) is paid once per produce/fetch of a
// partition.
package hooks

import (
	"context"
	"errors"

	"github.com/sluicemq/sluice/core/records"
)

// Header is a record header: the one record-header type of the broker
// (package records defines it; hooks only names it).
type Header = records.Header

// Record is a decoded record as plugins see it: the same type the
// broker's record encoder and decoder use, so records pass between
// storage and plugins without conversion. Offset is the record's offset
// for filters and -1 at produce time (transforms, partitioners).
type Record = records.Record

// Emit is an extra record a transform sends to another topic (e.g. a
// dead-letter topic). Its partition is chosen by that topic's partitioner
// plugin if it has one, otherwise by key hash (murmur2, like the Java
// client) or round robin for unkeyed records.
type Emit struct {
	Topic  string
	Record Record
}

// Reader identifies who is fetching, so filters can act per reader.
type Reader struct {
	GroupID  string // empty for non-group consumers
	ClientID string
	// Principal is the authenticated principal ("User:alice";
	// "User:ANONYMOUS" when not authenticated). ClientID is the client's
	// own claim and must never be used as an identity.
	Principal string
}

// Sentinel errors a hook returns (wrapped with detail). The broker maps
// them to Kafka error codes for that partition only.
var (
	// ErrRejected: the plugin refused the input (INVALID_RECORD).
	ErrRejected = errors.New("hooks: rejected by plugin")
	// ErrPolicy: the plugin's policy forbids the produce (POLICY_VIOLATION).
	ErrPolicy = errors.New("hooks: policy violation")
	// ErrPluginFailed: the plugin trapped, timed out, ran out of memory or
	// returned garbage (mapped to POLICY_VIOLATION with the plugin's name
	// and reason in the error message; the broker stays up).
	ErrPluginFailed = errors.New("hooks: plugin failed")
)

// Partitioner chooses partitions for records that arrive without one
// (HTTP bridge records, transform emits).
type Partitioner interface {
	// Partition returns one partition in [0, numPartitions) per record.
	Partition(ctx context.Context, topic string, recs []Record, numPartitions int32) ([]int32, error)
}

// Transform runs on a produce to a topic before anything is appended.
type Transform interface {
	// Apply returns the records to append to the produced partition (it
	// may pass, rewrite, drop or add records) and extra records for other
	// topics. An error fails the whole batch: nothing is appended.
	Apply(ctx context.Context, topic string, partition int32, recs []Record) (out []Record, emits []Emit, err error)
}

// Filter runs on fetch from a topic, per reader.
type Filter interface {
	// Apply returns the records this reader may see (a subset of recs,
	// possibly rewritten; offsets must be kept).
	Apply(ctx context.Context, topic string, partition int32, reader Reader, recs []Record) ([]Record, error)
}

// Registry says which hooks are bound to a topic. nil results mean "no
// plugin": the broker's fast path. Implementations must make these
// lookups cheap (they run on every produce and fetch).
type Registry interface {
	Partitioner(topic string) Partitioner
	Transform(topic string) Transform
	Filter(topic string) Filter
}

// None is a Registry with no plugins.
type None struct{}

func (None) Partitioner(string) Partitioner { return nil }
func (None) Transform(string) Transform     { return nil }
func (None) Filter(string) Filter           { return nil }
