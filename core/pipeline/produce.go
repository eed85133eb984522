package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// hookTimeout bounds one hook call as seen from the pipeline; the plugin
// runtime enforces its own, shorter deadline per call.
const hookTimeout = 30 * time.Second

// defaultEmitTimeout bounds the delivery of a produce's emits when the
// request gives no timeout.
const defaultEmitTimeout = 30 * time.Second

// AppendRequest is one partition's part of a produce.
type AppendRequest struct {
	Topic     string
	Partition int32
	// Batch is one or more v2 record batches as a client sent them.
	Batch []byte
	// Acks is the source request's acks (-1, 0 or 1); emits get the same.
	Acks int16
	// Emit marks records a transform emitted (sent by this broker's or a
	// peer's pipeline): the topic's own transform does not run on them,
	// so transforms never chain or loop.
	Emit bool
	// Timeout bounds the delivery of the transform's emits (the produce
	// request's timeout); 0 means 30 s.
	Timeout time.Duration
	// TxnGuard, when not nil, turns on transaction verification for the
	// append (partition.AppendGuarded; KIP-890 part 1).
	TxnGuard *partition.TxnGuard
}

// Pending is an appended produce whose acknowledgement may still be
// outstanding (replication, fsync, emits).
type Pending struct {
	Result partition.AppendResult
	p      *partition.Partition
	acks   int16
	// emits delivers the outcome of the transform's emits (nil: none).
	emits <-chan error
	// layouts: per input batch, where the transform's output sits
	// (nil without a transform); see Stored.
	layouts []layout
}

// Append runs one partition's produce through the topic's transform,
// appends the result and sends the transform's emits. It returns once the
// records are appended (so appends keep request order); Wait then waits
// for the acknowledgement the request's acks ask for.
//
// With a transform the order is: transform (outside the partition's
// append lock) → check the emits' targets (an emit that cannot go
// anywhere fails the produce before anything is stored) → append the
// source → send the emits → Wait: source committed and emits
// acknowledged. The transform runs again on a retried batch even when the
// partition answers it as a duplicate, so a retry re-sends the emits of a
// source batch whose first attempt died between append and emit; emit
// batches carry an identity derived from the source batch (emit.go), so
// the targets drop the copies that did land.
func (p *Pipeline) Append(ctx context.Context, req AppendRequest) (*Pending, error) {
	return p.Prepare(ctx, req).Append()
}

// Prepared is a produce whose transform (the costly, lock-free part) has
// run: Prepare several partitions' produces concurrently, then Append them
// in request order.
type Prepared struct {
	p    *Pipeline
	req  AppendRequest
	part *partition.Partition
	tr   bool        // the topic has a transform
	prep *prepared   // its output, when tr
	plan []emitBatch // emits to send after the append
	err  error       // failed before the append
}

// Transforming reports whether produces to topic run a transform (and so
// are worth preparing concurrently).
func (p *Pipeline) Transforming(topic string) bool { return p.cfg.Hooks.Transform(topic) != nil }

// Prepare checks the partition and runs the topic's transform and emit
// planning for req; nothing is stored. Errors surface from Append.
func (p *Pipeline) Prepare(ctx context.Context, req AppendRequest) *Prepared {
	pr := &Prepared{p: p, req: req}
	part, err := p.b.Partition(req.Topic, req.Partition)
	if err != nil {
		pr.err = err
		return pr
	}
	pr.part = part
	if req.Acks == -1 {
		if err := part.CheckMinISR(); err != nil {
			pr.err = err
			return pr
		}
	}
	var tr hooks.Transform
	if !req.Emit {
		if emitProducerIn(req.Batch) {
			// Emit streams' relaxed sequence checks are the pipeline's
			// own: clients may not use their producer ids.
			pr.err = ErrReservedProducerID
			return pr
		}
		tr = p.cfg.Hooks.Transform(req.Topic)
	}
	if tr == nil {
		return pr // the fast path: stored as received
	}
	pr.tr = true
	pr.prep, pr.err = p.transform(ctx, tr, req.Topic, req.Partition, part.Config(), req.Batch)
	if pr.err == nil && len(pr.prep.emits) > 0 {
		pr.plan, pr.err = p.planEmits(ctx, req.Topic, req.Partition, pr.prep.ident, pr.prep.emits)
	}
	return pr
}

// Append stores a prepared produce and sends its emits; Wait on the
// result for the acknowledgement.
func (pr *Prepared) Append() (*Pending, error) {
	p, req, part := pr.p, pr.req, pr.part
	if errors.Is(pr.err, errUnreadable) {
		// Let the partition's validation say precisely what is wrong
		// with the batch; should it pass, the batch is still unreadable.
		_, err := part.AppendTransformed(req.Batch, func(storage.BatchHeader, []byte) ([]byte, error) {
			return nil, partition.ErrCorruptMessage
		})
		return nil, err
	}
	if pr.err != nil {
		return nil, pr.err
	}
	if !pr.tr {
		res, err := part.AppendGuarded(req.Batch, nil, req.TxnGuard)
		if err != nil {
			return nil, err
		}
		return &Pending{Result: res, p: part, acks: req.Acks}, nil
	}
	i := 0
	res, err := part.AppendGuarded(req.Batch, func(storage.BatchHeader, []byte) ([]byte, error) {
		// Batches come in order; prep.outs has one output per batch.
		out := pr.prep.outs[i]
		i++
		return out, nil
	}, req.TxnGuard)
	if err != nil {
		return nil, err
	}
	pd := &Pending{Result: res, p: part, acks: req.Acks, layouts: pr.prep.layouts}
	if len(pr.plan) > 0 {
		timeout := req.Timeout
		if timeout <= 0 {
			timeout = defaultEmitTimeout
		}
		pd.emits = p.sendEmits(pr.plan, req.Acks, timeout)
	}
	return pd, nil
}

