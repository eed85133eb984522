package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/pipeline"
)

// sseEvent is one record ready to send, with the positions after it.
type sseEvent struct {
	rec *kgo.Record
	id  string
}

// streamOptions are the query options of GET /topics/{topic}/events.
type streamOptions struct {
	topic  string
	from   string // earliest, latest, or a timestamp
	key    []byte // deliver only records with this key; nil: all
	group  string
	binary bool
	resume positions // from Last-Event-ID; nil: start at from
	reader hooks.Reader
}

// serveEvents streams a topic as Server-Sent Events. Each event id holds
// every partition's next offset, so a reconnecting EventSource (which sends
// Last-Event-ID, or ?lastEventId= for hand-made reconnects) resumes exactly
// where it stopped. With ?group=G it consumes as a group member instead and
// commits what it delivered.
func (b *Bridge) serveEvents(w http.ResponseWriter, r *http.Request) {
	opts, err := b.streamOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	select {
	case b.streams <- struct{}{}:
		defer func() { <-b.streams }()
	default:
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: codeTooManyStreams,
			Message: fmt.Sprintf("Too many event streams (limit %d); retry later.", b.cfg.MaxSSEClients), RetryAfter: 5 * time.Second})
		return
	}
	ip := b.clientIP(r)
	if !b.ipStreams.take(ip) {
		writeError(w, &apiError{Status: http.StatusTooManyRequests, Code: codeRateLimited,
			Message: fmt.Sprintf("Too many event streams from this client (limit %d); retry later.", b.cfg.MaxSSEStreamsPerIP), RetryAfter: 5 * time.Second})
		return
	}
	defer b.ipStreams.give(ip)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(b.ctx, cancel) // Close and server shutdown end streams
	defer stop()

	nparts, err := b.prod.topics.partitions(ctx, opts.topic)
	if err != nil {
		writeError(w, err)
		return
	}
	var start positions
	if opts.group == "" {
		if start, err = b.startPositions(ctx, opts, nparts); err != nil {
			writeError(w, err)
			return
		}
	}
	// Direct streams share the topic's hub; group members need a client of
	// their own (membership is per stream).
	var hub *sseHub
	var cl *kgo.Client
	if opts.group == "" {
		if hub, err = b.hubs.acquire(ctx, opts.topic, nparts); err != nil {
			writeError(w, err)
			return
		}
		defer b.hubs.release(hub)
	} else {
		if cl, err = b.streamClient(opts, start); err != nil {
			writeError(w, err)
			return
		}
		defer cl.Close()
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The stream outlives the server's read and write timeouts: no more
	// reads are expected, and each write gets its own deadline (flush).
	_ = rc.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(w, 16<<10)
	fmt.Fprintf(bw, "retry: %d\n\n", time.Duration(b.cfg.SSERetry).Milliseconds())
	if start != nil {
		// A first id before any record, so a reconnect that happens before
		// the first record still resumes from here and misses nothing.
		fmt.Fprintf(bw, "event: ready\nid: %s\ndata: {\"topic\":%q}\n\n", start, opts.topic)
	}
	if b.flush(bw, rc) != nil {
		return
	}

	events := make(chan sseEvent, b.cfg.ClientBufferRecords)
	slow := make(chan struct{})
	if hub != nil {
		go b.followHub(ctx, hub, opts, start, events, slow)
	} else {
		go b.pollStream(ctx, cl, opts, nil, events, slow)
	}

	heartbeat := time.NewTicker(time.Duration(b.cfg.SSEHeartbeat))
	defer heartbeat.Stop()
	var delivered []*kgo.Record
	for {
		select {
		case <-ctx.Done():
			return
		case <-slow:
			b.log.Info("event stream cut off: client too slow", "topic", opts.topic, "remote", r.RemoteAddr)
			return
		case <-heartbeat.C:
			b.extendWrite(rc)
			bw.WriteString(": heartbeat\n\n")
			if b.flush(bw, rc) != nil {
				return
			}
		case ev := <-events:
			// Write everything already waiting, then flush once. The
			// buffer may spill to the connection before that: extend the
			// deadline first.
			b.extendWrite(rc)
			delivered = delivered[:0]
			for {
				writeEvent(bw, ev, opts.binary)
				delivered = append(delivered, ev.rec)
				if len(delivered) >= 256 || len(events) == 0 {
					break
				}
				ev = <-events
			}
			if b.flush(bw, rc) != nil {
				return
			}
			if opts.group != "" {
				if err := cl.CommitRecords(ctx, delivered...); err != nil && ctx.Err() == nil {
					b.log.Warn("event stream commit failed", "group", opts.group, "err", err)
				}
			}
		}
	}
}

