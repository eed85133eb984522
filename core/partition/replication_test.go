package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// fakeClock is the partition's clock (p.now) under a test's control: ISR
// lag is measured with it, so no test sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func withClock(p *Partition) *fakeClock {
	c := &fakeClock{t: time.Unix(1_000_000, 0)}
	p.now = c.now
	return c
}

// appendOne appends a one-record batch and returns its result.
func appendOne(t *testing.T, p *Partition) AppendResult {
	t.Helper()
	b, err := records.Encode([]records.Record{{Value: []byte("v")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestHighWatermarkFollowsISR: the high watermark is the smallest log end
// among in-sync replicas, waits for in-sync followers it has not heard
// from, ignores followers outside the ISR and never goes back.
func TestHighWatermarkFollowsISR(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	produce(t, p, 5, "r")
	steps := []struct {
		desc string
		do   func()
		hw   int64
	}{
		{"nobody fetched yet", func() {}, 0},
		{"follower 2 has everything, 3 unheard of", func() { fetch(t, p, 2, 5) }, 0},
		{"follower 3 has 3", func() { fetch(t, p, 3, 3) }, 3},
		{"follower 3 has 4", func() { fetch(t, p, 3, 4) }, 4},
		{"more records: followers still at 5 and 4", func() { produce(t, p, 2, "s") }, 4},
		{"follower 3 leaves the ISR: follower 2 holds it at 5", func() { p.SetISR([]int32{1, 2}) }, 5},
		{"follower 3 fetches outside the ISR: no effect", func() { fetch(t, p, 3, 5) }, 5},
		{"follower 2 catches up", func() { fetch(t, p, 2, 7) }, 7},
		// Rejoining at 5 (its last fetch), 3 holds the high watermark
		// until it catches up, but does not move it back.
		{"follower 3 rejoins", func() { p.SetISR([]int32{1, 2, 3}) }, 7},
		{"a record while 3 is behind", func() { produce(t, p, 1, "t"); fetch(t, p, 2, 8) }, 7},
		{"follower 3 fetches", func() { fetch(t, p, 3, 8) }, 8},
		{"ISR of the leader alone", func() { p.SetISR([]int32{1}); produce(t, p, 1, "u") }, 9},
	}
	for _, st := range steps {
		st.do()
		if hw := p.HighWatermark(); hw != st.hw {
			t.Fatalf("%s: high watermark %d, want %d", st.desc, hw, st.hw)
		}
	}
}

// TestReplicaFetchRefusals: fetches that cannot be served record nothing
// about the follower.
func TestReplicaFetchRefusals(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	produce(t, p, 3, "r")
	if _, _, err := p.ReplicaFetch(9, 0, 1<<20); err != ErrUnknownReplica {
		t.Fatalf("fetch by a non-replica: %v", err)
	}
	res, _, err := p.ReplicaFetch(2, 4, 1<<20) // past our end
	if err != ErrOffsetOutOfRange || res.HighWatermark != 0 {
		t.Fatalf("fetch past the end: %v, high watermark %d", err, res.HighWatermark)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("a fetch past our end counted: high watermark %d", hw)
	}
	p.BecomeFollower(2, 2, []int32{1, 2})
	if _, _, err := p.ReplicaFetch(2, 3, 1<<20); err != ErrNotLeader {
		t.Fatalf("replica fetch from a follower: %v", err)
	}
	if _, err := p.Read(0, 1<<20); err != ErrNotLeader {
		t.Fatalf("consumer read from a follower: %v", err)
	}
	b, _ := records.Encode([]records.Record{{Value: []byte("x")}}, records.Plain)
	if _, err := p.Append(b); err != ErrNotLeader {
		t.Fatalf("produce to a follower: %v", err)
	}
}

// TestISRProposal: with the partition's clock under control, the ISR
// shrinks exactly when an in-sync follower has not caught up for longer
// than lagMax, and grows when an outsider has everything committed and
// everything of the current epoch.
func TestISRProposal(t *testing.T) {
	const lag = 10 * time.Second
	p := openReplica(t, 1)
	clock := withClock(p)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	produce(t, p, 2, "r")
	fetch(t, p, 2, 2)
	fetch(t, p, 3, 2)
	propose := func(desc string, want []int32) {
		t.Helper()
		got, ok := p.ISRProposal(lag)
		cur := func() []int32 { _, _, _, isr := p.Role(); slices.Sort(isr); return isr }()
		if want == nil {
			if ok {
				t.Fatalf("%s: proposal %v, want none", desc, got)
			}
			return
		}
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("%s: proposal %v (change %v), want %v (ISR now %v)", desc, got, ok, want, cur)
		}
	}
	propose("everyone caught up", nil)
	produce(t, p, 1, "s") // follower 3 never fetches again
	clock.advance(lag)
	fetch(t, p, 2, 3)
	propose("follower 3 behind for exactly lagMax", nil)
	clock.advance(time.Millisecond)
	propose("follower 3 behind for longer", []int32{1, 2})
	p.SetISR([]int32{1, 2})

	// Follower 3 must reach the high watermark to rejoin.
	fetch(t, p, 3, 2)
	propose("follower 3 below the high watermark", nil)
	fetch(t, p, 3, 3)
	propose("follower 3 has everything committed", []int32{1, 2, 3})
	p.SetISR([]int32{1, 2, 3})
	propose("applied", nil)

	// Not leading: no proposals.
	p.BecomeFollower(2, 2, []int32{1, 2, 3})
	if isr, ok := p.ISRProposal(lag); ok || isr != nil {
		t.Fatalf("a follower proposed %v", isr)
	}
}

// TestISRJoinNeedsEpochStart: a follower outside the ISR joins only once
// it has what the current leader epoch started with, even when the high
// watermark is lower (an in-sync follower has not caught up with the new
// leader yet): otherwise a leader change could elect it while it lacks
// records the previous leader committed.
func TestISRJoinNeedsEpochStart(t *testing.T) {
	p := openReplica(t, 1)
	withClock(p)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2})
	produce(t, p, 3, "r") // follower 2 never fetched: high watermark 0
	p.BecomeLeader(2, []int32{1, 2, 3}, []int32{1, 2})
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d, want 0", hw)
	}
	fetch(t, p, 3, 1) // above the high watermark, below the epoch's start (3)
	if isr, ok := p.ISRProposal(time.Minute); ok {
		t.Fatalf("follower 3 without the epoch's start proposed: %v", isr)
	}
	fetch(t, p, 3, 3)
	if isr, ok := p.ISRProposal(time.Minute); !ok || !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("proposal %v (%v), want [1 2 3]", isr, ok)
	}
}

