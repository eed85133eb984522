package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/auth"
)

// Limits of the message browser: it is for looking, not for export.
const (
	defaultBrowse = 50
	maxBrowse     = 500
	// maxScan bounds the records read looking for key matches.
	maxScan = 10000
	// maxShown is how much of a key, value or header is sent; the rest is
	// cut (Truncated) so one huge record cannot stall the page.
	maxShown = 64 << 10
	// maxFetchBytes makes every fetch of the browser or a live tail
	// return one record batch (a fetch always returns at least one
	// whole batch, KIP-74). The console runs in the broker's process and
	// its client decompresses whole fetches with no budget of its own:
	// a fetch of many tiny, highly compressed batches (each within the
	// produce-time decompression budget, up to 16 MiB) would inflate to
	// gigabytes; one batch is bounded by that budget. kgo's default is
	// 50 MiB a fetch.
	maxFetchBytes = 1
)

// Data is a key, value or header value made safe to show: Encoding "json"
// (Text is the JSON as stored; the page pretty-prints it), "text" (valid
// UTF-8 without control characters other than tab and newline) or
// "binary" (Text is hex). A null key or value is a nil *Data.
type Data struct {
	Encoding  string `json:"encoding"`
	Text      string `json:"text"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Header is one record header.
type Header struct {
	Key   string `json:"key"`
	Value *Data  `json:"value"`
}

// Message is one record as the browser shows it.
type Message struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"` // milliseconds since the epoch
	Key       *Data    `json:"key"`
	Value     *Data    `json:"value"`
	Headers   []Header `json:"headers"`
}

// Browse is GET /console/api/topics/{topic}/messages.
type Browse struct {
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	LogStart   int64     `json:"log_start"`
	LogEnd     int64     `json:"log_end"`
	From       int64     `json:"from"`        // the first offset read
	NextOffset int64     `json:"next_offset"` // where the next page starts
	Scanned    int       `json:"scanned"`     // records read (key filter)
	Messages   []Message `json:"messages"`
}

func showData(b []byte) *Data {
	if b == nil {
		return nil
	}
	d := &Data{Size: len(b)}
	if len(b) > maxShown {
		b, d.Truncated = b[:maxShown], true
	}
	switch {
	case !d.Truncated && json.Valid(b) && len(bytes.TrimSpace(b)) > 0:
		d.Encoding, d.Text = "json", string(b)
	case printable(b):
		d.Encoding, d.Text = "text", string(b)
	default:
		d.Encoding, d.Text = "binary", hex.EncodeToString(b)
	}
	return d
}

// printable: valid UTF-8 with no control characters but tab, CR and LF.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

func toMessage(r *kgo.Record) Message {
	m := Message{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(),
		Key: showData(r.Key), Value: showData(r.Value), Headers: []Header{}}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, Header{Key: h.Key, Value: showData(h.Value)})
	}
	return m
}

