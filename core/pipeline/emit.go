package pipeline

// Emits: records a transform sends to other topics.
//
// Order. A produce with emits is: transform → check the emit targets →
// append the source → send the emits (each to its partition's leader,
// with the source's acks) → acknowledge the source once it is committed
// and every emit is acknowledged. A failed emit fails the source
// partition's response with the emit's error; the client retries.
//
// Idempotence. Every emit batch carries an identity derived from its
// source batch: producer id EmitProducerID(source topic, partition,
// source producer id) — one "emit stream" per source producer and
// partition — the source producer's epoch, and the source batch's base
// sequence. The targets deduplicate on it (core/partition: emit streams
// keep the last batches per stream and target partition, like client
// producers, but may skip sequence numbers). Unkeyed emits are placed
// deterministically from the same identity. So, for an idempotent source
// producer and a deterministic transform:
//   - the source leader dies after appending but before the emits are
//     acknowledged: the client retries the batch at the new leader, which
//     answers it from its (replicated) dedupe state — but runs the
//     transform again first and re-sends the emits: the ones that landed
//     are dropped as duplicates, the rest land (no loss);
//   - the emits landed but the source was not replicated: the retry
//     appends the source and its emits are dropped as duplicates (no
//     duplicate emits);
//   - a retried emit request after a target leader change is deduplicated
//     the same way (the dedupe state is replicated with the batches).
//
// Sources without a producer id have no identity to derive from: their
// emits are plain batches, at least once like the source records.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kerrmap"
	"github.com/sluicemq/sluice/core/partition"
)

// EmitClientID is the client id of the internal producer that sends emits
// to partitions other brokers lead. A peer broker's produce with this
// client id is an emit: the target topic's transform does not run on it.
const EmitClientID = "sluice-pipeline-emit"

// ErrInternalTopic: a transform emitted to an internal topic (the brokers'
// own topics, such as plugin deployments), which is refused.
var ErrInternalTopic = errkind.New(errkind.PolicyViolation, "transforms may not emit to internal topics")

// errClosed: the pipeline was closed (broker shutdown).
var errClosed = errors.New("pipeline: closed")

// EmitError is a failed emit: the source produce fails with it. Err is
// the target's Kafka error, a *PluginError (the target's partitioner),
// ErrInternalTopic or ErrBadPartition.
type EmitError struct {
	Topic     string
	Partition int32 // -1 before a partition was chosen
	Err       error
}

func (e *EmitError) Error() string {
	if e.Partition < 0 {
		return fmt.Sprintf("transform emit to topic %s: %v", e.Topic, e.Err)
	}
	return fmt.Sprintf("transform emit to %s-%d: %v", e.Topic, e.Partition, e.Err)
}

func (e *EmitError) Unwrap() error { return e.Err }

// emitIdentity is a source batch's producer identity (pid < 0: none).
type emitIdentity struct {
	pid   int64
	epoch int16
	seq   int32
}

// EmitProducerID is the producer id of the emit stream of source
// producer pid on topic-part: a hash of the three in the emit id range
// (partition.EmitProducerIDs and up), the same on every broker.
func EmitProducerID(topic string, part int32, pid int64) int64 {
	h := fnv.New64a()
	h.Write([]byte(topic))
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(part))
	binary.BigEndian.PutUint64(b[4:], uint64(pid))
	h.Write(b[:])
	return partition.EmitProducerIDs | int64(h.Sum64()&(uint64(partition.EmitProducerIDs)-1))
}

// emitBatch is one target partition's emits of one source produce.
type emitBatch struct {
	topic string
	part  int32
	batch []byte
}

// planEmits places a produce's emits on their topics' partitions and
// encodes one batch per target partition. Anything that makes an emit
// impossible (internal topic, unknown topic, a partitioner failure) fails
// here, before the source is stored.
func (p *Pipeline) planEmits(ctx context.Context, srcTopic string, srcPart int32, id emitIdentity, emits []hooks.Emit) ([]emitBatch, error) {
	var order []string
	byTopic := map[string][]hooks.Record{}
	for _, e := range emits {
		if _, ok := byTopic[e.Topic]; !ok {
			order = append(order, e.Topic)
		}
		byTopic[e.Topic] = append(byTopic[e.Topic], e.Record)
	}
	opts := batchOptions{pid: -1, epoch: -1, seq: -1}
	if id.pid >= 0 {
		opts.pid, opts.epoch, opts.seq = EmitProducerID(srcTopic, srcPart, id.pid), id.epoch, id.seq
	}
	now := time.Now().UnixMilli()
	var plan []emitBatch
	for _, topic := range order {
		recs := byTopic[topic]
		if p.cfg.InternalTopic(topic) {
			return nil, &EmitError{Topic: topic, Partition: -1, Err: ErrInternalTopic}
		}
		if err := p.b.EnsureTopic(topic); err != nil {
			return nil, &EmitError{Topic: topic, Partition: -1, Err: err}
		}
		t, ok := p.b.Topic(topic)
		if !ok {
			return nil, &EmitError{Topic: topic, Partition: -1, Err: ErrUnknownTopic}
		}
		n := int32(len(t.Partitions))
		parts := make([]int32, len(recs))
		for i := range parts {
			parts[i] = -1
		}
		if id.pid >= 0 && n > 0 && p.cfg.Hooks.Partitioner(topic) == nil {
			// Unkeyed emits of an identified source batch go where a
			// retry of the batch will send them again.
			seed := emitSeed(srcTopic, srcPart, id, topic)
			for i, r := range recs {
				if r.Key == nil {
					parts[i] = int32((seed + uint32(i)) % uint32(n))
				}
			}
		}
		if err := p.Place(ctx, topic, recs, parts, n); err != nil {
			return nil, &EmitError{Topic: topic, Partition: -1, Err: err}
		}
		byPart := map[int32][]hooks.Record{}
		for i, r := range recs {
			if r.Timestamp == 0 {
				r.Timestamp = now
			}
			byPart[parts[i]] = append(byPart[parts[i]], r)
		}
		pids := make([]int32, 0, len(byPart))
		for pi := range byPart {
			pids = append(pids, pi)
		}
		slices.Sort(pids)
		for _, pi := range pids {
			batch, err := encodeBatch(byPart[pi], opts)
			if err != nil {
				return nil, &EmitError{Topic: topic, Partition: pi, Err: err}
			}
			plan = append(plan, emitBatch{topic: topic, part: pi, batch: batch})
		}
	}
	return plan, nil
}

