package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// position is where the broker said it stored a record; offset -1 when the
// client is not told (beacons).
type position struct {
	partition int32
	offset    int64
}

// ledger is one producer's record of what it sent and what was
// acknowledged. Sequence numbers start at 1 and are never resent by the
// soak itself (retries are the client library's own), so every seq may be
// in the log at most once, and an acknowledged one exactly once.
type ledger struct {
	name  string
	topic string

	mu    sync.Mutex
	sent  int64
	acked map[int64]position
	errs  map[string]int
}

func newLedger(name, topic string) *ledger {
	return &ledger{name: name, topic: topic, acked: map[int64]position{}, errs: map[string]int{}}
}

func (l *ledger) next() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	return l.sent
}

func (l *ledger) ack(seq int64, p position) {
	l.mu.Lock()
	l.acked[seq] = p
	l.mu.Unlock()
}

func (l *ledger) fail(err error) {
	l.mu.Lock()
	l.errs[errKey(err)]++
	l.mu.Unlock()
}

// errKey shortens an error for counting: numbers (ports, keys, offsets)
// become N so that one kind of error is one line.
func errKey(err error) string {
	s := digits.ReplaceAllString(err.Error(), "N")
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

var digits = regexp.MustCompile(`[0-9]+`)

// recordValue carries the producer and seq in a form the reader finds even
// inside JSON text (REST values are stored as JSON).
func recordValue(name string, seq int64, pad int) string {
	return fmt.Sprintf("P=%s;S=%d;%s", name, seq, strings.Repeat("x", pad))
}

// parseValue finds P=name;S=seq; in a record value.
func parseValue(v []byte) (string, int64, bool) {
	i := bytes.Index(v, []byte("P="))
	if i < 0 {
		return "", 0, false
	}
	rest := v[i+2:]
	j := bytes.IndexByte(rest, ';')
	if j < 0 || !bytes.HasPrefix(rest[j+1:], []byte("S=")) {
		return "", 0, false
	}
	name := string(rest[:j])
	rest = rest[j+3:]
	k := bytes.IndexByte(rest, ';')
	if k < 0 {
		return "", 0, false
	}
	seq, err := strconv.ParseInt(string(rest[:k]), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return name, seq, true
}

// pacer spreads rate events per second over 10 ms ticks.
func pace(ctx context.Context, rate int, each func() bool) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	credit := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		credit += float64(rate) / 100
		for ; credit >= 1; credit-- {
			if ctx.Err() != nil || !each() {
				return
			}
		}
	}
}

// runKgoProducer produces keyed records with kgo's idempotent acks=all
// producer until ctx ends, then flushes for up to flushFor.
func runKgoProducer(ctx context.Context, addr string, l *ledger, rate int, codec kgo.CompressionCodec, flushFor time.Duration) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID(l.name), kgo.DefaultProduceTopic(l.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(codec), kgo.MaxBufferedRecords(5000),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return err
	}
	defer cl.Close()
	// Records live on recCtx, not ctx: cancelling a record's context
	// could fail it while a retry of it is in flight.
	recCtx, cancelRecs := context.WithCancel(context.Background())
	defer cancelRecs()
	pace(ctx, rate, func() bool {
		seq := l.next()
		r := &kgo.Record{Key: fmt.Appendf(nil, "%s-%d", l.name, seq%64), Value: []byte(recordValue(l.name, seq, 100))}
		cl.Produce(recCtx, r, func(r *kgo.Record, err error) {
			if err != nil {
				l.fail(err)
				return
			}
			l.ack(seq, position{r.Partition, r.Offset})
		})
		return true
	})
	fctx, cancel := context.WithTimeout(context.Background(), flushFor)
	defer cancel()
	if err := cl.Flush(fctx); err != nil {
		cancelRecs() // fails what is left: unacknowledged
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// runSaramaProducer sends batches of 10 with sarama's idempotent
// SyncProducer until ctx ends.
func runSaramaProducer(ctx context.Context, addr string, l *ledger, rate int) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = l.name
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 30
	cfg.Producer.Retry.Backoff = 500 * time.Millisecond
	cfg.Metadata.Retry.Max = 30
	cfg.Metadata.Retry.Backoff = 500 * time.Millisecond
	var p sarama.SyncProducer
	var err error
	for range 20 { // the broker may be restarting
		if p, err = sarama.NewSyncProducer([]string{addr}, cfg); err == nil {
			break
		}
		l.fail(err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return err
	}
	defer p.Close()
	const batch = 10
	pace(ctx, rate/batch, func() bool {
		msgs := make([]*sarama.ProducerMessage, batch)
		seqs := make([]int64, batch)
		for i := range msgs {
			seqs[i] = l.next()
			msgs[i] = &sarama.ProducerMessage{Topic: l.topic, Key: sarama.StringEncoder(fmt.Sprintf("%s-%d", l.name, seqs[i]%16)),
				Value: sarama.StringEncoder(recordValue(l.name, seqs[i], 60)), Metadata: seqs[i]}
		}
		err := p.SendMessages(msgs)
		failed := map[int64]bool{}
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) {
			for _, pe := range perrs {
				failed[pe.Msg.Metadata.(int64)] = true
				l.fail(pe.Err)
			}
		} else if err != nil {
			l.fail(err)
			return true // nothing known: none acknowledged
		}
		for i, m := range msgs {
			if !failed[seqs[i]] {
				l.ack(seqs[i], position{m.Partition, m.Offset})
			}
		}
		return true
	})
	return nil
}

