package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// startSessionBroker runs a broker and server with cfg and returns the
// server, whose session cache the tests inspect.
func startSessionBroker(t *testing.T, cfg Config) (string, *Server) {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		DataDir:                    t.TempDir(),
		Logger:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions:     1,
		GroupInitialRebalanceDelay: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenAdvertised(t, b)
	cfg.Logger = b.Config().Logger
	s := New(b, cfg)
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		if err := b.Close(); err != nil {
			t.Errorf("broker close: %v", err)
		}
	})
	return ln.Addr().String(), s
}

func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(addr)))
	// kgo gives up on a request after its timeout plus 10 s and retries
	// it; a retry of a creation that went on finds the topic existing.
	// A thousand partitions on a disk busy with the race run's other
	// tests once took longer than kadm's default 15 s.
	adm.SetTimeoutMillis(60_000)
	resp, err := adm.CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}

// produceTo writes one record per value to the given partitions.
func produceTo(t *testing.T, cl *kgo.Client, topic string, part int32, values ...string) {
	t.Helper()
	recs := make([]*kgo.Record, 0, len(values))
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// promValue reads a counter or gauge of the default registry (summed over
// the series matching label=value, or all when label is "").
func promValue(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// TestFetchSessionThousandPartitions: a kgo consumer of one topic of 1,000
// partitions reads records present at start and records produced while it
// consumes, each exactly once and in order per partition, and after its
// first full fetch it fetches incrementally (the broker's metrics say so).
func TestFetchSessionThousandPartitions(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	addr, s := startSessionBroker(t, Config{})
	// A thousand partitions is the scale Kafka's fetch sessions exist
	// for. Creating them costs about ten fsyncs each (segment, indexes,
	// recovery point), most of this test's time; -short uses 250, which
	// still makes a full fetch far larger than an incremental one, and
	// every check below is in terms of parts.
	const topic = "many"
	parts := int32(1000)
	if testing.Short() {
		parts = 250
	}
	start := time.Now()
	createTopic(t, addr, topic, parts)
	t.Logf("created %d partitions in %v", parts, time.Since(start))
	prod := mustClient(t, kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// Values are "partition/sequence", the sequence counting per
	// partition, so order within a partition can be checked.
	want := map[string]bool{}
	seq := map[int32]int{}
	// batch makes n records for a partition and records them as wanted.
	batch := func(part int32, n int) []*kgo.Record {
		var recs []*kgo.Record
		for range n {
			v := fmt.Sprintf("%d/%d", part, seq[part])
			seq[part]++
			want[v] = true
			recs = append(recs, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)})
		}
		return recs
	}
	var initial []*kgo.Record
	for _, p := range []int32{0, 1, parts / 4, parts / 2, parts - 1} {
		initial = append(initial, batch(p, 5)...)
	}
	if err := prod.ProduceSync(context.Background(), initial...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// 20 rounds of records over spread partitions (some already holding
	// records, most not), produced while the consumer is in its session.
	var rounds [][]*kgo.Record
	for round := range 20 {
		var recs []*kgo.Record
		for k := range 5 {
			recs = append(recs, batch(int32(round*197+k*331)%parts, 1+k%3)...)
		}
		rounds = append(rounds, recs)
	}
	incBefore := promValue(t, "sluice_kafka_fetch_requests_total", "kind", "incremental")

	cons := mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	got := map[string]int{}
	next := map[int32]int{}
	consumed := 0
	var produced chan error
	for consumed < len(want) {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", consumed, len(want), err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Errorf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			var p int32
			var n int
			if _, err := fmt.Sscanf(v, "%d/%d", &p, &n); err != nil || p != r.Partition {
				t.Fatalf("record %q in partition %d", v, r.Partition)
			}
			if n != next[p] {
				t.Fatalf("partition %d: got sequence %d, want %d", p, n, next[p])
			}
			next[p]++
			got[v]++
			consumed++
		})
		if produced == nil && consumed > 0 {
			produced = make(chan error, 1)
			go func() {
				for _, recs := range rounds {
					if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
						produced <- err
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				produced <- nil
			}()
		}
	}
	t.Logf("consumed %d records %v after start", consumed, time.Since(start))
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if consumed != len(want) {
		t.Fatalf("consumed %d records, want %d", consumed, len(want))
	}
	for v := range want {
		if got[v] != 1 {
			t.Fatalf("record %q consumed %d times", v, got[v])
		}
	}

	full, inc := s.fetchSessions.stats.full.Load(), s.fetchSessions.stats.incremental.Load()
	t.Logf("fetches: %d full, %d incremental, %d sessionless, %d session errors", full, inc,
		s.fetchSessions.stats.sessionless.Load(), s.fetchSessions.stats.errors.Load())
	if full < 1 || inc < 10*full {
		t.Fatalf("fetches: %d full, %d incremental; want incremental ones to dominate", full, inc)
	}
	if n := s.fetchSessions.stats.errors.Load(); n != 0 {
		t.Fatalf("%d session errors", n)
	}
	if d := promValue(t, "sluice_kafka_fetch_requests_total", "kind", "incremental") - incBefore; d < float64(inc) {
		t.Fatalf("prometheus counted %v incremental fetches, the server %d", d, inc)
	}
	if n := s.fetchSessions.len(); n != 1 {
		t.Fatalf("%d sessions cached, want the consumer's one", n)
	}
	if v := promValue(t, "sluice_kafka_fetch_session_partitions", "", ""); v < float64(parts) {
		t.Fatalf("sluice_kafka_fetch_session_partitions = %v, want >= %d", v, parts)
	}
}

// fetchPart is one partition of a raw fetch.
type fetchPart struct {
	topic     string
	partition int32
	offset    int64
}

func sessionFetch(id, epoch int32, wait time.Duration, parts []fetchPart, forget ...fetchPart) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SessionID, req.SessionEpoch = id, epoch
	req.MaxWaitMillis, req.MinBytes = int32(wait/time.Millisecond), 1
	for _, p := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p.partition, p.offset, 1<<20
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
	}
	for _, p := range forget {
		if n := len(req.ForgottenTopics); n == 0 || req.ForgottenTopics[n-1].Topic != p.topic {
			req.ForgottenTopics = append(req.ForgottenTopics, kmsg.FetchRequestForgottenTopic{Topic: p.topic})
		}
		ft := &req.ForgottenTopics[len(req.ForgottenTopics)-1]
		ft.Partitions = append(ft.Partitions, p.partition)
	}
	return req
}

