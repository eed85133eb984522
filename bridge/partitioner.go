package bridge

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// explicitPartition marks, in a record's Context, that its Partition field
// was chosen already (by the request or a partitioner plugin).
type explicitPartitionKey struct{}

func withExplicitPartition(ctx context.Context) context.Context {
	return context.WithValue(ctx, explicitPartitionKey{}, true)
}

// bridgePartitioner places records the way the issue asks: an explicit
// partition as given; keyed records where the Java client's murmur2
// partitioner would put them; unkeyed ones round robin for an even spread.
type bridgePartitioner struct{}

func (bridgePartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return &topicPartitioner{byKey: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
}

type topicPartitioner struct {
	byKey kgo.TopicPartitioner
	next  int // round-robin cursor; kgo calls one topic's partitioner serially
}

func explicit(r *kgo.Record) bool {
	return r.Context != nil && r.Context.Value(explicitPartitionKey{}) != nil
}

func (p *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return explicit(r) || r.Key != nil
}

func (p *topicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case explicit(r):
		return int(r.Partition)
	case r.Key != nil:
		return p.byKey.Partition(r, n)
	default:
		p.next = (p.next + 1) % n
		return p.next
	}
}