// extendWrite gives the stream's next writes SSEWriteTimeout: a client
// that stopped reading cannot hold the stream forever, and a stream lives
// past the server's WriteTimeout.
func (b *Bridge) extendWrite(rc *http.ResponseController) {
	_ = rc.SetWriteDeadline(time.Now().Add(time.Duration(b.cfg.SSEWriteTimeout)))
}

// flush writes buffered events out within SSEWriteTimeout.
func (b *Bridge) flush(bw *bufio.Writer, rc *http.ResponseController) error {
	b.extendWrite(rc)
	if err := bw.Flush(); err != nil {
		return err
	}
	return rc.Flush()
}

func (b *Bridge) streamOptions(r *http.Request) (streamOptions, error) {
	q := r.URL.Query()
	o := streamOptions{topic: chi.URLParam(r, "topic"), from: q.Get("from"), group: q.Get("group")}
	p, err := b.auth.authorize(r, o.topic, opConsume)
	if err == nil && o.group != "" {
		err = b.auth.authorizeGroup(p, o.group)
	}
	if err != nil {
		return o, err
	}
	// Filters key on the authenticated principal, never the client id.
	o.reader = hooks.Reader{GroupID: o.group, ClientID: "sluice-bridge-sse", Principal: p.name()}
	if q.Has("key") {
		o.key = []byte(q.Get("key"))
	}
	switch f := q.Get("format"); f {
	case "", "json":
	case "binary":
		o.binary = true
	default:
		return o, unprocessable("format must be json or binary, not %q", f)
	}
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = q.Get("lastEventId")
	}
	if id != "" && o.group == "" {
		if o.resume, err = parsePositions(id); err != nil {
			return o, errf(http.StatusBadRequest, codeUnprocessable, err.Error())
		}
	}
	if o.from == "" {
		o.from = "latest"
	}
	if _, _, err := parseFrom(o.from); err != nil {
		return o, err
	}
	return o, nil
}

// parseFrom reads ?from=: earliest, latest, milliseconds since the epoch,
// or an RFC 3339 time. It returns the timestamp (ms) for a time start.
func parseFrom(from string) (kind string, ms int64, err error) {
	switch from {
	case "earliest", "latest":
		return from, 0, nil
	}
	if n, err := strconv.ParseInt(from, 10, 64); err == nil && n >= 0 {
		return "time", n, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, from); err == nil {
		return "time", t.UnixMilli(), nil
	}
	return "", 0, unprocessable("from must be earliest, latest, epoch milliseconds or RFC 3339, not %q", from)
}

// startPositions resolves where a direct stream starts in every partition:
// the resume id where it names the partition, else ?from=.
func (b *Bridge) startPositions(ctx context.Context, o streamOptions, nparts int32) (positions, error) {
	kind, ms, _ := parseFrom(o.from)
	var listed func() (map[int32]int64, error)
	switch kind {
	case "earliest":
		listed = func() (map[int32]int64, error) { return b.listOffsets(b.adm.ListStartOffsets(ctx, o.topic)) }
	case "latest":
		listed = func() (map[int32]int64, error) { return b.listOffsets(b.adm.ListEndOffsets(ctx, o.topic)) }
	default:
		listed = func() (map[int32]int64, error) {
			after, err := b.listOffsets(b.adm.ListOffsetsAfterMilli(ctx, ms, o.topic))
			if err != nil {
				return nil, err
			}
			ends, err := b.listOffsets(b.adm.ListEndOffsets(ctx, o.topic))
			for p, off := range after {
				if off < 0 { // nothing at or after the time: start at the end
					after[p] = ends[p]
				}
			}
			return after, err
		}
	}
	start := positions{}
	var base map[int32]int64
	for p := int32(0); p < nparts; p++ {
		if off, ok := o.resume[p]; ok {
			start[p] = off
			continue
		}
		if base == nil {
			var err error
			if base, err = listed(); err != nil {
				return nil, err
			}
		}
		start[p] = base[p]
	}
	return start, nil
}

// listOffsets flattens one topic's listed offsets to partition → offset.
func (b *Bridge) listOffsets(lo kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: list offsets: %v", ErrUnavailable, err)
	}
	out := map[int32]int64{}
	lo.Each(func(l kadm.ListedOffset) { out[l.Partition] = l.Offset })
	return out, nil
}