// TestFollowerCaughtUpUnderLoadByClock: a follower that fetched from where
// our log ended at its previous fetch counts as caught up as of that
// previous fetch (Kafka's rule), not as of now.
func TestFollowerCaughtUpUnderLoadByClock(t *testing.T) {
	const lag = 10 * time.Second
	p := openReplica(t, 1)
	clock := withClock(p)
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	fetch(t, p, 2, 0) // caught up at t0
	produce(t, p, 1, "r")
	clock.advance(8 * time.Second)
	fetch(t, p, 2, 0) // behind; our end is 1 at t0+8s
	produce(t, p, 1, "s")
	clock.advance(8 * time.Second)
	fetch(t, p, 2, 1) // it had our end of t0+8s: caught up as of then
	clock.advance(2 * time.Second)
	if isr, ok := p.ISRProposal(lag); ok {
		t.Fatalf("caught up exactly lagMax ago (as of the previous fetch), 18s after t0: proposal %v, want none", isr)
	}
	clock.advance(time.Millisecond)
	if isr, ok := p.ISRProposal(lag); !ok || !slices.Equal(isr, []int32{1}) {
		t.Fatalf("proposal %v (%v), want [1]", isr, ok)
	}
}

// TestEpochCache: every leader epoch is recorded once with the offset it
// started at, survives a reopen, and answers OffsetForLeaderEpoch as Kafka
// does.
func TestEpochCache(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Log:             storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes: 1 << 20, MinInsyncReplicas: 1, BrokerID: 1,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := Open("t", 0, dir, cfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	if e := p.LatestEpoch(); e != -1 {
		t.Fatalf("latest epoch of a new partition %d, want -1", e)
	}
	if e, off := p.EndOffsetForEpoch(0); e != -1 || off != -1 {
		t.Fatalf("empty cache answers (%d, %d), want (-1, -1)", e, off)
	}
	p.BecomeLeader(1, []int32{1}, []int32{1})
	produce(t, p, 3, "a") // epoch 1: offsets 0-2
	p.BecomeLeader(3, []int32{1}, []int32{1})
	p.BecomeLeader(3, []int32{1}, []int32{1}) // again: no second entry
	produce(t, p, 2, "b")                     // epoch 3: offsets 3-4
	if got := p.epochs.entries; !slices.Equal(got, []epochEntry{{1, 0}, {3, 3}}) {
		t.Fatalf("epoch cache %v", got)
	}
	check := func(p *Partition) {
		t.Helper()
		for _, tc := range []struct {
			req, epoch int32
			end        int64
		}{
			{-1, -1, -1}, // UNDEFINED_EPOCH
			{0, 0, 0},    // before every known epoch: the first one's start (Kafka answers the requested epoch)
			{1, 1, 3},
			{2, 1, 3}, // no epoch 2: the one before it, ending where 3 starts
			{3, 3, 5}, // the latest: the log end
			{4, -1, -1},
		} {
			if e, end := p.EndOffsetForEpoch(tc.req); e != tc.epoch || end != tc.end {
				t.Fatalf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", tc.req, e, end, tc.epoch, tc.end)
			}
		}
		if e := p.LatestEpoch(); e != 3 {
			t.Fatalf("latest epoch %d, want 3", e)
		}
	}
	check(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = Open("t", 0, dir, cfg, false, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	check(p)
}

// TestBatchesCarryLeaderEpoch: appended batches are stamped with the
// leader epoch they were written in.
func TestBatchesCarryLeaderEpoch(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(4, []int32{1}, []int32{1})
	produce(t, p, 1, "a")
	p.BecomeLeader(6, []int32{1}, []int32{1})
	produce(t, p, 1, "b")
	data, err := fetchAs(t, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := storage.SplitBatches(data)
	if err != nil || len(batches) != 2 {
		t.Fatalf("%d batches, %v", len(batches), err)
	}
	for i, want := range []int32{4, 6} {
		h, err := storage.ParseHeader(batches[i])
		if err != nil || h.PartitionLeaderEpoch != want {
			t.Fatalf("batch %d epoch %d (%v), want %d", i, h.PartitionLeaderEpoch, err, want)
		}
	}
}

// TestFollowerTruncation: truncation for a divergence drops the log tail,
// the epochs that started in it and the high watermark above it;
// replication then resumes from the cut, re-sent batches are skipped, and
// a batch past our end is refused with ErrDiverged.
func TestFollowerTruncation(t *testing.T) {
	leader, f := openReplica(t, 1), openReplica(t, 2)
	replicas := []int32{1, 2}
	// f led epochs 1 and 2 alone: offsets 0-1 in epoch 1, 2-3 in epoch 2.
	f.BecomeLeader(1, replicas, []int32{2})
	produce(t, f, 2, "a")
	f.BecomeLeader(2, replicas, []int32{2})
	produce(t, f, 2, "b")
	if hw := f.HighWatermark(); hw != 4 {
		t.Fatalf("high watermark %d", hw)
	}
	// The new leader of epoch 3 has only epoch 1's records.
	leader.BecomeLeader(1, replicas, []int32{1})
	produce(t, leader, 2, "a")
	leader.BecomeLeader(3, replicas, replicas)
	produce(t, leader, 1, "c")

	f.BecomeFollower(3, 1, replicas)
	e, end := leader.EndOffsetForEpoch(f.LatestEpoch()) // f's latest is 2
	if e != 1 || end != 2 {
		t.Fatalf("leader answers (%d, %d) for epoch 2, want (1, 2)", e, end)
	}
	if err := f.TruncateTo(3, end); err != nil {
		t.Fatal(err)
	}
	if f.LogEndOffset() != 2 || f.HighWatermark() != 2 || f.LatestEpoch() != 1 {
		t.Fatalf("after truncation: log end %d, high watermark %d, latest epoch %d; want 2, 2, 1", f.LogEndOffset(), f.HighWatermark(), f.LatestEpoch())
	}
	if err := f.TruncateTo(3, 10); err != nil || f.LogEndOffset() != 2 {
		t.Fatalf("truncating past the end: %v, log end %d", err, f.LogEndOffset())
	}

	// A batch that starts past our end: refused, nothing appended.
	past, _ := fetch(t, leader, 2, 2)
	binary.BigEndian.PutUint64(past, 5) // the base offset, outside the CRC
	if err := f.FollowerAppend(3, past, 3); !errors.Is(err, ErrDiverged) {
		t.Fatalf("batch past our end: %v, want ErrDiverged", err)
	}
	if f.LogEndOffset() != 2 {
		t.Fatalf("log end %d after a refused batch", f.LogEndOffset())
	}

	b, hw := fetch(t, leader, 2, 2)
	if err := f.FollowerAppend(3, b, hw); err != nil {
		t.Fatal(err)
	}
	if err := f.FollowerAppend(3, b, hw); err != nil { // a re-sent answer
		t.Fatalf("re-sent batch: %v", err)
	}
	if f.LogEndOffset() != 3 || f.LatestEpoch() != 3 {
		t.Fatalf("log end %d, latest epoch %d; want 3 and 3", f.LogEndOffset(), f.LatestEpoch())
	}
	// The follower adopts the leader's high watermark, capped at its own
	// end: the leader's was 2 when it answered (f had not fetched 2 yet).
	if got := f.HighWatermark(); got != min(hw, 3) {
		t.Fatalf("follower high watermark %d, want %d", got, min(hw, 3))
	}
	fetch(t, leader, 2, 3)
	if err := f.FollowerAppend(3, nil, leader.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	if f.HighWatermark() != 3 {
		t.Fatalf("follower high watermark %d after the leader's reached 3", f.HighWatermark())
	}
	// Answers for another epoch are fenced.
	for _, e := range []int32{2, 4} {
		if err := f.FollowerAppend(e, b, hw); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("append for epoch %d: %v, want ErrStaleEpoch", e, err)
		}
		if err := f.TruncateTo(e, 0); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("truncate for epoch %d: %v, want ErrStaleEpoch", e, err)
		}
	}
	if f.LogEndOffset() != 3 {
		t.Fatalf("fenced operations changed the log: end %d", f.LogEndOffset())
	}
	// A leader is fenced from follower operations too.
	if err := leader.FollowerAppend(3, b, hw); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("follower append on the leader: %v", err)
	}
}

// TestWaitCommitted: acks=all waits end when the in-sync followers have
// the records, when the context ends (REQUEST_TIMED_OUT), when leadership
// moves (NOT_LEADER_OR_FOLLOWER), and when the partition is closed or
// deleted under the wait.
func TestWaitCommitted(t *testing.T) {
	waitAsync := func(ctx context.Context, p *Partition, res AppendResult) <-chan error {
		ch := make(chan error, 1)
		go func() { ch <- p.WaitCommitted(ctx, res) }()
		return ch
	}
	result := func(t *testing.T, ch <-chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("WaitCommitted did not return")
			return nil
		}
	}
	t.Run("replicated", func(t *testing.T) {
		p := openReplica(t, 1)
		p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
		res := appendOne(t, p)
		ch := waitAsync(context.Background(), p, res)
		fetch(t, p, 2, 0) // has nothing yet
		select {
		case err := <-ch:
			t.Fatalf("returned (%v) before the follower had the record", err)
		default:
		}
		fetch(t, p, 2, 1)
		if err := result(t, ch); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitCommitted(context.Background(), res); err != nil { // already committed
			t.Fatal(err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := openReplica(t, 1)
		p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
		res := appendOne(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		ch := waitAsync(ctx, p, res)
		cancel()
		if err := result(t, ch); err != ErrCommitTimeout {
			t.Fatalf("%v, want REQUEST_TIMED_OUT", err)
		}
	})
	t.Run("leadership moves", func(t *testing.T) {
		p := openReplica(t, 1)
		p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
		res := appendOne(t, p)
		ch := waitAsync(context.Background(), p, res)
		p.BecomeFollower(2, 2, []int32{1, 2})
		if err := result(t, ch); err != ErrNotLeader {
			t.Fatalf("%v, want NOT_LEADER_OR_FOLLOWER", err)
		}
	})
	for _, tc := range []struct {
		name string
		end  func(*Partition) error
	}{
		{"closed", (*Partition).Close},
		{"deleted", (*Partition).Delete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := openReplica(t, 1)
			p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
			res := appendOne(t, p)
			ch := waitAsync(context.Background(), p, res)
			if err := tc.end(p); err != nil {
				t.Fatal(err)
			}
			if err := result(t, ch); err != ErrNotLeader {
				t.Fatalf("%v, want NOT_LEADER_OR_FOLLOWER", err)
			}
		})
	}
	// min.insync.replicas 2: the ISR shrinks to the leader alone after
	// the append, which lets the high watermark pass the records; they
	// are on one replica only, and the producer must not hear success.
	t.Run("ISR shrank below min.insync.replicas", func(t *testing.T) {
		p := openReplica(t, 1)
		cfg := p.Config()
		cfg.MinInsyncReplicas = 2
		p.SetConfig(cfg)
		p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
		res := appendOne(t, p)
		ch := waitAsync(context.Background(), p, res)
		p.SetISR([]int32{1})
		if err := result(t, ch); err != ErrCommittedUnderMinISR {
			t.Fatalf("%v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
		}
		if err := p.WaitCommitted(context.Background(), res); err != ErrCommittedUnderMinISR {
			t.Fatalf("asked again: %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
		}
		// Enough in sync again: a new append is acknowledged.
		p.SetISR([]int32{1, 2})
		res = appendOne(t, p)
		fetch(t, p, 2, res.BaseOffset+1)
		if err := p.WaitCommitted(context.Background(), res); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("durable", func(t *testing.T) {
		p := openReplica(t, 1)
		cfg := p.Config()
		cfg.Log.FlushMessages = 1
		p.SetConfig(cfg)
		res := appendOne(t, p)
		if hw := p.HighWatermark(); hw != 0 {
			t.Fatalf("durable: high watermark %d before fsync, want 0", hw)
		}
		if err := p.WaitCommitted(context.Background(), res); err != nil {
			t.Fatal(err)
		}
		if hw := p.HighWatermark(); hw != 1 {
			t.Fatalf("durable: high watermark %d after WaitCommitted, want 1", hw)
		}
	})
}

// TestCheckMinISR: acks=all admission by min.insync.replicas, on the ISR
// the leader has now.
func TestCheckMinISR(t *testing.T) {
	for _, tc := range []struct {
		minISR int
		isr    []int32
		leader bool
		want   error
	}{
		{1, []int32{1}, true, nil},
		{2, []int32{1}, true, ErrNotEnoughReplicas},
		{2, []int32{1, 2}, true, nil},
		{3, []int32{1, 2}, true, ErrNotEnoughReplicas},
		{3, []int32{1, 2, 3}, true, nil},
		{3, nil, false, nil}, // followers refuse produce elsewhere (NOT_LEADER)
	} {
		p := openReplica(t, 1)
		cfg := p.Config()
		cfg.MinInsyncReplicas = tc.minISR
		p.SetConfig(cfg)
		if tc.leader {
			p.BecomeLeader(1, []int32{1, 2, 3}, tc.isr)
		} else {
			p.BecomeFollower(1, 2, []int32{1, 2, 3})
		}
		if err := p.CheckMinISR(); err != tc.want {
			t.Fatalf("min.insync.replicas %d, ISR %v, leader %v: %v, want %v", tc.minISR, tc.isr, tc.leader, err, tc.want)
		}
	}
	// The check follows ISR changes.
	p := openReplica(t, 1)
	cfg := p.Config()
	cfg.MinInsyncReplicas = 2
	p.SetConfig(cfg)
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	p.SetISR([]int32{1})
	if err := p.CheckMinISR(); err != ErrNotEnoughReplicas {
		t.Fatalf("after the ISR shrank: %v", err)
	}
	p.SetISR([]int32{1, 2})
	if err := p.CheckMinISR(); err != nil {
		t.Fatalf("after the ISR grew: %v", err)
	}
}
