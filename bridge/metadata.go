package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// topicCache remembers partition counts briefly so a produce does not cost
// a metadata round trip; a missing topic is re-checked sooner.
type topicCache struct {
	adm *kadm.Client

	mu      sync.Mutex
	entries map[string]topicEntry
}

type topicEntry struct {
	partitions int32 // 0: topic does not exist
	expires    time.Time
}

const (
	topicCacheTTL   = 5 * time.Second
	missingTopicTTL = 500 * time.Millisecond
)

func newTopicCache(adm *kadm.Client) *topicCache {
	return &topicCache{adm: adm, entries: map[string]topicEntry{}}
}

// partitions returns the topic's partition count, or ErrTopicNotFound.
func (c *topicCache) partitions(ctx context.Context, topic string) (int32, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[topic]
	c.mu.Unlock()
	if !ok || now.After(e.expires) {
		details, err := c.adm.ListTopics(ctx, topic)
		if err != nil {
			return 0, fmt.Errorf("%w: metadata: %v", ErrUnavailable, err)
		}
		d, found := details[topic]
		switch {
		case !found || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			e = topicEntry{expires: now.Add(missingTopicTTL)}
		case d.Err != nil:
			return 0, fmt.Errorf("%w: metadata for %s: %v", ErrUnavailable, topic, d.Err)
		default:
			e = topicEntry{partitions: int32(len(d.Partitions)), expires: now.Add(topicCacheTTL)}
		}
		c.mu.Lock()
		c.entries[topic] = e
		c.mu.Unlock()
	}
	if e.partitions == 0 {
		return 0, fmt.Errorf("%w: %s", ErrTopicNotFound, topic)
	}
	return e.partitions, nil
}
