package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
	"github.com/sluicemq/sluice/core/txn"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// The partition side of transactions through the wire protocol: raw
// transactional Produce and WriteTxnMarkers (the coordinator is not part
// of these tests), read by real kgo consumers in both isolation levels.

// txnNode is one broker with its server, restartable on the same dir.
type txnNode struct {
	t    *testing.T
	dir  string
	b    *broker.Broker
	s    *Server
	addr string
}

func startTxnNode(t *testing.T, dir string) *txnNode { return startTxnNodeID(t, dir, 0) }

func startTxnNodeID(t *testing.T, dir string, id int32) *txnNode {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		BrokerID:               id,
		DataDir:                dir,
		Logger:                 slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenAdvertised(t, b)
	s := New(b, Config{Logger: b.Config().Logger})
	go s.Serve(ln)
	n := &txnNode{t: t, dir: dir, b: b, s: s, addr: ln.Addr().String()}
	t.Cleanup(n.stop)
	return n
}

func (n *txnNode) stop() {
	if n.s == nil {
		return
	}
	n.s.Close()
	if err := n.b.Close(); err != nil {
		n.t.Errorf("broker close: %v", err)
	}
	n.s, n.b = nil, nil
}

// txnBatch is a transactional (or, txnl false, idempotent) batch.
func txnBatch(t *testing.T, pid int64, epoch int16, seq int32, txnl bool, values ...string) []byte {
	t.Helper()
	recs := make([]records.Record, len(values))
	for i, v := range values {
		recs[i] = records.Record{Timestamp: time.Now().UnixMilli(), Value: []byte(v)}
	}
	b, err := records.Encode(recs, records.EncodeOptions{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	if txnl {
		b[22] |= 0x10
		c := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
		b[17], b[18], b[19], b[20] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	}
	return b
}

func produceRaw(t *testing.T, cl *kgo.Client, txnID *string, topic string, batch []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = txnID, -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func writeMarkersRaw(t *testing.T, cl *kgo.Client, topic string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = pid, epoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

func initPID(t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// consumeValues reads the partition from the start in an isolation level
// until want records came, then makes sure no more come.
func consumeValues(t *testing.T, addr, topic string, committed bool, want int) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := mustClient(t, kgo.SeedBrokers(addr), kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(15 * time.Second)
	extra := time.Time{}
	for {
		wait := time.Until(deadline)
		if len(got) >= want {
			if extra.IsZero() {
				extra = time.Now().Add(700 * time.Millisecond)
			}
			wait = time.Until(extra)
		}
		if wait <= 0 {
			return got
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errorsIsDeadline(err) {
				t.Errorf("fetch: %v", err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
}

func errorsIsDeadline(err error) bool {
	return err == context.DeadlineExceeded || err == context.Canceled
}

func listLatest(t *testing.T, cl *kgo.Client, topic string, committed bool) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// fetchRaw is one read_committed Fetch from offset 0.
func fetchRaw(t *testing.T, cl *kgo.Client, topic string) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, 1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func TestTxnPartitionCommitAbortIsolation(t *testing.T) {
	dir := t.TempDir()
	n := startTxnNode(t, dir)
	const topic = "txn"
	createTopic(t, n.addr, topic, 1)
	cl := mustClient(t, kgo.SeedBrokers(n.addr))
	id := kmsg.StringPtr("app-1")

	var observed []txn.Marker
	var obsMu sync.Mutex
	n.s.RegisterMarkerObserver(func(m txn.Marker) {
		obsMu.Lock()
		observed = append(observed, m)
		obsMu.Unlock()
	})

	a, ae := initPID(t, cl)
	b, be := initPID(t, cl)
	// A transactional batch needs a transactional id on the request.
	if code, _ := produceRaw(t, cl, nil, topic, txnBatch(t, a, ae, 0, true, "x")); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without transactional id: %v", kerr.ErrorForCode(code))
	}
	mustProduce := func(pid int64, epoch int16, seq int32, txnl bool, want int64, values ...string) {
		t.Helper()
		var tid *string
		if txnl {
			tid = id
		}
		code, base := produceRaw(t, cl, tid, topic, txnBatch(t, pid, epoch, seq, txnl, values...))
		if code != 0 || base != want {
			t.Fatalf("produce %v: code %v base %d, want base %d", values, kerr.ErrorForCode(code), base, want)
		}
	}
	mustProduce(a, ae, 0, true, 0, "a0", "a1", "a2") // 0-2
	if code := writeMarkersRaw(t, cl, topic, a, ae, true); code != 0 {
		t.Fatalf("commit A: %v", kerr.ErrorForCode(code)) // 3
	}
	mustProduce(b, be, 0, true, 4, "b0", "b1") // 4-5
	if errs := n.s.MarkerWriter().WriteMarkers(context.Background(), []txn.Marker{{Topic: topic, ProducerID: b, ProducerEpoch: be}}); errs != nil {
		t.Fatalf("abort B through the MarkerWriter: %v", errs) // 6
	}
	mustProduce(a, ae, 3, true, 7, "a3") // 7, left open
	// A producer with an open transaction may not write outside it.
	if code, _ := produceRaw(t, cl, nil, topic, txnBatch(t, a, ae, 4, false, "a-plain")); code != kerr.InvalidTxnState.Code {
		t.Fatalf("non-transactional batch in an open transaction: %v", kerr.ErrorForCode(code))
	}
	mustProduce(-1, -1, -1, false, 8, "p0") // 8

	if got := listLatest(t, cl, topic, true); got != 7 {
		t.Fatalf("read_committed latest = %d, want the LSO 7", got)
	}
	if got := listLatest(t, cl, topic, false); got != 9 {
		t.Fatalf("read_uncommitted latest = %d, want 9", got)
	}
	fp := fetchRaw(t, cl, topic)
	if fp.LastStableOffset != 7 || fp.HighWatermark != 9 || len(fp.AbortedTransactions) != 1 ||
		fp.AbortedTransactions[0].ProducerID != b || fp.AbortedTransactions[0].FirstOffset != 4 {
		t.Fatalf("read_committed fetch: lso %d hw %d aborted %+v", fp.LastStableOffset, fp.HighWatermark, fp.AbortedTransactions)
	}
	if got, want := consumeValues(t, n.addr, topic, true, 3), []string{"a0", "a1", "a2"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed with A open: %v, want %v", got, want)
	}
	if got, want := consumeValues(t, n.addr, topic, false, 7), []string{"a0", "a1", "a2", "b0", "b1", "a3", "p0"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted: %v, want %v", got, want)
	}
	// librdkafka (kcat) agrees: read_committed ends at the LSO.
	kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer kcancel()
	for _, tc := range []struct{ iso, want string }{
		{"read_committed", "a0\na1\na2\n"},
		{"read_uncommitted", "a0\na1\na2\nb0\nb1\na3\np0\n"},
	} {
		out, stderr, err := kcat(kctx, t, "", "-C", "-b", n.addr, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
			"-X", "isolation.level="+tc.iso, "-f", "%s\n")
		if err != nil || out != tc.want {
			t.Fatalf("kcat %s: %q (want %q) %v\n%s", tc.iso, out, tc.want, err, stderr)
		}
	}

	// Fencing: a marker with a newer epoch for B (no transaction open)
	// is written so the partition learns the epoch; B's old epoch is
	// then refused for data and markers.
	if code := writeMarkersRaw(t, cl, topic, b, be+1, false); code != 0 {
		t.Fatalf("abort B at a new epoch: %v", kerr.ErrorForCode(code)) // 9
	}
	if code, _ := produceRaw(t, cl, id, topic, txnBatch(t, b, be, 2, true, "zombie")); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("produce at a fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if code := writeMarkersRaw(t, cl, topic, b, be, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker at a fenced epoch: %v", kerr.ErrorForCode(code))
	}
	// Commit A: everything is stable; a retried commit is a no-op.
	if code := writeMarkersRaw(t, cl, topic, a, ae, true); code != 0 {
		t.Fatalf("commit A: %v", kerr.ErrorForCode(code)) // 10
	}
	if code := writeMarkersRaw(t, cl, topic, a, ae, true); code != 0 {
		t.Fatalf("retried commit A: %v", kerr.ErrorForCode(code))
	}
	if got := listLatest(t, cl, topic, false); got != 11 {
		t.Fatalf("log end %d after a retried marker, want 11 (no second marker)", got)
	}
	if got := listLatest(t, cl, topic, true); got != 11 {
		t.Fatalf("read_committed latest = %d, want 11", got)
	}
	if got, want := consumeValues(t, n.addr, topic, true, 5), []string{"a0", "a1", "a2", "a3", "p0"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after commit: %v, want %v", got, want)
	}
	out, stderr, err := kcat(kctx, t, "", "-C", "-b", n.addr, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%s\n")
	if want := "a0\na1\na2\na3\np0\n"; err != nil || out != want {
		t.Fatalf("kcat read_committed after commit: %q (want %q) %v\n%s", out, want, err, stderr)
	}
	obsMu.Lock()
	if len(observed) != 5 || observed[1].ProducerID != b || observed[1].Commit {
		t.Errorf("observed markers: %+v", observed)
	}
	obsMu.Unlock()
}

// TestTxnPartitionRestart: an open transaction and the aborted index
// survive a clean restart, and are rebuilt from the log when the producer
// snapshot and the .txnindex files are gone after an unclean one.
func TestTxnPartitionRestart(t *testing.T) {
	// Parallel: it mostly waits (timeouts, fsyncs); it has its own broker
	// and touches no package state, so the quick run overlaps it.
	t.Parallel()
	dir := t.TempDir()
	n := startTxnNode(t, dir)
	const topic = "txr"
	createTopic(t, n.addr, topic, 1)
	cl := mustClient(t, kgo.SeedBrokers(n.addr))
	id := kmsg.StringPtr("app-2")
	a, ae := initPID(t, cl)
	b, be := initPID(t, cl)
	for _, step := range []struct {
		pid   int64
		epoch int16
		vals  []string
	}{{b, be, []string{"b0", "b1"}}, {a, ae, []string{"a0"}}} {
		if code, _ := produceRaw(t, cl, id, topic, txnBatch(t, step.pid, step.epoch, 0, true, step.vals...)); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	// b0 b1 (0-1), a0 (2), abort B (3): A stays open.
	if code := writeMarkersRaw(t, cl, topic, b, be, false); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if code, _ := produceRaw(t, cl, nil, topic, txnBatch(t, -1, -1, -1, false, "p0")); code != 0 { // 4
		t.Fatal(kerr.ErrorForCode(code))
	}
	check := func(stage string, cl *kgo.Client, addr string) {
		t.Helper()
		if got := listLatest(t, cl, topic, true); got != 2 {
			t.Fatalf("%s: LSO %d, want 2 (A's open transaction)", stage, got)
		}
		fp := fetchRaw(t, cl, topic)
		if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].ProducerID != b || fp.AbortedTransactions[0].FirstOffset != 0 {
			t.Fatalf("%s: aborted %+v", stage, fp.AbortedTransactions)
		}
		if got := consumeValues(t, addr, topic, true, 0); len(got) != 0 {
			t.Fatalf("%s: read_committed sees %v before A commits", stage, got)
		}
	}
	check("before restart", cl, n.addr)
	pdir := filepath.Join(dir, topic+"-0")

	n.stop()
	n = startTxnNode(t, dir)
	cl = mustClient(t, kgo.SeedBrokers(n.addr))
	check("after a clean restart", cl, n.addr)

	// As after SIGKILL: no clean-shutdown marker, no producer snapshot,
	// no transaction index: recovery replays the whole log.
	n.stop()
	for _, pat := range []string{filepath.Join(dir, ".sluice_clean_shutdown"), filepath.Join(pdir, "producer-state.json"), filepath.Join(pdir, "*.txnindex")} {
		files, _ := filepath.Glob(pat)
		if len(files) == 0 {
			t.Fatalf("nothing matches %s", pat)
		}
		for _, f := range files {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
	}
	n = startTxnNode(t, dir)
	cl = mustClient(t, kgo.SeedBrokers(n.addr))
	check("after recovery", cl, n.addr)
	if files, _ := filepath.Glob(filepath.Join(pdir, "*.txnindex")); len(files) != 1 {
		t.Fatalf("txnindex files after recovery: %v", files)
	}
	// The resumed transaction commits normally.
	if code := writeMarkersRaw(t, cl, topic, a, ae, true); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	if got, want := consumeValues(t, n.addr, topic, true, 2), []string{"a0", "p0"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after commit: %v, want %v", got, want)
	}
}

// TestTxnMarkersToOtherBroker: markers for partitions another broker
// leads travel as a WriteTxnMarkers request (the MarkerWriter's remote
// path), answered per marker.
func TestTxnMarkersToOtherBroker(t *testing.T) {
	// Parallel: it mostly waits on its own broker(s) and touches no
	// package state, so the quick run overlaps it.
	t.Parallel()
	coord := startTxnNodeID(t, t.TempDir(), 0)
	leader := startTxnNodeID(t, t.TempDir(), 1)
	const topic = "remote"
	createTopic(t, leader.addr, topic, 1)
	cl := mustClient(t, kgo.SeedBrokers(leader.addr))
	pid, epoch := initPID(t, cl)
	if code, _ := produceRaw(t, cl, kmsg.StringPtr("app-3"), topic, txnBatch(t, pid, epoch, 0, true, "r0", "r1")); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	var seen []txn.Marker
	var mu sync.Mutex
	leader.s.RegisterMarkerObserver(func(m txn.Marker) { mu.Lock(); seen = append(seen, m); mu.Unlock() })

	ms := []txn.Marker{
		{Topic: topic, Partition: 0, ProducerID: pid, ProducerEpoch: epoch, Commit: true},
		{Topic: "nope", Partition: 0, ProducerID: pid, ProducerEpoch: epoch, Commit: true},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Without a configured client, remote markers fail (and are retried
	// by the coordinator).
	if errs := coord.s.sendMarkers(ctx, 1, ms[:1], []int{0}); !errors.Is(errs[0], errNoMarkerRemote) {
		t.Fatalf("without SetMarkerRemote: %v", errs)
	}
	coord.s.SetMarkerRemote(kgo.SeedBrokers(leader.addr))
	if errs := coord.s.sendMarkers(ctx, 1, ms, []int{0, 1}); errs[0] != nil || !errors.Is(errs[1], kerr.UnknownTopicOrPartition) {
		t.Fatalf("remote markers: %v", errs)
	}
	if got, want := consumeValues(t, leader.addr, topic, true, 2), []string{"r0", "r1"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed on the leader: %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != ms[0] {
		t.Fatalf("leader observed %+v", seen)
	}
}

// TestDropAborted: the filtered read path drops aborted transactions'
// batches itself (a filter's answer may lose the transactional bit the
// client would drop them by), keeping markers and everything else.
func TestDropAborted(t *testing.T) {
	var data []byte
	add := func(b []byte, base int64) {
		binary.BigEndian.PutUint64(b, uint64(base))
		data = append(data, b...)
	}
	add(txnBatch(t, 1, 0, 0, true, "a0"), 0)     // aborted
	add(txnBatch(t, 2, 0, 0, true, "b0"), 1)     // committed
	add(txnBatch(t, -1, -1, -1, false, "p0"), 2) // plain
	add(txnBatch(t, 1, 0, 1, true, "a1"), 3)     // aborted
	add(txnBatch(t, 1, 0, 2, true, "a2"), 5)     // after the abort marker (4): kept
	got := dropAborted(data, []storage.AbortedTxn{{ProducerID: 1, FirstOffset: 0, LastOffset: 4}})
	batches, err := storage.SplitBatches(got)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, b := range batches {
		h, _ := storage.ParseHeader(b)
		bases = append(bases, h.BaseOffset)
	}
	if !slices.Equal(bases, []int64{1, 2, 5}) {
		t.Fatalf("kept batches at %v, want [1 2 5]", bases)
	}
}

// TestTxnInterleavedManySegments: three producers' transactions interleave
// over many small segments and are committed or aborted at random; kgo
// and kcat read_committed consumers fetching a little at a time see
// exactly the committed records, in log order.
func TestTxnInterleavedManySegments(t *testing.T) {
	n := startTxnNode(t, t.TempDir())
	const topic = "txmany"
	adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(n.addr)))
	if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"segment.bytes": kmsg.StringPtr("2048")}, topic); err != nil {
		t.Fatal(err)
	}
	cl := mustClient(t, kgo.SeedBrokers(n.addr))
	type prod struct {
		pid     int64
		epoch   int16
		seq     int32
		pending []string
	}
	var ps []*prod
	for i := 0; i < 3; i++ {
		pid, epoch := initPID(t, cl)
		ps = append(ps, &prod{pid: pid, epoch: epoch})
	}
	id := kmsg.StringPtr("many")
	type rec struct {
		off int64
		v   string
	}
	var committed []rec
	offs := map[string]int64{}
	rng := uint32(7)
	next := func(k uint32) uint32 { rng = rng*1664525 + 1013904223; return (rng >> 8) % k }
	for step := 0; step < 300; step++ {
		pr := ps[next(3)]
		if len(pr.pending) > 0 && next(4) == 0 {
			commit := next(2) == 0
			if code := writeMarkersRaw(t, cl, topic, pr.pid, pr.epoch, commit); code != 0 {
				t.Fatalf("marker: %v", kerr.ErrorForCode(code))
			}
			if commit {
				for _, v := range pr.pending {
					committed = append(committed, rec{offs[v], v})
				}
			}
			pr.pending = nil
			continue
		}
		v := fmt.Sprintf("p%d-%d", pr.pid, step)
		code, base := produceRaw(t, cl, id, topic, txnBatch(t, pr.pid, pr.epoch, pr.seq, true, v))
		if code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
		pr.seq++
		offs[v] = base
		pr.pending = append(pr.pending, v)
	}
	for _, pr := range ps { // end every transaction
		if len(pr.pending) > 0 {
			if code := writeMarkersRaw(t, cl, topic, pr.pid, pr.epoch, false); code != 0 {
				t.Fatal(kerr.ErrorForCode(code))
			}
		}
	}
	slices.SortFunc(committed, func(a, b rec) int { return int(a.off - b.off) })
	var want []string
	for _, r := range committed {
		want = append(want, r.v)
	}
	if len(want) < 30 {
		t.Fatalf("only %d committed records: a poor test", len(want))
	}
	cons := mustClient(t, kgo.SeedBrokers(n.addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxPartitionBytes(300),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < len(want) && ctx.Err() == nil {
		cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if !slices.Equal(got, want) {
		t.Fatalf("kgo read_committed: %d records, want %d\n got %v\nwant %v", len(got), len(want), got, want)
	}
	out, stderr, err := kcat(ctx, t, "", "-C", "-b", n.addr, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-X", "fetch.message.max.bytes=300", "-f", "%s\n")
	if err != nil || out != strings.Join(want, "\n")+"\n" {
		t.Fatalf("kcat read_committed: %v\n%s\ngot %q", err, stderr, out)
	}
	if segs, _ := filepath.Glob(filepath.Join(n.dir, topic+"-0", "*.log")); len(segs) < 5 {
		t.Fatalf("%d segments: a poor test", len(segs))
	}
	t.Logf("%d committed of %d records", len(want), len(offs))
}