// sessAnswered lists a fetch response's partitions as "topic/partition:hw"
// with ":N" records (batches counted by their records) when it has data.
func sessAnswered(t *testing.T, resp *kmsg.FetchResponse) []string {
	t.Helper()
	var out []string
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			s := fmt.Sprintf("%s/%d:hw%d", rt.Topic, rp.Partition, rp.HighWatermark)
			if rp.ErrorCode != 0 {
				s = fmt.Sprintf("%s/%d:%s", rt.Topic, rp.Partition, kerr.ErrorForCode(rp.ErrorCode).(*kerr.Error).Message)
			}
			if n := countRecords(t, rp.RecordBatches); n > 0 {
				s += fmt.Sprintf(":%drec", n)
			}
			out = append(out, s)
		}
	}
	return out
}

func countRecords(t *testing.T, b []byte) int {
	t.Helper()
	n := 0
	for len(b) > 0 {
		var batch kmsg.RecordBatch
		if err := batch.ReadFrom(b); err != nil {
			t.Fatalf("record batch: %v", err)
		}
		n += int(batch.NumRecords)
		b = b[12+batch.Length:]
	}
	return n
}

func sameList(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestFetchSessionRaw drives a session with raw requests: creation,
// incremental answers (only what changed), added and forgotten
// partitions, long polling on the session's partitions, the error codes
// of a wrong epoch and an unknown id, closing, and sessionless fetches.
func TestFetchSessionRaw(t *testing.T) {
	// Parallel: it mostly waits on its own broker(s) and touches no
	// package state, so the quick run overlaps it.
	t.Parallel()
	addr, s := startSessionBroker(t, Config{})
	createTopic(t, addr, "a", 3)
	createTopic(t, addr, "b", 2)
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceTo(t, cl, "a", 0, "a0-0", "a0-1")
	produceTo(t, cl, "b", 1, "b1-0")

	all := []fetchPart{{"a", 0, 0}, {"a", 1, 0}, {"a", 2, 0}, {"b", 0, 0}, {"b", 1, 0}}
	// Full fetch, epoch 0: a session, and every partition answered.
	resp := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, all))
	if resp.ErrorCode != 0 || resp.SessionID <= 0 {
		t.Fatalf("full fetch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	id := resp.SessionID
	if got, want := sessAnswered(t, resp), []string{"a/0:hw2:2rec", "a/1:hw0", "a/2:hw0", "b/0:hw0", "b/1:hw1:1rec"}; !sameList(got, want) {
		t.Fatalf("full fetch answered %v, want %v", got, want)
	}

	// Epoch 1: the client moved its offsets past what it got; nothing
	// changed, so nothing is answered.
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 1, 0, []fetchPart{{"a", 0, 2}, {"b", 1, 1}}))
	if resp.ErrorCode != 0 || resp.SessionID != id || len(resp.Topics) != 0 {
		t.Fatalf("epoch 1: error %d, session %d, answered %v; want nothing", resp.ErrorCode, resp.SessionID, sessAnswered(t, resp))
	}

	// New records in a/2 and b/1: only those two are answered.
	produceTo(t, cl, "a", 2, "a2-0")
	produceTo(t, cl, "b", 1, "b1-1", "b1-2")
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 2, 0, nil))
	if got, want := sessAnswered(t, resp), []string{"a/2:hw1:1rec", "b/1:hw3:2rec"}; !sameList(got, want) || resp.SessionID != id {
		t.Fatalf("epoch 2 answered %v (session %d), want %v", got, resp.SessionID, want)
	}

	// A wrong epoch (2 again, or skipping ahead) and an unknown id.
	for _, e := range []int32{2, 4} {
		resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, e, 0, nil))
		if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(resp.Topics) != 0 || resp.SessionID != 0 {
			t.Fatalf("epoch %d: error %d, session %d, %d topics; want INVALID_FETCH_SESSION_EPOCH alone", e, resp.ErrorCode, resp.SessionID, len(resp.Topics))
		}
	}
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id+1, 1, 0, nil))
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code || len(resp.Topics) != 0 {
		t.Fatalf("unknown id: error %d; want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}

	// The session is intact after the refusals. Epoch 3 moves the
	// offsets of a/2 and b/1 and forgets b/0 and a/1; records then
	// written to a/1 are not answered, and nothing else changed.
	produceTo(t, cl, "a", 1, "a1-0")
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 3, 0, []fetchPart{{"a", 2, 1}, {"b", 1, 3}}, fetchPart{"b", 0, 0}, fetchPart{"a", 1, 0}))
	if resp.ErrorCode != 0 || len(resp.Topics) != 0 {
		t.Fatalf("epoch 3: error %d, answered %v; want nothing", resp.ErrorCode, sessAnswered(t, resp))
	}

	// Epoch 4 adds a/1 back: a new partition is always answered.
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 4, 0, []fetchPart{{"a", 1, 0}}))
	if got, want := sessAnswered(t, resp), []string{"a/1:hw1:1rec"}; !sameList(got, want) {
		t.Fatalf("epoch 4 answered %v, want %v", got, want)
	}

	// Epoch 5 long-polls: the fetch waits on the session's partitions
	// (none named in the request) and answers when a/0 gets a record.
	go func() {
		time.Sleep(300 * time.Millisecond)
		// Not produceTo: t.Fatal must not run outside the test goroutine.
		r := &kgo.Record{Topic: "a", Partition: 0, Value: []byte("a0-2")}
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 5, 10*time.Second, []fetchPart{{"a", 1, 1}}))
	if got, want := sessAnswered(t, resp), []string{"a/0:hw3:1rec"}; !sameList(got, want) {
		t.Fatalf("epoch 5 answered %v, want %v", got, want)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 8*time.Second {
		t.Fatalf("long poll answered after %v", d)
	}
	// Without changes the long poll runs out and answers nothing.
	start = time.Now()
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 6, 200*time.Millisecond, []fetchPart{{"a", 0, 3}}))
	if len(resp.Topics) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("epoch 6 answered %v after %v; want nothing after the wait", sessAnswered(t, resp), time.Since(start))
	}

	// A moved log start offset is answered, without records.
	adm := kadm.NewClient(cl)
	var drop kadm.Offsets
	drop.Add(kadm.Offset{Topic: "a", Partition: 0, At: 1})
	if _, err := adm.DeleteRecords(context.Background(), drop); err != nil {
		t.Fatal(err)
	}
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 7, 0, nil))
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].LogStartOffset != 1 ||
		!sameList(sessAnswered(t, resp), []string{"a/0:hw3"}) {
		t.Fatalf("epoch 7 answered %v, want a/0 with log start 1", sessAnswered(t, resp))
	}

	// A deleted topic's partitions answer with an error, every time.
	if _, err := adm.DeleteTopics(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	for e := int32(8); e <= 9; e++ {
		resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, e, 0, nil))
		if got, want := sessAnswered(t, resp), []string{"b/1:" + kerr.UnknownTopicOrPartition.Message}; !sameList(got, want) {
			t.Fatalf("epoch %d answered %v, want %v", e, got, want)
		}
	}

	// Closing (epoch -1 with the id) answers sessionlessly and ends it.
	// (Reads from offset 1 return the whole first batch, offsets 0-1.)
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, -1, 0, []fetchPart{{"a", 0, 1}}))
	if resp.ErrorCode != 0 || resp.SessionID != 0 || !sameList(sessAnswered(t, resp), []string{"a/0:hw3:3rec"}) {
		t.Fatalf("close: error %d, session %d, answered %v", resp.ErrorCode, resp.SessionID, sessAnswered(t, resp))
	}
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(id, 10, 0, nil))
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("after close: error %d; want FETCH_SESSION_ID_NOT_FOUND", resp.ErrorCode)
	}
	if n := s.fetchSessions.len(); n != 0 {
		t.Fatalf("%d sessions after close", n)
	}

	// Sessionless: epoch -1 without id, and Fetch v6 (no session fields).
	resp = send[*kmsg.FetchResponse](t, cl, sessionFetch(0, -1, 0, []fetchPart{{"a", 0, 1}}))
	if resp.SessionID != 0 || s.fetchSessions.len() != 0 {
		t.Fatalf("sessionless fetch got session %d", resp.SessionID)
	}
	old := mustClient(t, kgo.SeedBrokers(addr), kgo.MaxVersions(kversion.V1_0_0()))
	req := sessionFetch(0, 0, 0, []fetchPart{{"a", 0, 1}})
	req.Version = 6
	resp = send[*kmsg.FetchResponse](t, old, req)
	if resp.Version != 6 || !sameList(sessAnswered(t, resp), []string{"a/0:hw3:3rec"}) || s.fetchSessions.len() != 0 {
		t.Fatalf("v%d fetch answered %v, %d sessions", resp.Version, sessAnswered(t, resp), s.fetchSessions.len())
	}
}

