package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
)

// PublishRecord is a record the bridge publishes: decoded, with the
// partition it asks for (-1: the pipeline chooses, see Place).
type PublishRecord struct {
	hooks.Record
	Partition int32
}

// Placed is where one published record landed, or why it did not.
type Placed struct {
	Partition int32
	Offset    int64 // -1 when Records is 0 or Err is set
	// Records is how many records were stored for this one from Offset
	// on: 1 normally; 0 when the topic's transform dropped it (or merged
	// it into an earlier record); more when the transform added records
	// after it (layout.go). Meaningful when Err is nil.
	Records int
	Err     error
}

// batchOverhead is a v2 batch's header (61 bytes) plus slack for the
// varint lengths of one record, used to keep each encoded batch under
// max.message.bytes.
const (
	batchOverhead  = 61
	recordOverhead = 32
)

// Publish appends records (the HTTP bridge's) to topic with the acks the
// caller asks for, and answers where each landed. Request-level errors —
// an unknown topic (UNKNOWN_TOPIC_OR_PARTITION), a partition the topic does
// not have (ErrBadPartition), a partitioner plugin's failure
// (*PluginError) — fail before anything is written. Everything else is per
// record: a partition's records fail or succeed together.
//
// Partitions this broker leads are appended in-process, as one request per
// partition through Append (so transforms and emits run as for a Kafka
// produce) under the pipeline's own idempotent producer identity; the
// others go through an internal idempotent acks=all Kafka producer built
// from Config.RemoteOpts (none in single-node mode: NOT_LEADER). Each
// record is appended once: nothing is retried after an append, and the
// producer sequence numbers let the log refuse a duplicate batch.
// Concurrent publishes to a partition of a topic without a transform share
// one append (appendShared).
//
// A record's offset is where it was stored: with a transform, the
// layout of its output (layout.go) says which records were dropped (no
// offset) and how many records a split stored. Records published through
// another broker's leader (cluster mode) are answered with the offsets a
// Kafka client infers from the base offset (the same, unless the
// transform changed the count).
func (p *Pipeline) Publish(ctx context.Context, topic string, recs []PublishRecord, acks int16) ([]Placed, error) {
	n, ok := p.b.PartitionCount(topic)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if len(recs) == 1 {
		return p.publishOne(ctx, topic, &recs[0], n, acks)
	}
	hrecs := make([]hooks.Record, len(recs))
	parts := make([]int32, len(recs))
	for i := range recs {
		hrecs[i] = recs[i].Record
		parts[i] = recs[i].Partition
	}
	if err := p.Place(ctx, topic, hrecs, parts, n); err != nil {
		return nil, err
	}
	out := make([]Placed, len(recs))
	for i, pt := range parts {
		out[i].Partition = pt
	}
	now := time.Now().UnixMilli()
	pub := p.publisher()
	if single(parts) {
		// One partition: no grouping, no goroutine.
		idx := make([]int, len(recs))
		for i := range idx {
			idx[i] = i
		}
		if !pub.local(ctx, topic, parts[0], hrecs, idx, acks, now, out, nil) {
			pub.remote(ctx, topic, hrecs, idx, now, out)
		}
		return out, nil
	}
	// Group by partition, keeping request order within each; partitions
	// append concurrently.
	var order []int32
	byPart := make(map[int32][]int)
	for i, pt := range parts {
		if _, seen := byPart[pt]; !seen {
			order = append(order, pt)
		}
		byPart[pt] = append(byPart[pt], i)
	}
	led := make([]bool, len(order))
	var wg sync.WaitGroup
	for j, pt := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			led[j] = pub.local(ctx, topic, pt, hrecs, byPart[pt], acks, now, out, nil)
		}()
	}
	wg.Wait()
	var elsewhere []int
	for j, pt := range order {
		if !led[j] {
			elsewhere = append(elsewhere, byPart[pt]...)
		}
	}
	if len(elsewhere) > 0 {
		pub.remote(ctx, topic, hrecs, elsewhere, now, out)
	}
	return out, nil
}

// oneRecord holds a one-record publish's record and answer in one
// allocation (the record is shared with the partition's append queue, the
// answer is returned).
type oneRecord struct {
	rec [1]hooks.Record
	out [1]Placed
	req appendReq
}

