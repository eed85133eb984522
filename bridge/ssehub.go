package bridge

import (
	"context"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Event streams share one Kafka reader per topic (a hub) instead of a kgo
// client each: ten thousand streams of a topic used to be ten thousand
// clients and tens of thousands of file descriptors. A hub tails every
// partition from the offsets it was started at and hands each fetched
// batch, unchanged and shared, to every subscriber's bounded queue.
//
// A stream that starts behind the hub (Last-Event-ID, earliest, a
// timestamp) attaches first, noting the hub's position, and catches up to
// that position with a private client of its own (only for as long as the
// catch-up lasts); if its queue overflows meanwhile it detaches, catches up
// further and attaches again. Once caught up it delivers from its queue,
// skipping what it already has, so the sequence is exactly the log's. A
// stream whose queue overflows after that is too slow: it is cut off as
// before and resumes by event id.

const (
	// hubQueueBatches bounds each subscriber's queue of fetched batches
	// (the batches are shared; this bounds what a slow subscriber pins).
	hubQueueBatches = 64
	// hubFetchMaxBytes bounds one fetch of a hub (and of a catch-up).
	hubFetchMaxBytes = 4 << 20
)

// hubBatch is one partition's records of one fetch, shared read-only by
// every subscriber.
type hubBatch struct {
	partition int32
	records   []*kgo.Record
}

// hubSub is one stream attached to a hub.
type hubSub struct {
	queue      chan hubBatch
	mu         sync.Mutex
	overflowed bool
	overflow   chan struct{} // closed at the first overflow
}

func newHubSub() *hubSub {
	return &hubSub{queue: make(chan hubBatch, hubQueueBatches), overflow: make(chan struct{})}
}

func (s *hubSub) markOverflow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.overflowed {
		s.overflowed = true
		close(s.overflow)
	}
}

// sseHub tails one topic for its subscribers.
type sseHub struct {
	topic  string
	nparts int32
	ready  chan struct{} // closed once started (or failed: err)
	err    error

	refs int // guarded by hubRegistry.mu

	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	next positions // next offset the hub hands out, per partition
	subs map[*hubSub]struct{}
}

// attach registers s and returns the hub's position: everything from
// there on reaches s's queue (until it overflows).
func (h *sseHub) attach(s *hubSub) positions {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	return h.next.clone()
}

func (h *sseHub) detach(s *hubSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

func (h *sseHub) run(ctx context.Context, b *Bridge) {
	defer close(h.done)
	for {
		fetches := h.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if next, skipped := b.skipOversized(h.cl, err); skipped {
				h.mu.Lock()
				h.next[p] = max(h.next[p], next)
				h.mu.Unlock()
				return
			}
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("event stream fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		h.mu.Lock()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			h.next[fp.Partition] = fp.Records[len(fp.Records)-1].Offset + 1
			batch := hubBatch{partition: fp.Partition, records: fp.Records}
			for s := range h.subs {
				select {
				case s.queue <- batch:
				default:
					s.markOverflow()
				}
			}
		})
		h.mu.Unlock()
	}
}

// hubRegistry holds the running hubs by topic.
type hubRegistry struct {
	b    *Bridge
	mu   sync.Mutex
	hubs map[string]*sseHub
}

func newHubRegistry(b *Bridge) *hubRegistry {
	return &hubRegistry{b: b, hubs: map[string]*sseHub{}}
}

// acquire returns the topic's hub, starting one (at the partitions'
// current ends) if none runs or the running one predates partitions added
// since. Pair with release.
func (r *hubRegistry) acquire(ctx context.Context, topic string, nparts int32) (*sseHub, error) {
	r.mu.Lock()
	h := r.hubs[topic]
	if h != nil && h.nparts < nparts {
		delete(r.hubs, topic) // the old one ends with its last subscriber
		h = nil
	}
	creator := h == nil
	if creator {
		h = &sseHub{topic: topic, nparts: nparts, ready: make(chan struct{}), subs: map[*hubSub]struct{}{}, done: make(chan struct{})}
		r.hubs[topic] = h
	}
	h.refs++
	r.mu.Unlock()
	if creator {
		h.err = r.start(ctx, h)
		close(h.ready)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		r.release(h)
		return nil, ctx.Err()
	}
	if h.err != nil {
		r.release(h)
		return nil, h.err
	}
	return h, nil
}

func (r *hubRegistry) start(ctx context.Context, h *sseHub) error {
	ends, err := r.b.listOffsets(r.b.adm.ListEndOffsets(ctx, h.topic))
	if err != nil {
		return err
	}
	h.next = positions{}
	parts := make(map[int32]kgo.Offset, h.nparts)
	for p := int32(0); p < h.nparts; p++ {
		h.next[p] = ends[p]
		parts[p] = kgo.NewOffset().At(ends[p])
	}
	cl, err := kgo.NewClient(r.b.consumerOpts("sluice-bridge-sse",
		kgo.FetchMaxBytes(hubFetchMaxBytes), kgo.FetchMaxPartitionBytes(hubFetchMaxBytes),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.topic: parts}))...)
	if err != nil {
		return err
	}
	hctx, cancel := context.WithCancel(r.b.ctx)
	h.cl, h.cancel = cl, cancel
	go h.run(hctx, r.b)
	return nil
}

// release drops a reference; the last one stops the hub.
func (r *hubRegistry) release(h *sseHub) {
	r.mu.Lock()
	h.refs--
	last := h.refs == 0
	if last && r.hubs[h.topic] == h {
		delete(r.hubs, h.topic)
	}
	r.mu.Unlock()
	if last && h.cl != nil {
		h.cancel()
		<-h.done
		h.cl.Close()
	}
}

// running is the number of hubs (tests, metrics).
func (r *hubRegistry) running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.hubs)
}

// perKeyLimit counts concurrent holders per key (client IP) up to max.
type perKeyLimit struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newPerKeyLimit(max int) *perKeyLimit { return &perKeyLimit{max: max, n: map[string]int{}} }

func (l *perKeyLimit) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return false
	}
	l.n[key]++
	return true
}

func (l *perKeyLimit) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key]--; l.n[key] <= 0 {
		delete(l.n, key) // no entry per IP ever seen
	}
}

// consumerOpts are the options of every consumer client of the bridge:
// the brokers, a client id and the decompression budget.
func (b *Bridge) consumerOpts(clientID string, opts ...kgo.Opt) []kgo.Opt {
	return append(append(kafkaOpts(b.cfg), kgo.ClientID(clientID),
		kgo.MaxDecompressBatchBytes(b.cfg.MaxDecompressedBatchBytes)), opts...)
}

// skipOversized moves cl past a batch that would decompress beyond the
// budget (kgo stops the partition at it), returning the offset after it.
// Its records are not delivered: the warning says which.
func (b *Bridge) skipOversized(cl *kgo.Client, err error) (next int64, skipped bool) {
	var big *kgo.ErrDecompressTooLarge
	if !errors.As(err, &big) {
		return 0, false
	}
	b.log.Warn("skipping a record batch over the decompression budget", "topic", big.Topic, "partition", big.Partition,
		"offset", big.Offset, "next_offset", big.NextOffset, "limit_bytes", b.cfg.MaxDecompressedBatchBytes)
	cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{big.Topic: {big.Partition: {Epoch: big.Epoch, Offset: big.NextOffset}}})
	return big.NextOffset, true
}