// TestFetchSessionEviction: with one slot, a new consumer session may
// not take the slot of a young one; once that is older than the
// protection time, a larger session evicts it (FETCH_SESSION_ID_NOT_FOUND
// for its owner), and a session unused for that long is evicted by any
// new one. A follower's session evicts a young consumer's.
func TestFetchSessionEviction(t *testing.T) {
	addr, s := startSessionBroker(t, Config{FetchSessionCacheSlots: 1})
	now := time.Now()
	var clock sync.Mutex
	s.fetchSessions.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	createTopic(t, addr, "e", 4)
	cl := mustClient(t, kgo.SeedBrokers(addr))
	parts := func(n int) []fetchPart {
		var ps []fetchPart
		for i := range n {
			ps = append(ps, fetchPart{"e", int32(i), 0})
		}
		return ps
	}
	evictions := promValue(t, "sluice_kafka_fetch_session_evictions_total", "", "")

	a := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, parts(2))).SessionID
	if a == 0 {
		t.Fatal("no session with a free slot")
	}
	// B (larger) while A is young: no session for B.
	advance(time.Minute)
	if id := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, parts(3))).SessionID; id != 0 {
		t.Fatalf("B got session %d while A is protected", id)
	}
	// A stays in use; past the protection time, a smaller or equal
	// session cannot evict it, a larger one can.
	advance(time.Minute)
	if r := send[*kmsg.FetchResponse](t, cl, sessionFetch(a, 1, 0, nil)); r.ErrorCode != 0 {
		t.Fatalf("A epoch 1: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	advance(time.Minute)
	if id := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, parts(2))).SessionID; id != 0 {
		t.Fatalf("an equal session got %d by evicting A", id)
	}
	b := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, parts(3))).SessionID
	if b == 0 || b == a {
		t.Fatalf("B got session %d (A %d)", b, a)
	}
	if r := send[*kmsg.FetchResponse](t, cl, sessionFetch(a, 2, 0, nil)); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("evicted A: error %d, want FETCH_SESSION_ID_NOT_FOUND", r.ErrorCode)
	}
	// B unused for the protection time: any new session takes its slot.
	advance(3 * time.Minute)
	c := send[*kmsg.FetchResponse](t, cl, sessionFetch(0, 0, 0, parts(1))).SessionID
	if c == 0 {
		t.Fatal("C could not evict the stale B")
	}
	// A follower's session evicts a young consumer's.
	rep := sessionFetch(0, 0, 0, parts(1))
	rep.ReplicaID = 7
	if s.fetchSessions.create(rep, rep.ResponseKind().(*kmsg.FetchResponse)) == 0 {
		t.Fatal("a follower's session could not evict a young consumer's")
	}
	if got := s.fetchSessions.stats.evictions.Load(); got != 3 {
		t.Fatalf("%d evictions, want 3", got)
	}
	if d := promValue(t, "sluice_kafka_fetch_session_evictions_total", "", "") - evictions; d != 3 {
		t.Fatalf("prometheus counted %v evictions, want 3", d)
	}
}