// publishOne is Publish for one record (every beacon): the same steps
// without the per-request slices and index maps.
func (p *Pipeline) publishOne(ctx context.Context, topic string, rec *PublishRecord, n int32, acks int16) ([]Placed, error) {
	one := &oneRecord{rec: [1]hooks.Record{rec.Record}}
	parts := [1]int32{rec.Partition}
	if err := p.Place(ctx, topic, one.rec[:], parts[:], n); err != nil {
		return nil, err
	}
	out := one.out[:]
	out[0].Partition = parts[0]
	now := time.Now().UnixMilli()
	pub := p.publisher()
	idx := [1]int{0}
	if !pub.local(ctx, topic, parts[0], one.rec[:], idx[:], acks, now, out, &one.req) {
		pub.remote(ctx, topic, one.rec[:], idx[:], now, out)
	}
	return out, nil
}

func single(parts []int32) bool {
	for _, pt := range parts[1:] {
		if pt != parts[0] {
			return false
		}
	}
	return true
}

// publisher is one pipeline's producer state for Publish.
type publisher struct {
	p *Pipeline

	mu    sync.Mutex // guards id, epoch, gen and seqs' map
	id    int64      // -1 until allocated
	epoch int16
	gen   uint64 // bumped on every new identity
	seqs  map[partKey]*partSeq

	remoteOnce sync.Once
	remoteCl   *kgo.Client
	remoteErr  error
}

type partKey struct {
	topic string
	part  int32
}

// partSeq is the next sequence number of one partition. Its lock is held
// from choosing the sequence until the append returns, so concurrent
// publishes to a partition append in sequence order.
type partSeq struct {
	mu   sync.Mutex
	gen  uint64 // identity the sequence belongs to
	next int32

	qmu     sync.Mutex
	queue   []*appendReq // waiting to be appended (appendShared)
	leading bool         // a request is appending the queue (appendShared)
}

// publishers holds each pipeline's publisher. It lives here rather than
// in Pipeline so that publish.go owns all of its state; closePublish,
// which Pipeline.Close is to call, removes it.
var publishers sync.Map // *Pipeline → *publisher

func (p *Pipeline) publisher() *publisher {
	if v, ok := publishers.Load(p); ok {
		return v.(*publisher)
	}
	v, _ := publishers.LoadOrStore(p, &publisher{p: p, id: -1, seqs: map[partKey]*partSeq{}})
	return v.(*publisher)
}

// closePublish closes the internal remote producer, if Publish started one.
func (p *Pipeline) closePublish() {
	v, ok := publishers.LoadAndDelete(p)
	if !ok {
		return
	}
	pub := v.(*publisher)
	pub.remoteOnce.Do(func() {}) // no client can start after this
	if pub.remoteCl != nil {
		pub.remoteCl.Close()
	}
}

// identity returns the producer id and epoch to write with, allocating an
// id the first time (and after renew).
func (pub *publisher) identity() (id int64, epoch int16, gen uint64, err error) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.id < 0 {
		if pub.id, err = pub.p.b.AllocateProducerID(); err != nil {
			pub.id = -1
			return -1, 0, 0, fmt.Errorf("%w: producer id: %v", broker.ErrStorage, err)
		}
		pub.gen++
	}
	return pub.id, pub.epoch, pub.gen, nil
}

// renew drops the identity of generation gen (a partition refused its
// sequence): the next publish allocates a new id, whose sequences start
// at 0 on every partition.
func (pub *publisher) renew(gen uint64) {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.gen == gen {
		pub.id = -1
	}
}

func (pub *publisher) seq(topic string, part int32) *partSeq {
	pub.mu.Lock()
	defer pub.mu.Unlock()
	k := partKey{topic, part}
	s := pub.seqs[k]
	if s == nil {
		s = &partSeq{}
		pub.seqs[k] = s
	}
	return s
}

