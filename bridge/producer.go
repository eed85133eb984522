package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
)

// outRecord is a record a request asks to publish.
type outRecord struct {
	Key       []byte
	Value     []byte
	Headers   []kgo.RecordHeader
	Partition int32 // -1: let the bridge choose
}

// produceResult is where one record landed, or why it did not.
type produceResult struct {
	Partition int32
	Offset    int64
	Err       error
}

// producer publishes records for all handlers over one idempotent acks=all
// kgo client, so records of one request keep their order per partition.
type producer struct {
	cl     *kgo.Client
	topics *topicCache
	hooks  hooks.Registry
}

// produce publishes recs to topic and waits for every acknowledgement.
// A request-level error (unknown topic, bad partition, plugin failure) fails
// before anything is sent; per-record errors are in the results.
func (p *producer) produce(ctx context.Context, topic string, recs []outRecord) ([]produceResult, error) {
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
	ok := 0
	for _, res := range results {
		if res.Err == nil {
			ok++
		}
	}
	sharedMetrics().records.WithLabelValues(topic).Add(float64(ok))
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

// classifyProduceErr maps kgo's errors onto the bridge's sentinels, keeping
// Kafka's own error for the message.
func classifyProduceErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kgo.ErrMaxBuffered):
		return ErrOverloaded
	case errors.Is(err, kgo.ErrClientClosed):
		return ErrClosed
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), kerr.IsRetriable(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	default:
		return err
	}
}

// retriable reports whether a per-record error is worth retrying (v2
// error_code 2) rather than permanent (error_code 1).
func retriable(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed)
}

// overloadError returns the error to answer a whole request with when every
// record failed retriably (so shippers back off and retry), else nil.
func overloadError(results []produceResult) error {
	if len(results) == 0 {
		return nil
	}
	for _, r := range results {
		if r.Err == nil || !retriable(r.Err) {
			return nil
		}
	}
	return results[0].Err
}