// browse reads up to limit records of one partition from an offset (or the
// first offset at or after a timestamp; default: the last limit records),
// keeping those whose key contains the key filter.
func (c *Console) browse(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpRead, auth.ResTopic, topic) {
		return
	}
	q := r.URL.Query()
	part, err := intParam(q.Get("partition"), 0)
	if err != nil || part < 0 || part > 1<<31-1 {
		writeError(w, http.StatusBadRequest, "partition: want a partition number")
		return
	}
	limit, err := intParam(q.Get("limit"), defaultBrowse)
	if err != nil || limit <= 0 || limit > maxBrowse {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: want 1 to %d", maxBrowse))
		return
	}
	keyFilter := q.Get("key")
	ctx, cancel := reqCtx(r)
	defer cancel()
	starts, err := c.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		writeKafkaError(w, "list offsets", err)
		return
	}
	ends, err := c.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		writeKafkaError(w, "list offsets", err)
		return
	}
	st, ok1 := starts.Lookup(topic, int32(part))
	en, ok2 := ends.Lookup(topic, int32(part))
	if !ok1 || !ok2 {
		writeKafkaError(w, fmt.Sprintf("topic %s partition %d", topic, part), kerr.UnknownTopicOrPartition)
		return
	}
	if st.Err != nil || en.Err != nil {
		writeKafkaError(w, fmt.Sprintf("topic %s partition %d", topic, part), errors.Join(st.Err, en.Err))
		return
	}
	out := Browse{Topic: topic, Partition: int32(part), LogStart: st.Offset, LogEnd: en.Offset, Messages: []Message{}}
	switch {
	case q.Get("offset") != "":
		off, err := strconv.ParseInt(q.Get("offset"), 10, 64)
		if err != nil || off < 0 {
			writeError(w, http.StatusBadRequest, "offset: want a non-negative offset")
			return
		}
		out.From = max(off, st.Offset)
	case q.Get("timestamp") != "":
		ms, err := parseTime(q.Get("timestamp"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "timestamp: "+err.Error())
			return
		}
		lo, err := c.adm.ListOffsetsAfterMilli(ctx, ms, topic)
		if err != nil {
			writeKafkaError(w, "list offsets by time", err)
			return
		}
		o, ok := lo.Lookup(topic, int32(part))
		if !ok || o.Err != nil {
			writeKafkaError(w, "list offsets by time", errors.Join(o.Err, kerr.UnknownTopicOrPartition))
			return
		}
		out.From = o.Offset
		if out.From < 0 { // no record at or after it
			out.From = en.Offset
		}
	default:
		out.From = max(st.Offset, en.Offset-int64(limit))
	}
	out.NextOffset = out.From
	if out.From >= en.Offset {
		writeJSON(w, http.StatusOK, out)
		return
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, c.cfg.Kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {int32(part): kgo.NewOffset().At(out.From)}}),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.FetchMaxBytes(maxFetchBytes), kgo.FetchMaxPartitionBytes(maxFetchBytes))...)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer cl.Close()
	// Read until limit matches, the end offset seen at the start, the scan
	// bound, or a quiet second (a range ending in transaction markers or
	// compacted away has no record at end-1).
	wait := 5 * time.Second
	for len(out.Messages) < limit && out.NextOffset < en.Offset && out.Scanned < maxScan {
		pctx, pcancel := context.WithTimeout(ctx, wait)
		fs := cl.PollRecords(pctx, limit)
		pcancel()
		wait = time.Second
		var fetchErr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				fetchErr = err
			}
		})
		if fetchErr != nil {
			writeKafkaError(w, "fetch", fetchErr)
			return
		}
		recs := fs.Records()
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			if rec.Offset >= en.Offset || len(out.Messages) >= limit {
				break
			}
			out.Scanned++
			out.NextOffset = rec.Offset + 1
			if keyFilter != "" && !bytes.Contains(rec.Key, []byte(keyFilter)) {
				continue
			}
			out.Messages = append(out.Messages, toMessage(rec))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

// parseTime takes milliseconds since the epoch or an RFC 3339 time (the
// page's datetime-local input, without a zone, is local time there and is
// converted by the page).
func parseTime(s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, errors.New("want milliseconds since the epoch or an RFC 3339 time")
	}
	return t.UnixMilli(), nil
}

// tail streams records produced from now on as Server-Sent Events (event
// "message", data: a Message). The pages read it with fetch() rather than
// EventSource because EventSource cannot send the Authorization header
// the admin guard needs. ?partition= limits it to one partition.
func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	topic := chi.URLParam(r, "topic")
	if !c.may(w, r, auth.OpRead, auth.ResTopic, topic) {
		return
	}
	select {
	case c.tails <- struct{}{}:
		defer func() { <-c.tails }()
	default:
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("too many live tails open (limit %d); close one and retry", cap(c.tails)))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel) // the console closing ends tails
	defer stop()
	mctx, mcancel := reqCtx(r)
	ends, err := c.adm.ListEndOffsets(mctx, topic)
	mcancel()
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		writeKafkaError(w, "topic "+topic, err)
		return
	}
	only := int32(-1)
	if v := r.URL.Query().Get("partition"); v != "" {
		p, err := strconv.ParseInt(v, 10, 32) // 32 bits: 2^32+1 is not partition 1
		if err != nil || p < 0 {
			writeError(w, http.StatusBadRequest, "partition: want a partition number")
			return
		}
		only = int32(p)
	}
	offsets := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if only < 0 || o.Partition == only {
			offsets[o.Partition] = kgo.NewOffset().At(o.Offset)
		}
	})
	if len(offsets) == 0 {
		writeKafkaError(w, fmt.Sprintf("topic %s partition %d", topic, only), kerr.UnknownTopicOrPartition)
		return
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, c.cfg.Kafka...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxBytes(maxFetchBytes), kgo.FetchMaxPartitionBytes(maxFetchBytes))...)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	defer cl.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	send := func() error {
		// The server's write timeout would end a long stream: each write
		// gets its own deadline instead.
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	fmt.Fprint(bw, ": tail of "+topic+"\n\n")
	if send() != nil {
		return
	}
	records := make(chan []*kgo.Record)
	go func() {
		defer close(records)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				return
			}
			select {
			case records <- fs.Records():
			case <-ctx.Done():
				return
			}
		}
	}()
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			fmt.Fprint(bw, ": keep-alive\n\n")
		case recs, ok := <-records:
			if !ok {
				return
			}
			for _, rec := range recs {
				b, _ := json.Marshal(toMessage(rec))
				fmt.Fprintf(bw, "event: message\nid: %d-%d\ndata: %s\n\n", rec.Partition, rec.Offset, b)
			}
		}
		if send() != nil {
			return
		}
	}
}