// runHTTPProducer alternates REST v2 produce and beacons on the bridge,
// one record per request, never resending a seq.
func runHTTPProducer(ctx context.Context, httpAddr string, l *ledger, rate int) error {
	hc := &http.Client{Timeout: 40 * time.Second}
	pace(ctx, rate, func() bool {
		seq := l.next()
		key := fmt.Sprintf("%s-%d", l.name, seq%16)
		val := recordValue(l.name, seq, 40)
		var err error
		var pos position
		if seq%2 == 0 {
			pos, err = restProduce(ctx, hc, httpAddr, l.topic, key, val)
		} else {
			pos, err = beacon(ctx, hc, httpAddr, l.topic, key, val)
		}
		if err != nil {
			l.fail(err)
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond) // the broker may be down
			}
			return true
		}
		l.ack(seq, pos)
		return true
	})
	return nil
}

func restProduce(ctx context.Context, hc *http.Client, addr, topic, key, val string) (position, error) {
	body, _ := json.Marshal(map[string]any{"records": []map[string]any{{"key": key, "value": val}}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/topics/"+topic, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.kafka.json.v2+json")
	resp, err := hc.Do(req)
	if err != nil {
		return position{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return position{}, fmt.Errorf("REST produce: HTTP %d", resp.StatusCode)
	}
	var out struct {
		Offsets []struct {
			Partition *int32  `json:"partition"`
			Offset    *int64  `json:"offset"`
			ErrorCode *int    `json:"error_code"`
			Error     *string `json:"error"`
		} `json:"offsets"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Offsets) != 1 {
		return position{}, fmt.Errorf("REST produce: bad response %.100q", raw)
	}
	o := out.Offsets[0]
	if o.ErrorCode != nil || o.Partition == nil || o.Offset == nil {
		return position{}, fmt.Errorf("REST produce: record error %v", o.Error)
	}
	return position{*o.Partition, *o.Offset}, nil
}

func beacon(ctx context.Context, hc *http.Client, addr, topic, key, val string) (position, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/beacon/"+topic+"?key="+key, strings.NewReader(val))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		return position{}, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return position{}, fmt.Errorf("beacon: HTTP %d", resp.StatusCode)
	}
	return position{-1, -1}, nil
}

// consumerStats counts what the live consumers saw.
type consumerStats struct {
	mu      sync.Mutex
	group   int64
	plain   int64
	rewinds int64 // plain consumer saw an offset at or below one it had seen
	errs    map[string]int
	// seen is the plain consumer's hash of each (partition, offset) it
	// read, compared with the final log: a record read once must stay.
	seen map[int32]map[int64]uint64
}

func (s *consumerStats) fail(who string, err error) {
	s.mu.Lock()
	s.errs[who+": "+errKey(err)]++
	s.mu.Unlock()
}

func valueHash(v []byte) uint64 {
	h := fnv.New64a()
	h.Write(v)
	return h.Sum64()
}

// runGroupConsumer consumes topics in a consumer group with autocommit.
func runGroupConsumer(ctx context.Context, addr string, topics []string, st *consumerStats, log *slog.Logger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("soak-group-consumer"), kgo.ConsumerGroup("soak-group"),
		kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		st.fail("group", err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				st.fail("group", err)
			}
		})
		n := int64(fs.NumRecords())
		st.mu.Lock()
		st.group += n
		st.mu.Unlock()
	}
	log.Debug("group consumer done")
}

// runPlainConsumer reads every partition of topic from the start without
// a group, remembering what it saw at each offset.
func runPlainConsumer(ctx context.Context, addr, topic string, partitions int32, st *consumerStats) {
	parts := map[int32]kgo.Offset{}
	for p := range partitions {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("soak-plain-consumer"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		st.fail("plain", err)
		return
	}
	defer cl.Close()
	last := map[int32]int64{}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				st.fail("plain", err)
			}
		})
		st.mu.Lock()
		fs.EachRecord(func(r *kgo.Record) {
			st.plain++
			if l, ok := last[r.Partition]; ok && r.Offset <= l {
				st.rewinds++
			}
			last[r.Partition] = r.Offset
			if st.seen[r.Partition] == nil {
				st.seen[r.Partition] = map[int64]uint64{}
			}
			st.seen[r.Partition][r.Offset] = valueHash(r.Value)
		})
		st.mu.Unlock()
	}
}