// Done reports whether Wait would return nil at once: acks=0, or acks=1
// on a topic without fsync and without emits. The Kafka handler answers
// those without a goroutine.
func (pd *Pending) Done() bool {
	switch pd.acks {
	case 0:
		return true
	case 1:
		return !pd.p.Durable() && pd.emits == nil
	}
	return false
}

// Wait waits until the produce is acknowledged as its acks ask: acks=-1
// committed by the ISR, acks=1 on the leader (fsynced on durable topics),
// acks=0 nothing (durable topics fsync in the background, emits are
// delivered in the background). With acks 1 and -1 it also waits for
// the transform's emits, acknowledged with the same acks; a failed emit
// fails the produce with an *EmitError.
func (pd *Pending) Wait(ctx context.Context) error {
	var err error
	switch pd.acks {
	case -1:
		err = pd.p.WaitCommitted(ctx, pd.Result)
	case 1:
		if pd.p.Durable() {
			err = pd.p.WaitDurable(pd.Result)
		}
	default:
		if pd.p.Durable() {
			go pd.p.WaitDurable(pd.Result)
		}
		return nil
	}
	if pd.emits != nil {
		select {
		case eerr := <-pd.emits:
			if err == nil {
				err = eerr
			}
		case <-ctx.Done():
			if err == nil {
				err = ErrEmitTimeout
			}
		}
	}
	return err
}

// emitProducerIn reports whether a batch of data has an emit stream's
// producer id (see partition.EmitProducerIDs). It reads only the batch
// headers' length and producer id fields; validation comes later.
func emitProducerIn(data []byte) bool {
	const lengthAt, pidAt = 8, 43
	for len(data) >= pidAt+8 {
		if partition.IsEmitProducer(int64(binary.BigEndian.Uint64(data[pidAt:]))) {
			return true
		}
		n := 12 + int(int32(binary.BigEndian.Uint32(data[lengthAt:])))
		if n <= 12 || n > len(data) {
			return false
		}
		data = data[n:]
	}
	return false
}

// errUnreadable: a produced batch could not be decoded for the transform.
var errUnreadable = errors.New("pipeline: unreadable batch")

// prepared is a produce run through a transform, ready to append.
type prepared struct {
	outs    [][]byte // per input batch: what to store (nil: nothing)
	layouts []layout // per input batch: where its output sits (layout.go)
	emits   []hooks.Emit
	ident   emitIdentity
}

// transform decodes each batch, runs the transform and encodes what to
// store.
func (p *Pipeline) transform(ctx context.Context, tr hooks.Transform, topic string, part int32, cfg partition.Config, batch []byte) (*prepared, error) {
	batches, err := storage.SplitBatches(batch)
	if err != nil || len(batches) == 0 {
		return nil, errUnreadable
	}
	pr := &prepared{outs: make([][]byte, len(batches)), layouts: make([]layout, len(batches)), ident: emitIdentity{pid: -1}}
	for i, raw := range batches {
		// Plugins never see a batch that fails its CRC.
		h, err := storage.ValidateBatch(raw)
		if err != nil {
			return nil, errUnreadable
		}
		in, err := decodeForHooks(raw, h, cfg.DecompressLimit())
		if err != nil {
			return nil, errUnreadable
		}
		// Plugins see offsets only on fetch.
		for j := range in {
			in[j].Offset = -1
		}
		switch {
		case i == 0:
			pr.ident = emitIdentity{pid: h.ProducerID, epoch: h.ProducerEpoch, seq: h.BaseSequence}
		case h.ProducerID != pr.ident.pid || h.ProducerEpoch != pr.ident.epoch:
			// Batches of several producers in one request (no client
			// does this): emits get no identity.
			pr.ident = emitIdentity{pid: -1}
		}
		hctx, cancel := context.WithTimeout(ctx, hookTimeout)
		out, em, err := tr.Apply(hctx, topic, part, in)
		cancel()
		if err != nil {
			p.log.Warn("produce transform failed", "topic", topic, "partition", part, "err", err)
			return nil, &PluginError{Hook: "transform", Topic: topic, Err: err}
		}
		pr.emits = append(pr.emits, em...)
		if pr.outs[i], pr.layouts[i], err = encodeOutput(raw, h, records.Codec(h.Attributes&0x07), in, out); err != nil {
			return nil, &PluginError{Hook: "transform", Topic: topic, Err: errors.Join(hooks.ErrPluginFailed, err)}
		}
	}
	return pr, nil
}

// unchanged reports whether a transform passed every record through as
// it was (same count, keys, values, headers and timestamps).
func unchanged(in, out []hooks.Record) bool {
	if len(in) != len(out) {
		return false
	}
	for i := range in {
		a, b := &in[i], &out[i]
		if a.Timestamp != b.Timestamp || !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
			return false
		}
		for j := range a.Headers {
			if a.Headers[j].Key != b.Headers[j].Key || !sameBytes(a.Headers[j].Value, b.Headers[j].Value) {
				return false
			}
		}
	}
	return true
}

// sameBytes compares two nullable byte strings (nil is not empty).
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}