// pollStream fetches a group member's records into events until ctx ends.
// It never blocks on a slow client: when the client's buffer is full it
// closes slow and stops.
func (b *Bridge) pollStream(ctx context.Context, cl *kgo.Client, o streamOptions, pos positions, events chan<- sseEvent, slow chan<- struct{}) {
	d := b.newDeliverer(ctx, o, pos, events)
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if _, skipped := b.skipOversized(cl, err); skipped {
				return
			}
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("event stream fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		overflow := false
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if !overflow && !d.deliver(fp.Partition, fp.Records) {
				overflow = true
			}
		})
		if overflow {
			close(slow)
			return
		}
	}
}

// followHub feeds a direct stream from start: caught up privately to the
// hub's position if behind it, then from the hub's shared batches (see
// ssehub.go). It never blocks on a slow client: when the client's buffer
// is full it closes slow and stops, and the client resumes by event id.
func (b *Bridge) followHub(ctx context.Context, hub *sseHub, o streamOptions, start positions, events chan<- sseEvent, slow chan<- struct{}) {
	d := b.newDeliverer(ctx, o, start, events)
	var sub *hubSub
	defer func() {
		if sub != nil {
			hub.detach(sub)
		}
	}()
	for {
		sub = newHubSub()
		target := hub.attach(sub)
		ok, caughtUp := b.catchUp(ctx, d, target, sub)
		if !ok {
			if ctx.Err() == nil {
				close(slow)
			}
			return
		}
		if caughtUp {
			break
		}
		// The queue overflowed while catching up: what the hub sent
		// meanwhile is gone, so catch up further and attach again.
		hub.detach(sub)
		sub = nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.overflow:
			close(slow)
			return
		case batch := <-sub.queue:
			if !d.deliver(batch.partition, batch.records) {
				close(slow)
				return
			}
		}
	}
}

// catchUp reads, with a client of its own, every partition where the
// stream is behind target until it reaches target (or sub's queue
// overflows: caughtUp false). ok is false when the client's buffer
// overflowed or ctx ended.
func (b *Bridge) catchUp(ctx context.Context, d *deliverer, target positions, sub *hubSub) (ok, caughtUp bool) {
	behind := map[int32]kgo.Offset{}
	for p, off := range target {
		if have, ok := d.pos[p]; ok && have < off {
			behind[p] = kgo.NewOffset().At(d.pos[p])
		}
	}
	if len(behind) == 0 {
		return true, true
	}
	cl, err := kgo.NewClient(b.consumerOpts("sluice-bridge-sse",
		kgo.FetchMaxBytes(hubFetchMaxBytes), kgo.FetchMaxPartitionBytes(hubFetchMaxBytes),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.o.topic: behind}))...)
	if err != nil {
		b.log.Warn("event stream catch-up client", "topic", d.o.topic, "err", err)
		return false, false
	}
	defer cl.Close()
	for {
		reached := true
		for p := range behind {
			if d.pos[p] < target[p] {
				reached = false
			}
		}
		if reached {
			return true, true
		}
		select {
		case <-sub.overflow:
			return true, false
		default:
		}
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return false, false
		}
		fetches.EachError(func(t string, p int32, err error) {
			if next, skipped := b.skipOversized(cl, err); skipped {
				d.pos[p] = max(d.pos[p], next)
				return
			}
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("event stream fetch error", "topic", t, "partition", p, "err", err)
			}
		})
		overflow := false
		// Everything fetched is delivered, even past target: the hub's
		// copies of those records are then skipped as already seen.
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if !overflow && !d.deliver(fp.Partition, fp.Records) {
				overflow = true
			}
		})
		if overflow {
			return false, false
		}
	}
}

// deliverer turns one stream's records into events: it skips records
// before the stream's position, applies the key filter and the filter
// plugin, and tracks the positions written into each event id.
type deliverer struct {
	b      *Bridge
	ctx    context.Context
	o      streamOptions
	pos    positions
	events chan<- sseEvent
}

func (b *Bridge) newDeliverer(ctx context.Context, o streamOptions, pos positions, events chan<- sseEvent) *deliverer {
	if pos == nil {
		pos = positions{}
	} else {
		pos = pos.clone()
	}
	return &deliverer{b: b, ctx: ctx, o: o, pos: pos, events: events}
}

