package testkit

import (
	"slices"
	"sync"
)

// SmallOffsetsTopic is the __consumer_offsets partition count test
// packages opt into with WithSmallOffsetsTopic and the
// --offsets-topic-partitions flag: more than one, so a group's partition
// is still looked up by hash, but not Kafka's 50.
//
// Why: a fresh data directory gets __consumer_offsets at once, and each
// partition is a directory, five files and their fsyncs (some 400 fsyncs
// for 50 partitions at a start and stop). On a loaded machine that was
// 3-7 s per broker start against a few hundred ms with four partitions,
// paid by every test that starts a node.
const SmallOffsetsTopic = 4

// WithSmallOffsetsTopic gives the node a __consumer_offsets of
// SmallOffsetsTopic partitions instead of the default 50.
func WithSmallOffsetsTopic() Option {
	return func(s *settings) { s.cfg.OffsetsTopicPartitions = SmallOffsetsTopic }
}

var nodeDefaults struct {
	mu   sync.Mutex
	opts []Option
}

// SetNodeDefaults makes opts apply to every StartNode and TryStartNode of
// this test binary, before the test's own options (which may override
// them); call it from TestMain. A package whose tests do not depend on a
// setting (say, the size of __consumer_offsets) sets it once there
// instead of at every start. The default is none.
func SetNodeDefaults(opts ...Option) {
	nodeDefaults.mu.Lock()
	defer nodeDefaults.mu.Unlock()
	nodeDefaults.opts = append([]Option(nil), opts...)
}

func defaultNodeOptions() []Option {
	nodeDefaults.mu.Lock()
	defer nodeDefaults.mu.Unlock()
	// Clipped: appending a test's options must copy, never write into
	// the shared array (tests start nodes in parallel).
	return slices.Clip(nodeDefaults.opts)
}