// local appends records idx of hrecs to a partition this broker leads and
// fills their results. It returns false, having written nothing, when
// another broker leads the partition. It sets the timestamp of records
// without one to now in hrecs (the pipeline's own copy). req, when not
// nil, is the zero appendReq to use (publishOne allocates it with the
// record).
func (pub *publisher) local(ctx context.Context, topic string, part int32, hrecs []hooks.Record, idx []int, acks int16, now int64, out []Placed, req *appendReq) bool {
	pp, err := pub.p.b.Partition(topic, part)
	if errkind.Is(err, errkind.NotLeader) {
		return false
	}
	if err != nil {
		for _, i := range idx {
			out[i].Offset, out[i].Err = -1, err
		}
		return true
	}
	// Records the partition would refuse fail alone (they must not fail
	// the records appended with them); the rest are split into batches
	// under max.message.bytes.
	cfg := pp.Config()
	limit := int(cfg.MaxMessageBytes)
	refused, bytes := 0, 0
	for _, i := range idx {
		r := &hrecs[i]
		size := recordSize(r)
		switch {
		case size+batchOverhead > limit:
			out[i].Offset, out[i].Err = -1, fmt.Errorf("%w: record of %d bytes, max.message.bytes is %d", partition.ErrMessageTooLarge, size, limit)
			refused++
			continue
		case cfg.Compacted && r.Key == nil:
			out[i].Offset, out[i].Err = -1, fmt.Errorf("%w: compacted topics need a key", partition.ErrInvalidRecord)
			refused++
			continue
		}
		if r.Timestamp <= 0 {
			r.Timestamp = now
		}
		bytes += size
	}
	if refused == len(idx) {
		return true
	}
	var recs []hooks.Record
	if refused == 0 && idx[len(idx)-1] == len(idx)-1 {
		// idx is 0, 1, ... (increasing, as Publish builds it): the
		// records are hrecs' first ones, no copy needed.
		recs = hrecs[:len(idx)]
	} else {
		recs = make([]hooks.Record, 0, len(idx)-refused)
		keep := make([]int, 0, len(idx)-refused)
		for _, i := range idx {
			if out[i].Err == nil {
				recs = append(recs, hrecs[i])
				keep = append(keep, i)
			}
		}
		idx = keep
	}
	if req == nil {
		req = new(appendReq)
	}
	req.recs, req.bytes, req.acks = recs, bytes, acks
	// Without a transform, concurrent publishes to the partition share one
	// append (one batch, one write): a transform could refuse one
	// request's records, which must not fail the others'.
	if pub.p.cfg.Hooks.Transform(topic) == nil {
		pub.appendShared(topic, part, pp, limit, req)
	} else {
		pub.append(ctx, topic, part, limit, []*appendReq{req})
	}
	if errkind.Is(req.err, errkind.NotLeader) {
		// Leadership moved between the lookup and the append; nothing
		// was written.
		return false
	}
	fail := func(err error) {
		for _, i := range idx {
			out[i].Offset, out[i].Err = -1, err
		}
	}
	if req.err != nil {
		fail(req.err)
		return true
	}
	if err := req.pd.Wait(ctx); err != nil {
		fail(err)
		return true
	}
	for j, i := range idx {
		out[i].Offset, out[i].Records = req.pd.Stored(req.first + j)
		if out[i].Records == 0 {
			out[i].Offset = -1
		}
	}
	return true
}

// recordSize estimates a record's encoded size (an upper bound for keys,
// values and headers up to 2 GiB), used to split batches under
// max.message.bytes.
func recordSize(r *hooks.Record) int {
	size := len(r.Key) + len(r.Value) + recordOverhead
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value) + 10
	}
	return size
}

// appendReq is one publish's records for one partition, appended alone
// or together with concurrent publishes' (appendShared).
type appendReq struct {
	recs  []hooks.Record // timestamps set
	bytes int            // recordSize summed over recs
	acks  int16

	// appended is set by the goroutine that appended this request with
	// its own (appendShared) before it sends on wake.
	appended bool
	wake     chan struct{} // appendShared: appended, or lead (nil: led from the start)
	pd       *Pending      // shared by the requests appended together
	first    int           // index of recs[0] among the records of pd
	err      error
	// pending is where the group's leader keeps pd (one allocation
	// less per append; the others hold a pointer to it).
	pending Pending
}

// maxSharedBytes bounds the records one shared append takes.
const maxSharedBytes = 1 << 20