// TestFetchSessionKgoRecovers: a kgo consumer whose session is evicted
// gets FETCH_SESSION_ID_NOT_FOUND, opens a new session with a full fetch
// and goes on consuming every record exactly once; with sessions disabled
// kgo consumes with full fetches.
func TestFetchSessionKgoRecovers(t *testing.T) {
	for _, slots := range []int{1, -1} {
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			addr, s := startSessionBroker(t, Config{FetchSessionCacheSlots: slots})
			// Sessions are evictable (and stale) after 1 ms, so the raw
			// session below takes the consumer's slot and the consumer's
			// next full fetch takes it back.
			s.fetchSessions.minEvictable = time.Millisecond
			createTopic(t, addr, "k", 4)
			prod := mustClient(t, kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			cons := mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumeTopics("k"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			want := 0
			consume := func(n int) {
				t.Helper()
				got := map[string]bool{}
				for len(got) < n {
					fs := cons.PollFetches(ctx)
					if ctx.Err() != nil {
						t.Fatalf("consumed %d of %d", len(got), n)
					}
					fs.EachRecord(func(r *kgo.Record) {
						if got[string(r.Value)] {
							t.Fatalf("%s consumed twice", r.Value)
						}
						got[string(r.Value)] = true
					})
				}
			}
			round := func(tag string) {
				for p := range int32(4) {
					produceTo(t, prod, "k", p, tag+fmt.Sprint(p, "a"), tag+fmt.Sprint(p, "b"))
				}
				want += 8
				consume(8)
			}
			round("1-")
			if slots < 0 {
				round("2-")
				if s.fetchSessions.stats.incremental.Load() != 0 || s.fetchSessions.len() != 0 {
					t.Fatal("sessions used while disabled")
				}
				return
			}
			// Evict the consumer's session: a larger raw session takes
			// the slot once the consumer's is past protection.
			time.Sleep(10 * time.Millisecond)
			raw := mustClient(t, kgo.SeedBrokers(addr))
			var ps []fetchPart
			for p := range int32(4) {
				ps = append(ps, fetchPart{"k", p, 0}, fetchPart{"k", p, 0})
			}
			ps = append(ps, fetchPart{"zz", 0, 0}, fetchPart{"zz", 1, 0}, fetchPart{"zz", 2, 0}, fetchPart{"zz", 3, 0}, fetchPart{"zz", 4, 0})
			if id := send[*kmsg.FetchResponse](t, raw, sessionFetch(0, 0, 0, ps)).SessionID; id == 0 {
				t.Fatal("the raw session could not evict the consumer's")
			}
			errs := s.fetchSessions.stats.errors.Load()
			full := s.fetchSessions.stats.full.Load()
			round("2-")
			round("3-")
			if s.fetchSessions.stats.evictions.Load() < 1 || s.fetchSessions.stats.errors.Load() <= errs ||
				s.fetchSessions.stats.full.Load() <= full {
				t.Fatalf("no eviction seen by the consumer: %d evictions, %d errors, %d full fetches",
					s.fetchSessions.stats.evictions.Load(), s.fetchSessions.stats.errors.Load(), s.fetchSessions.stats.full.Load())
			}
			inc := s.fetchSessions.stats.incremental.Load()
			round("4-")
			if s.fetchSessions.stats.incremental.Load() <= inc {
				t.Fatal("the consumer did not resume incremental fetches")
			}
		})
	}
}
