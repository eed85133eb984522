package pipeline

import (
	"context"

	"github.com/sluicemq/sluice/core/hooks"
)

// PublishRemote sends recs (each to its parts[i]) through the internal
// producer, as Publish does for partitions other brokers lead.
func (p *Pipeline) PublishRemote(ctx context.Context, topic string, recs []hooks.Record, parts []int32) []Placed {
	out := make([]Placed, len(recs))
	idx := make([]int, len(recs))
	for i := range recs {
		out[i].Partition, idx[i] = parts[i], i
	}
	p.publisher().remote(ctx, topic, recs, idx, 0, out)
	return out
}

// ClosePublish closes what Publish started (Close does at merge).
func (p *Pipeline) ClosePublish() { p.closePublish() }
