package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/pipeline"
)

// outRecord is a record a request asks to publish.
type outRecord struct {
	Key       []byte
	Value     []byte
	Headers   []hooks.Header
	Partition int32 // -1: let the bridge choose
}

// produceResult is where one record landed, or why it did not.
type produceResult struct {
	Partition int32
	Offset    int64 // -1 when Records is 0
	// Records is how many records were stored for this one from Offset
	// on: 1 normally, 0 when the topic's transform dropped it (or merged
	// it into an earlier one), more when it added records after it.
	Records int
	Err     error
}

// producer publishes records for all handlers through the pipeline (the
// one server-side produce path, which also places records): appended
// in-process to the partitions this broker leads, through the pipeline's
// internal Kafka producer to the rest. Records of one request keep their
// order per partition.
type producer struct {
	pl      *pipeline.Pipeline
	timeout time.Duration // bounds the wait for acknowledgements
	topics  *topicCache   // partition counts for consumers and _bulk checks
	// inflight is the bytes of records being published; past maxInflight
	// (produce_buffer_bytes) a request is refused with ErrOverloaded (429)
	// rather than queued without bound behind a slow disk or replica.
	inflight    atomic.Int64
	maxInflight int64
}

// produce publishes recs to topic and waits for every acknowledgement.
// A request-level error (unknown topic, bad partition, plugin failure) fails
// before anything is sent; per-record errors are in the results.
func (p *producer) produce(ctx context.Context, topic string, recs []outRecord) ([]produceResult, error) {
	results, err := p.publish(ctx, topic, recs)
	if err != nil {
		return nil, err
	}
	ok, _ := stored(results)
	recordsCounter(topic).Add(float64(ok))
	return results, nil
}

// recordsCounters caches sluice_bridge_records_produced_total's child per
// topic (a label lookup hashes the topic on every call).
var recordsCounters sync.Map // topic → prometheus.Counter

func recordsCounter(topic string) prometheus.Counter {
	if c, ok := recordsCounters.Load(topic); ok {
		return c.(prometheus.Counter)
	}
	c, _ := recordsCounters.LoadOrStore(topic, sharedMetrics().records.WithLabelValues(topic))
	return c.(prometheus.Counter)
}

// lazyTimeout is a context with a deadline whose timer is armed only
// when something asks for its Done channel. A publish to a partition
// this broker leads is usually acknowledged before anything waits (the
// append is synchronous; acks=all on a single node is the append), so
// most publishes never need the timer that context.WithTimeout would
// create, register with the request's context and stop again.
type lazyTimeout struct {
	context.Context // the parent
	deadline        time.Time
	once            sync.Once
	armed           atomic.Pointer[armedTimeout]
}

type armedTimeout struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// withLazyTimeout returns the context; call its stop when done (a method
// rather than a returned CancelFunc: one allocation per publish, not two).
func withLazyTimeout(parent context.Context, d time.Duration) *lazyTimeout {
	return &lazyTimeout{Context: parent, deadline: time.Now().Add(d)}
}

// stop releases the timer, if something armed it.
func (c *lazyTimeout) stop() {
	if a := c.armed.Load(); a != nil {
		a.cancel()
	}
}