// deliver queues recs (one partition's, in offset order) for the client;
// false when the client's buffer is full.
func (d *deliverer) deliver(partition int32, recs []*kgo.Record) bool {
	if next, ok := d.pos[partition]; ok {
		for len(recs) > 0 && recs[0].Offset < next {
			recs = recs[1:] // seen already (catch-up overlap, resume)
		}
	} else if d.o.group == "" {
		return true // a partition added after the stream started
	}
	if len(recs) == 0 {
		return true
	}
	// The filter is looked up per delivery (a cheap registry lookup), so
	// one deployed while the stream runs applies from its next records.
	keep := d.b.filterRecords(d.ctx, d.b.topicFilter(d.o.topic), d.o, partition, recs)
	for _, rec := range recs {
		d.pos[rec.Partition] = rec.Offset + 1
		out, ok := keep[rec]
		if !ok {
			continue
		}
		select {
		case d.events <- sseEvent{rec: out, id: d.pos.String()}:
		default:
			return false
		}
	}
	return true
}

// topicFilter is topic's consume filter as the bridge runs it (nil: the
// topic has none): through the pipeline, the one place filters run.
func (b *Bridge) topicFilter(topic string) hooks.Filter {
	if !b.cfg.Pipeline.Filtering(topic) {
		return nil
	}
	return pipelineFilter{b.cfg.Pipeline}
}

// pipelineFilter runs a topic's filter through Pipeline.FilterRecords.
type pipelineFilter struct{ pl *pipeline.Pipeline }

func (f pipelineFilter) Apply(ctx context.Context, topic string, part int32, reader hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	return f.pl.FilterRecords(ctx, topic, part, reader, recs)
}

// filterRecords applies the key filter and the topic's filter plugin. It
// maps each kept record to what to send: itself, or a copy with the key
// and value the plugin rewrote (records are shared between streams and
// must not change).
func (b *Bridge) filterRecords(ctx context.Context, filter hooks.Filter, o streamOptions, partition int32, recs []*kgo.Record) map[*kgo.Record]*kgo.Record {
	keep := make(map[*kgo.Record]*kgo.Record, len(recs))
	var candidates []*kgo.Record
	for _, rec := range recs {
		if o.key == nil || string(rec.Key) == string(o.key) {
			candidates = append(candidates, rec)
		}
	}
	if filter == nil {
		for _, rec := range candidates {
			keep[rec] = rec
		}
		return keep
	}
	in := make([]hooks.Record, len(candidates))
	byOffset := make(map[int64]*kgo.Record, len(candidates))
	for i, rec := range candidates {
		in[i] = hooks.Record{Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp.UnixMilli(), Offset: rec.Offset}
		for _, h := range rec.Headers {
			in[i].Headers = append(in[i].Headers, hooks.Header{Key: h.Key, Value: h.Value})
		}
		byOffset[rec.Offset] = rec
	}
	out, err := filter.Apply(ctx, o.topic, partition, o.reader, in)
	if err != nil {
		// Failing closed: a broken filter must not leak what it would hide.
		b.log.Warn("event stream filter failed; records withheld", "topic", o.topic, "partition", partition, "err", err)
		return keep
	}
	for _, fr := range out {
		if rec, ok := byOffset[fr.Offset]; ok {
			c := *rec
			c.Key, c.Value = fr.Key, fr.Value // the filter may rewrite
			keep[rec] = &c
		}
	}
	return keep
}

// streamClient builds the kgo consumer of one stream: direct partitions at
// the start positions, or a group member.
func (b *Bridge) streamClient(o streamOptions, start positions) (*kgo.Client, error) {
	opts := b.consumerOpts("sluice-bridge-sse")
	if o.group != "" {
		reset := kgo.NewOffset().AtEnd()
		if kind, ms, _ := parseFrom(o.from); kind == "earliest" {
			reset = kgo.NewOffset().AtStart()
		} else if kind == "time" {
			reset = kgo.NewOffset().AfterMilli(ms)
		}
		opts = append(opts, kgo.ConsumerGroup(o.group), kgo.ConsumeTopics(o.topic),
			kgo.ConsumeResetOffset(reset), kgo.DisableAutoCommit())
	} else {
		parts := make(map[int32]kgo.Offset, len(start))
		for p, off := range start {
			parts[p] = kgo.NewOffset().At(off)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.topic: parts}))
	}
	return kgo.NewClient(append(opts, b.cfg.KafkaOpts...)...)
}

// writeEvent writes one record as an SSE event (default "message" type).
func writeEvent(bw *bufio.Writer, ev sseEvent, binary bool) {
	bw.WriteString("id: ")
	bw.WriteString(ev.id)
	bw.WriteString("\ndata: ")
	bw.Write(recordJSON(ev.rec, binary))
	bw.WriteString("\n\n")
}