// appendShared appends req, together with whatever other publishes to the
// partition queued meanwhile (group commit): one request at a time leads,
// appending every queued request with the same acks as one request — one
// batch, one write, one fsync — so publishes that arrive while an append
// runs cost one more append between them, not one each. Nothing waits to
// gather a group: on an idle partition a request leads and appends at
// once. Each request keeps its own offsets
// (appendReq.first) and waits for its own acknowledgement (Pending.Wait is
// called concurrently on the shared Pending); an append that fails fails
// every request of its group.
func (pub *publisher) appendShared(topic string, part int32, pp *partition.Partition, limit int, req *appendReq) {
	s := pub.seq(topic, part)
	s.qmu.Lock()
	if s.leading {
		// A leader is appending: it, or a later one, takes req and
		// wakes it — appended, or told to lead the next group.
		req.wake = make(chan struct{}, 1)
		s.queue = append(s.queue, req)
		s.qmu.Unlock()
		<-req.wake
		if req.appended {
			return
		}
	} else {
		s.leading = true
		s.queue = append(s.queue, req)
		s.qmu.Unlock()
	}
	var buf [8]*appendReq
	group := append(buf[:0], req)
	bytes := req.bytes
	s.mu.Lock() // the sequence: a transform's appends (append) take it too
	s.qmu.Lock()
	rest := s.queue[:0]
	for _, q := range s.queue {
		if q == req {
			continue
		}
		if q.acks != req.acks || bytes+q.bytes > maxSharedBytes {
			rest = append(rest, q)
			continue
		}
		group = append(group, q)
		bytes += q.bytes
	}
	clear(s.queue[len(rest):])
	s.queue = rest
	s.qmu.Unlock()
	// No context: the append is not req's alone (it must not stop when
	// req's client goes away), and a plain append takes none.
	pub.appendLocked(nil, topic, part, pp, limit, s, group)
	if req.err == nil && req.acks != 0 && pp.Durable() {
		// With fsync before acknowledgement the group spans the fsync
		// too: publishes arriving meanwhile queue and go as the next
		// group's one append and one fsync, instead of one append each
		// that the next fsync covers anyway. An fsync error is each
		// request's answer from Pending.Wait.
		_ = pp.WaitDurable(req.pd.Result)
	}
	s.mu.Unlock()
	// Hand leadership to the oldest waiting request, if any, before
	// waking the group (so the next append starts at once), then wake
	// the group's requests directly: none waits behind the next
	// group's append to learn that its own is done.
	s.qmu.Lock()
	var next *appendReq
	if len(s.queue) > 0 {
		next = s.queue[0]
	} else {
		s.leading = false
	}
	s.qmu.Unlock()
	if next != nil {
		next.wake <- struct{}{}
	}
	for _, q := range group[1:] {
		q.appended = true
		q.wake <- struct{}{}
	}
}

// append appends group as one request under the partition's sequence
// lock.
func (pub *publisher) append(ctx context.Context, topic string, part int32, limit int, group []*appendReq) {
	s := pub.seq(topic, part)
	s.mu.Lock()
	defer s.mu.Unlock()
	pub.appendLocked(ctx, topic, part, nil, limit, s, group)
}

// appendLocked encodes group's records as batches of the pipeline's
// idempotent producer and appends them in one request, s.mu held so
// publishes append in sequence order. A sequence the partition refuses
// (its producer state was lost) renews the identity and retries once:
// nothing of a refused request was written.
//
// With pp (appendShared: a topic without a transform) the batch goes
// straight to the partition (appendPlain); without, through Append with
// ctx (the topic's transform and emits).
func (pub *publisher) appendLocked(ctx context.Context, topic string, part int32, pp *partition.Partition, limit int, s *partSeq, group []*appendReq) {
	recs, bytes := group[0].recs, group[0].bytes
	if len(group) > 1 {
		n := 0
		for _, q := range group {
			n += len(q.recs)
		}
		recs, bytes = make([]hooks.Record, 0, n), 0
		for _, q := range group {
			recs = append(recs, q.recs...)
			bytes += q.bytes
		}
	}
	var pd *Pending
	var err error
	for attempt := 0; ; attempt++ {
		var id int64
		var epoch int16
		var gen uint64
		if id, epoch, gen, err = pub.identity(); err != nil {
			break
		}
		if s.gen != gen {
			s.gen, s.next = gen, 0
		}
		var batch []byte
		if batch, err = encodeBatches(recs, bytes, limit, id, epoch, s.next); err != nil {
			break
		}
		if pp != nil {
			if err = appendPlain(pp, batch, group[0].acks, &group[0].pending); err == nil {
				pd = &group[0].pending
			}
		} else {
			pd, err = pub.p.Append(ctx, AppendRequest{Topic: topic, Partition: part, Batch: batch, Acks: group[0].acks})
		}
		if err == nil {
			s.next = seqAdd(s.next, int32(len(recs)))
			break
		}
		if attempt > 0 || !(errkind.Is(err, errkind.OutOfOrderSequence) || errkind.Is(err, errkind.StaleProducerEpoch)) {
			break
		}
		pub.p.log.Warn("publish: partition refused the pipeline's producer sequence; taking a new producer id",
			"topic", topic, "partition", part, "producer_id", id, "err", err)
		pub.renew(gen)
	}
	first := 0
	for _, q := range group {
		q.pd, q.err, q.first = pd, err, first
		first += len(q.recs)
	}
}

