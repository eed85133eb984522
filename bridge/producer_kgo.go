package bridge

import (
	"context"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
)

// produceKgo is the path of a bridge built without a pipeline: records go
// over the bridge's idempotent acks=all kgo client, placed by
// bridgePartitioner (partitioner.go) after a partitioner plugin had its
// say. core/node gives every bridge a pipeline; this path and
// partitioner.go go once nothing constructs a bridge without one.
func (p *producer) produceKgo(ctx context.Context, topic string, recs []outRecord) ([]produceResult, error) {
	n, err := p.topics.partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := p.assignPartitions(ctx, topic, recs, n); err != nil {
		return nil, err
	}
	results := make([]produceResult, len(recs))
	var wg sync.WaitGroup
	wg.Add(len(recs))
	for i := range recs {
		r := &kgo.Record{Topic: topic, Key: recs[i].Key, Value: recs[i].Value, Headers: recs[i].Headers}
		r.Context = ctx
		if recs[i].Partition >= 0 {
			r.Partition = recs[i].Partition
			r.Context = withExplicitPartition(ctx)
		}
		p.cl.TryProduce(ctx, r, func(r *kgo.Record, err error) {
			results[i] = produceResult{Partition: r.Partition, Offset: r.Offset, Err: classifyProduceErr(err)}
			wg.Done()
		})
	}
	wg.Wait()
	return results, nil
}

// assignPartitions validates explicit partitions and, when the topic has a
// partitioner plugin, asks it (once per request) for the rest.
func (p *producer) assignPartitions(ctx context.Context, topic string, recs []outRecord, n int32) error {
	var unplaced []int
	for i, r := range recs {
		if r.Partition >= n || r.Partition < -1 {
			return fmt.Errorf("%w: partition %d of %s (it has %d)", ErrPartitionNotFound, r.Partition, topic, n)
		}
		if r.Partition == -1 {
			unplaced = append(unplaced, i)
		}
	}
	part := p.hooks.Partitioner(topic)
	if part == nil || len(unplaced) == 0 {
		return nil
	}
	in := make([]hooks.Record, len(unplaced))
	for j, i := range unplaced {
		hr := hooks.Record{Key: recs[i].Key, Value: recs[i].Value, Offset: -1}
		for _, h := range recs[i].Headers {
			hr.Headers = append(hr.Headers, hooks.Header{Key: h.Key, Value: h.Value})
		}
		in[j] = hr
	}
	out, err := part.Partition(ctx, topic, in, n)
	if err != nil {
		return errf(422, codeUnprocessable, "Partitioner plugin: "+err.Error())
	}
	if len(out) != len(in) {
		return errf(500, codeInternal, fmt.Sprintf("Partitioner plugin returned %d partitions for %d records.", len(out), len(in)))
	}
	for j, i := range unplaced {
		if out[j] < 0 || out[j] >= n {
			return errf(500, codeInternal, fmt.Sprintf("Partitioner plugin chose partition %d of %d.", out[j], n))
		}
		recs[i].Partition = out[j]
	}
	return nil
}