func (c *lazyTimeout) Deadline() (time.Time, bool) {
	if d, ok := c.Context.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

func (c *lazyTimeout) Done() <-chan struct{} {
	c.once.Do(func() {
		ctx, cancel := context.WithDeadline(c.Context, c.deadline)
		c.armed.Store(&armedTimeout{ctx: ctx, cancel: cancel})
	})
	return c.armed.Load().ctx.Done()
}

func (c *lazyTimeout) Err() error {
	if a := c.armed.Load(); a != nil {
		return a.ctx.Err()
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// publish produces through the pipeline (acks=all, as the kgo client did).
func (p *producer) publish(ctx context.Context, topic string, recs []outRecord) ([]produceResult, error) {
	size := int64(0)
	for _, r := range recs {
		size += recordBytes(r.Key, r.Value, r.Headers)
	}
	if !p.reserve(size) {
		return nil, ErrOverloaded
	}
	defer p.inflight.Add(-size)
	in := make([]pipeline.PublishRecord, len(recs))
	for i, r := range recs {
		in[i] = pipeline.PublishRecord{Record: hooks.Record{Key: r.Key, Value: r.Value, Headers: r.Headers, Offset: -1}, Partition: r.Partition}
	}
	lt := withLazyTimeout(ctx, p.timeout)
	defer lt.stop()
	placed, err := p.pl.Publish(lt, topic, in, -1)
	if err != nil {
		return nil, publishError(topic, err)
	}
	results := make([]produceResult, len(placed))
	for i, pl := range placed {
		results[i] = produceResult{Partition: pl.Partition, Offset: pl.Offset, Records: pl.Records, Err: classifyProduceErr(pl.Err)}
	}
	return results, nil
}

// publishOne is publish for a single record (beacons, pixels) without
// the per-request slices: the beacon path's allocations are most of what
// it costs beyond net/http's own.
func (p *producer) publishOne(ctx context.Context, topic string, rec pipeline.PublishRecord) (produceResult, error) {
	size := recordBytes(rec.Key, rec.Value, rec.Headers)
	if !p.reserve(size) {
		return produceResult{}, ErrOverloaded
	}
	defer p.inflight.Add(-size)
	rec.Offset = -1
	in := [1]pipeline.PublishRecord{rec}
	lt := withLazyTimeout(ctx, p.timeout)
	defer lt.stop()
	placed, err := p.pl.Publish(lt, topic, in[:], -1)
	if err != nil {
		return produceResult{}, publishError(topic, err)
	}
	pl := placed[0]
	res := produceResult{Partition: pl.Partition, Offset: pl.Offset, Records: pl.Records, Err: classifyProduceErr(pl.Err)}
	if res.Err == nil {
		recordsCounter(topic).Add(float64(res.Records))
	}
	return res, nil
}

// recordBytes is a record's size as produce_buffer_bytes counts it.
func recordBytes(key, value []byte, headers []hooks.Header) int64 {
	size := int64(len(key) + len(value))
	for _, h := range headers {
		size += int64(len(h.Key) + len(h.Value))
	}
	return size
}

// reserve counts size bytes as being published, or reports false (nothing
// counted) when that would pass maxInflight; a request alone larger than
// the bound still goes through when nothing else is in flight.
func (p *producer) reserve(size int64) bool {
	if n := p.inflight.Add(size); p.maxInflight > 0 && n > p.maxInflight && n != size {
		p.inflight.Add(-size)
		return false
	}
	return true
}

// publishError maps a request-level pipeline error onto the bridge's.
func publishError(topic string, err error) error {
	switch {
	case errors.Is(err, pipeline.ErrUnknownTopic):
		return fmt.Errorf("%w: %s", ErrTopicNotFound, topic)
	case errors.Is(err, pipeline.ErrBadPartition):
		return fmt.Errorf("%w: %v", ErrPartitionNotFound, err)
	default:
		return err // a *pipeline.PluginError: toAPIError answers it
	}
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
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), kafkaRetriable(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	default:
		return err
	}
}

// kafkaRetriable reports whether err is, or maps to, a retriable Kafka
// error: a remote broker's answer, or a local partition's typed error
// (kerrmap maps those as the Kafka edge does).
func kafkaRetriable(err error) bool {
	ke, ok := kerrmap.Lookup(err)
	return ok && ke.Retriable
}

// retriable reports whether a per-record error is worth retrying (v2
// error_code 2) rather than permanent (error_code 1).
func retriable(err error) bool {
	return errors.Is(err, ErrOverloaded) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed)
}

// overloadError returns the error to answer a whole request with when every
// record failed retriably (so shippers back off and retry), or every record
// failed because of the topic's plugin (its refusal or failure is the
// request's answer: 422 or 502), else nil.
func overloadError(results []produceResult) error {
	if len(results) == 0 {
		return nil
	}
	allPlugin, allRetriable := true, true
	for _, r := range results {
		if r.Err == nil {
			return nil
		}
		var pe *pipeline.PluginError
		allPlugin = allPlugin && errors.As(r.Err, &pe)
		allRetriable = allRetriable && retriable(r.Err)
	}
	if !allPlugin && !allRetriable {
		return nil
	}
	return results[0].Err
}

// stored counts the records stored for results and the results the
// topic's transform dropped.
func stored(results []produceResult) (records, dropped int) {
	for _, r := range results {
		if r.Err != nil {
			continue
		}
		records += r.Records
		if r.Records == 0 {
			dropped++
		}
	}
	return records, dropped
}