// appendPlain is Append for the pipeline's own batch to a partition of a
// topic without a transform (Prepare's fast path without the checks that
// concern clients' batches): acks=all first checks min.insync.replicas,
// then the batch is stored as encoded. It fills pd.
func appendPlain(pp *partition.Partition, batch []byte, acks int16, pd *Pending) error {
	if acks == -1 {
		if err := pp.CheckMinISR(); err != nil {
			return err
		}
	}
	res, err := pp.Append(batch)
	if err != nil {
		return err
	}
	*pd = Pending{Result: res, p: pp, acks: acks}
	return nil
}

// encodeBatches encodes recs (timestamps set, recordSize summing to
// bytes) as consecutive idempotent batches of at most limit bytes each
// (by the estimated sizes), the first at sequence seq. Records that fit
// one batch (every beacon) take one allocation.
func encodeBatches(recs []hooks.Record, bytes, limit int, id int64, epoch int16, seq int32) ([]byte, error) {
	opts := batchOptions{codec: records.None, pid: id, epoch: epoch, seq: seq}
	if bytes+batchOverhead <= limit {
		return encodeBatch(recs, opts)
	}
	var out []byte
	start, size := 0, batchOverhead
	flush := func(end int) error {
		b, err := encodeBatch(recs[start:end], opts)
		if err != nil {
			return err
		}
		out = append(out, b...)
		opts.seq = seqAdd(opts.seq, int32(end-start))
		start, size = end, batchOverhead
		return nil
	}
	for i := range recs {
		sz := recordSize(&recs[i])
		if i > start && size+sz > limit {
			if err := flush(i); err != nil {
				return nil, err
			}
		}
		size += sz
	}
	if err := flush(len(recs)); err != nil {
		return nil, err
	}
	return out, nil
}

// seqAdd adds to a producer sequence with Kafka's wraparound at MaxInt32.
func seqAdd(seq, n int32) int32 {
	s := int64(seq) + int64(n)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// remote publishes records idx through the internal Kafka producer (the
// partitions other brokers lead) and fills their results.
func (pub *publisher) remote(ctx context.Context, topic string, hrecs []hooks.Record, idx []int, now int64, out []Placed) {
	cl, err := pub.remoteClient()
	if err != nil {
		for _, i := range idx {
			out[i].Offset, out[i].Err = -1, err
		}
		return
	}
	var wg sync.WaitGroup
	wg.Add(len(idx))
	for _, i := range idx {
		r := hrecs[i]
		kr := &kgo.Record{Topic: topic, Partition: out[i].Partition, Key: r.Key, Value: r.Value}
		if r.Timestamp > 0 {
			kr.Timestamp = time.UnixMilli(r.Timestamp)
		} else {
			kr.Timestamp = time.UnixMilli(now)
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			if err != nil {
				out[i].Offset, out[i].Err = -1, err
			} else {
				out[i].Offset, out[i].Records = kr.Offset, 1
			}
			wg.Done()
		})
	}
	wg.Wait()
}

// remoteClient starts the internal producer on first use. Without
// RemoteOpts (single node) every partition is local, so a partition led
// elsewhere is one this broker does not know yet: NOT_LEADER, retriable.
func (pub *publisher) remoteClient() (*kgo.Client, error) {
	remote := pub.p.remoteOpts()
	if remote == nil {
		return nil, broker.ErrNotHosted
	}
	pub.remoteOnce.Do(func() {
		opts := append([]kgo.Opt{
			kgo.ClientID("sluice-pipeline"),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(0),
		}, remote...)
		pub.remoteCl, pub.remoteErr = kgo.NewClient(opts...)
	})
	switch {
	case pub.remoteErr != nil:
		return nil, pub.remoteErr
	case pub.remoteCl == nil:
		return nil, broker.ErrNotHosted
	}
	return pub.remoteCl, nil
}