// emitSeed spreads the unkeyed emits of one source batch over a topic's
// partitions deterministically.
func emitSeed(srcTopic string, srcPart int32, id emitIdentity, target string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(srcTopic))
	h.Write([]byte{0})
	h.Write([]byte(target))
	var b [18]byte
	binary.BigEndian.PutUint32(b[:4], uint32(srcPart))
	binary.BigEndian.PutUint64(b[4:12], uint64(id.pid))
	binary.BigEndian.PutUint16(b[12:14], uint16(id.epoch))
	binary.BigEndian.PutUint32(b[14:], uint32(id.seq))
	h.Write(b[:])
	return h.Sum32()
}

// sendEmits delivers the plan's batches concurrently; the channel gets
// the first failure (nil when all were acknowledged). acks=0 sources'
// emits go out with acks=1 and nobody waits for them.
func (p *Pipeline) sendEmits(plan []emitBatch, acks int16, timeout time.Duration) <-chan error {
	if acks == 0 {
		acks = 1
	}
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		errs := make([]error, len(plan))
		var wg sync.WaitGroup
		for i := range plan {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.deliver(ctx, plan[i], acks)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				ch <- err
				return
			}
		}
		ch <- nil
	}()
	return ch
}

// deliver sends one emit batch to its partition's leader, retrying
// retriable errors (leader changes) until ctx ends: the batch's identity
// makes re-sending safe.
func (p *Pipeline) deliver(ctx context.Context, eb emitBatch, acks int16) error {
	backoff := 25 * time.Millisecond
	for {
		err := p.deliverOnce(ctx, eb, acks)
		if err == nil {
			return nil
		}
		if !retriable(err) || ctx.Err() != nil {
			if ctx.Err() != nil && retriable(err) {
				p.log.Warn("emit not acknowledged in time", "topic", eb.topic, "partition", eb.part, "err", err)
			}
			return &EmitError{Topic: eb.topic, Partition: eb.part, Err: err}
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return &EmitError{Topic: eb.topic, Partition: eb.part, Err: err}
		}
		backoff = min(2*backoff, time.Second)
	}
}

// retriable: the emit may succeed if sent again (a leader moved, a
// broker was unreachable).
func retriable(err error) bool {
	if _, known := kerrmap.Lookup(err); known {
		return kerrmap.Retriable(err)
	}
	var pe *PluginError
	if errors.As(err, &pe) || errors.Is(err, ErrInternalTopic) || errors.Is(err, ErrBadPartition) || errors.Is(err, errClosed) {
		return false
	}
	// Connection errors, unknown brokers: metadata will catch up.
	return true
}

// deliverOnce appends the batch here when this broker leads its
// partition, else produces it to the leader with the internal client.
func (p *Pipeline) deliverOnce(ctx context.Context, eb emitBatch, acks int16) error {
	t, ok := p.b.Topic(eb.topic)
	if !ok || int(eb.part) >= len(t.Partitions) {
		return ErrUnknownTopic
	}
	leader := t.Partitions[eb.part].Leader
	if leader == p.b.ID() || !p.hasRemote() {
		// The log may stamp offsets into the bytes: a retry must send
		// the batch as planned.
		pd, err := p.Append(ctx, AppendRequest{Topic: eb.topic, Partition: eb.part, Batch: slices.Clone(eb.batch), Acks: acks, Emit: true})
		if err != nil {
			return err
		}
		return pd.Wait(ctx)
	}
	if leader < 0 {
		return ErrLeaderNotAvailable
	}
	cl, err := p.remoteClient(acks)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 30000
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMillis = int32(max(time.Until(dl).Milliseconds(), 1))
	}
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = eb.topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = eb.part, eb.batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := cl.Broker(int(leader)).Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return ErrBadResponse
	}
	return kerrmap.FromCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// SetRemote configures the internal producer that sends emits to
// partitions other brokers lead (seed brokers, dialer, SASL); see
// Config.RemoteOpts. node sets it once the listener's in-process dialer
// exists.
func (p *Pipeline) SetRemote(opts []kgo.Opt) {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	p.cfg.RemoteOpts = opts
}

// remoteOpts is what SetRemote set (nil in single-node mode).
func (p *Pipeline) remoteOpts() []kgo.Opt {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	return p.cfg.RemoteOpts
}

func (p *Pipeline) hasRemote() bool {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	return len(p.cfg.RemoteOpts) > 0
}

// remoteClient is the internal client for acks (-1 or 1), created on
// first use. Raw produce requests take the client's acks, hence one
// client per acks value.
func (p *Pipeline) remoteClient(acks int16) (*kgo.Client, error) {
	p.remoteMu.Lock()
	defer p.remoteMu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if cl := p.remote[acks]; cl != nil {
		return cl, nil
	}
	opts := append(slices.Clone(p.cfg.RemoteOpts), kgo.ClientID(EmitClientID))
	if acks == 1 {
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	} else {
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if p.remote == nil {
		p.remote = map[int16]*kgo.Client{}
	}
	p.remote[acks] = cl
	return cl, nil
}
