package txn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// fakeMarkers records markers; fail makes the next writes of a partition
// fail, block holds writes until released.
type fakeMarkers struct {
	mu      sync.Mutex
	written []Marker
	fail    map[TopicPartition]int // failures left per partition
	block   chan struct{}          // non-nil: writes wait for it to close
	calls   int
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, ms []Marker) []error {
	f.mu.Lock()
	block := f.block
	f.calls++
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			errs := make([]error, len(ms))
			for i := range errs {
				errs[i] = ctx.Err()
			}
			return errs
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i, m := range ms {
		tp := TopicPartition{m.Topic, m.Partition}
		if f.fail[tp] > 0 {
			f.fail[tp]--
			if errs == nil {
				errs = make([]error, len(ms))
			}
			errs[i] = kerr.NotLeaderForPartition
			continue
		}
		f.written = append(f.written, m)
	}
	return errs
}

func (f *fakeMarkers) markers() []Marker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Marker(nil), f.written...)
}

type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func (m *manualNow) now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.t }
func (m *manualNow) add(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

type rig struct {
	t     *testing.T
	dir   string
	parts []*partition.Partition
	mk    *fakeMarkers
	clock *manualNow
	c     *Coordinator
	next  int64
}

const testParts = 3

func newRig(t *testing.T) *rig {
	r := &rig{t: t, dir: t.TempDir(), mk: &fakeMarkers{fail: map[TopicPartition]int{}}, clock: &manualNow{t: time.Unix(1_700_000_000, 0)}, next: 1000}
	r.open()
	t.Cleanup(r.close)
	return r
}

func (r *rig) open() {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.parts = nil
	pcfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          1,
	}
	for i := int32(0); i < testParts; i++ {
		p, err := partition.Open(TopicName, i, filepath.Join(r.dir, strconv.Itoa(int(i))), pcfg, false, logger)
		if err != nil {
			r.t.Fatal(err)
		}
		p.BecomeLeader(3, []int32{1}, []int32{1})
		r.parts = append(r.parts, p)
	}
	r.c = New(Config{
		Partitions:         testParts,
		Partition:          func(i int32) (*partition.Partition, error) { return r.parts[i], nil },
		AllocateProducerID: func() (int64, error) { r.next++; return r.next, nil },
		Markers:            r.mk,
		MaxTimeout:         time.Minute,
		AbortInterval:      time.Hour, // tests call AbortTimedOut
		MarkerRetry:        time.Millisecond,
		Logger:             logger,
		Now:                r.clock.now,
	})
	if err := r.c.Start(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) close() {
	if r.c == nil {
		return
	}
	r.c.Close()
	for _, p := range r.parts {
		p.Close()
	}
	r.c = nil
}

func (r *rig) reopen() { r.close(); r.open() }

func (r *rig) init(id string, pid int64, epoch int16) (ProducerIDAndEpoch, error) {
	return r.c.InitProducerID(id, 10*time.Second, pid, epoch)
}

func (r *rig) mustInit(id string) ProducerIDAndEpoch {
	r.t.Helper()
	pe, err := r.init(id, -1, -1)
	if err != nil {
		r.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return pe
}

// waitState waits until id reaches state (markers are written in the
// background).
func (r *rig) waitState(id string, s State) Description {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := r.c.Describe(id)
		if err == nil && d.State == s {
			return d
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: state %v (err %v), want %v", id, d.State, err, s)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil && got == nil {
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

var tpA, tpB = TopicPartition{"a", 0}, TopicPartition{"b", 1}

func TestPartitionForIsKafkas(t *testing.T) {
	// Values from Java's String.hashCode and Kafka's Utils.abs.
	for id, want := range map[string]int32{"hello": 22, "polygenelubricants": 0, "txn-etl": 14, "my-txn-id": 11, "abc😀": 43} {
		if got := PartitionFor(id, 50); got != want {
			t.Errorf("PartitionFor(%q) = %d, want %d", id, got, want)
		}
	}
}

func TestInitProducerIDEpochs(t *testing.T) {
	r := newRig(t)
	first := r.mustInit("t1")
	if first.ProducerEpoch != 0 {
		t.Fatalf("first init: %+v", first)
	}
	second := r.mustInit("t1")
	if second.ProducerID != first.ProducerID || second.ProducerEpoch != 1 {
		t.Fatalf("second init: %+v after %+v", second, first)
	}
	steps := []struct {
		name    string
		timeout time.Duration
		pid     int64
		epoch   int16
		want    ProducerIDAndEpoch
		err     error
	}{
		{"zero timeout", 0, -1, -1, ProducerIDAndEpoch{-1, -1}, kerr.InvalidTransactionTimeout},
		{"timeout above max", 2 * time.Minute, -1, -1, ProducerIDAndEpoch{-1, -1}, kerr.InvalidTransactionTimeout},
		{"KIP-360 current epoch bumps", 10 * time.Second, first.ProducerID, 1, ProducerIDAndEpoch{first.ProducerID, 2}, nil},
		{"KIP-360 retry of that bump", 10 * time.Second, first.ProducerID, 1, ProducerIDAndEpoch{first.ProducerID, 2}, nil},
		{"KIP-360 stale epoch", 10 * time.Second, first.ProducerID, 0, ProducerIDAndEpoch{-1, -1}, kerr.ProducerFenced},
		{"KIP-360 other producer id", 10 * time.Second, 42, 2, ProducerIDAndEpoch{-1, -1}, kerr.ProducerFenced},
		{"no id: bump", 10 * time.Second, -1, -1, ProducerIDAndEpoch{first.ProducerID, 3}, nil},
	}
	for _, s := range steps {
		got, err := r.c.InitProducerID("t1", s.timeout, s.pid, s.epoch)
		wantErr(t, s.name, err, s.err)
		if got != s.want {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
	}
	if _, err := r.c.InitProducerID("", time.Second, -1, -1); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("empty id: %v", err)
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	r.c.mu.Lock()
	r.c.txns["t1"].epoch = 1<<15 - 2
	r.c.mu.Unlock()
	got := r.mustInit("t1")
	if got.ProducerID == pe.ProducerID || got.ProducerEpoch != 0 {
		t.Fatalf("after exhaustion: %+v (was %+v)", got, pe)
	}
	// The retry of the rotation (old id, exhausted epoch) gets the same.
	again, err := r.init("t1", pe.ProducerID, 1<<15-2)
	if err != nil || again != got {
		t.Fatalf("retry of rotation: %+v, %v; want %+v", again, err, got)
	}
}

func TestCommitAndAbortWriteMarkers(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "commit", false: "abort"}[commit], func(t *testing.T) {
			r := newRig(t)
			pe := r.mustInit("t1")
			if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}); err != nil {
				t.Fatal(err)
			}
			if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpB, tpA}); err != nil {
				t.Fatal(err)
			}
			d := r.waitState("t1", Ongoing)
			if len(d.Partitions) != 2 || d.Start != r.clock.now() {
				t.Fatalf("ongoing: %+v", d)
			}
			r.mk.mu.Lock()
			r.mk.fail[tpB] = 2 // retried until written
			r.mk.mu.Unlock()
			if err := r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, commit); err != nil {
				t.Fatal(err)
			}
			want := CompleteAbort
			if commit {
				want = CompleteCommit
			}
			d = r.waitState("t1", want)
			if len(d.Partitions) != 0 {
				t.Fatalf("complete with partitions: %+v", d)
			}
			ms := r.mk.markers()
			if len(ms) != 2 {
				t.Fatalf("markers: %+v", ms)
			}
			for i, tp := range []TopicPartition{tpA, tpB} {
				m := ms[i]
				if m.Topic != tp.Topic || m.Partition != tp.Partition || m.ProducerID != pe.ProducerID || m.ProducerEpoch != pe.ProducerEpoch || m.Commit != commit || m.CoordinatorEpoch != 3 {
					t.Fatalf("marker %d: %+v", i, m)
				}
			}
			// Retries of the same end succeed; the other end is invalid.
			wantErr(t, "retry", r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, commit), nil)
			wantErr(t, "opposite", r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, !commit), kerr.InvalidTxnState)
			// The next transaction starts from the completed state.
			if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpB}); err != nil {
				t.Fatal(err)
			}
			if d := r.waitState("t1", Ongoing); len(d.Partitions) != 1 {
				t.Fatalf("second txn: %+v", d)
			}
		})
	}
}

func TestProducerChecks(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	cases := []struct {
		name string
		err  error
		call func() error
	}{
		{"add: unknown id", kerr.InvalidProducerIDMapping, func() error { return r.c.AddPartitions("nope", pe.ProducerID, 0, []TopicPartition{tpA}) }},
		{"add: other producer id", kerr.InvalidProducerIDMapping, func() error { return r.c.AddPartitions("t1", pe.ProducerID+1, 0, []TopicPartition{tpA}) }},
		{"add: other epoch", kerr.ProducerFenced, func() error { return r.c.AddPartitions("t1", pe.ProducerID, 5, []TopicPartition{tpA}) }},
		{"end: empty", kerr.InvalidTxnState, func() error { return r.c.EndTxn("t1", pe.ProducerID, 0, true) }},
		{"end: unknown id", kerr.InvalidProducerIDMapping, func() error { return r.c.EndTxn("nope", 1, 0, true) }},
		{"end: other epoch", kerr.ProducerFenced, func() error { return r.c.EndTxn("t1", pe.ProducerID, 3, false) }},
		{"check: ok", nil, func() error { return r.c.CheckProducer("t1", pe.ProducerID, 0) }},
		{"check: fenced", kerr.ProducerFenced, func() error { return r.c.CheckProducer("t1", pe.ProducerID, 1) }},
		{"describe: unknown", kerr.TransactionalIDNotFound, func() error { _, err := r.c.Describe("nope"); return err }},
	}
	for _, c := range cases {
		wantErr(t, c.name, c.call(), c.err)
	}
}

func TestConcurrentTransactionsWhileCompleting(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	r.mk.mu.Lock()
	r.mk.block = block
	r.mk.mu.Unlock()
	if err := r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, true); err != nil {
		t.Fatal(err)
	}
	r.waitState("t1", PrepareCommit)
	wantErr(t, "add", r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}), kerr.ConcurrentTransactions)
	_, err := r.init("t1", -1, -1)
	wantErr(t, "init", err, kerr.ConcurrentTransactions)
	wantErr(t, "end commit again", r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, true), kerr.ConcurrentTransactions)
	wantErr(t, "end abort", r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, false), kerr.InvalidTxnState)
	if l := r.c.List(ListFilter{States: []State{PrepareCommit}, MinOpen: -1}); len(l) != 1 || l[0].TransactionalID != "t1" {
		t.Fatalf("list PrepareCommit: %+v", l)
	}
	close(block)
	r.waitState("t1", CompleteCommit)
	if got := r.mustInit("t1"); got.ProducerEpoch != 1 {
		t.Fatalf("init after commit: %+v", got)
	}
}

func TestInitAbortsOngoingWithFencedEpoch(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	_, err := r.init("t1", -1, -1)
	wantErr(t, "init while ongoing", err, kerr.ConcurrentTransactions)
	r.waitState("t1", CompleteAbort)
	ms := r.mk.markers()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != 1 {
		t.Fatalf("abort markers: %+v", ms)
	}
	got := r.mustInit("t1")
	if got.ProducerID != pe.ProducerID || got.ProducerEpoch != 2 {
		t.Fatalf("init after abort: %+v", got)
	}
	// The zombie (epoch 0) is fenced everywhere.
	wantErr(t, "zombie add", r.c.AddPartitions("t1", pe.ProducerID, 0, []TopicPartition{tpA}), kerr.ProducerFenced)
	wantErr(t, "zombie end", r.c.EndTxn("t1", pe.ProducerID, 0, true), kerr.ProducerFenced)
}

func TestTimedOutTransactionIsAborted(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1") // 10 s timeout
	other := r.mustInit("t2")
	for id, p := range map[string]ProducerIDAndEpoch{"t1": pe, "t2": other} {
		if err := r.c.AddPartitions(id, p.ProducerID, p.ProducerEpoch, []TopicPartition{tpA}); err != nil {
			t.Fatal(err)
		}
	}
	r.clock.add(5 * time.Second)
	r.c.AbortTimedOut()
	if l := r.c.List(ListFilter{MinOpen: 4 * time.Second}); len(l) != 2 {
		t.Fatalf("list open ≥4s: %+v", l)
	}
	// t2 keeps its transaction alive by ending it in time.
	if err := r.c.EndTxn("t2", other.ProducerID, other.ProducerEpoch, true); err != nil {
		t.Fatal(err)
	}
	r.waitState("t2", CompleteCommit)
	r.clock.add(6 * time.Second)
	r.c.AbortTimedOut()
	d := r.waitState("t1", CompleteAbort)
	if d.ProducerEpoch != 1 {
		t.Fatalf("timed-out txn: epoch %d, want the fenced 1", d.ProducerEpoch)
	}
	wantErr(t, "late commit", r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, true), kerr.ProducerFenced)
	if d, _ := r.c.Describe("t2"); d.State != CompleteCommit {
		t.Fatalf("t2: %+v", d)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	r := newRig(t)
	committing := r.mustInit("committing")
	open := r.mustInit("open")
	done := r.mustInit("done")
	done = r.mustInit("done") // epoch 1
	for id, p := range map[string]ProducerIDAndEpoch{"committing": committing, "open": open} {
		if err := r.c.AddPartitions(id, p.ProducerID, p.ProducerEpoch, []TopicPartition{tpA, tpB}); err != nil {
			t.Fatal(err)
		}
	}
	block := make(chan struct{})
	r.mk.mu.Lock()
	r.mk.block = block
	r.mk.mu.Unlock()
	if err := r.c.EndTxn("committing", committing.ProducerID, committing.ProducerEpoch, true); err != nil {
		t.Fatal(err)
	}
	r.waitState("committing", PrepareCommit)
	r.close() // markers were never written
	if n := len(r.mk.markers()); n != 0 {
		t.Fatalf("markers before restart: %d", n)
	}
	r.mk.mu.Lock()
	r.mk.block = nil
	r.mk.mu.Unlock()
	r.open()
	// The coordinator resumes the commit...
	r.waitState("committing", CompleteCommit)
	ms := r.mk.markers()
	if len(ms) != 2 || !ms[0].Commit || ms[0].ProducerID != committing.ProducerID {
		t.Fatalf("resumed markers: %+v", ms)
	}
	// ...keeps the open transaction open (it times out or its producer
	// ends it)...
	d := r.waitState("open", Ongoing)
	if len(d.Partitions) != 2 || d.ProducerID != open.ProducerID || d.Timeout != 10*time.Second {
		t.Fatalf("open after restart: %+v", d)
	}
	if err := r.c.EndTxn("open", open.ProducerID, open.ProducerEpoch, false); err != nil {
		t.Fatal(err)
	}
	r.waitState("open", CompleteAbort)
	// ...and remembers epochs.
	if got := r.mustInit("done"); got.ProducerID != done.ProducerID || got.ProducerEpoch != 2 {
		t.Fatalf("done after restart: %+v (was %+v)", got, done)
	}
	// Listing by producer id.
	if l := r.c.List(ListFilter{ProducerIDs: []int64{open.ProducerID}, MinOpen: -1}); len(l) != 1 || l[0].TransactionalID != "open" || l[0].State != CompleteAbort {
		t.Fatalf("list by producer id: %+v", l)
	}
}

func TestUnloadedPartitionIsNotCoordinated(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	i := r.c.PartitionFor("t1")
	r.c.UnloadPartition(i)
	wantErr(t, "add after unload", r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}), kerr.NotCoordinator)
	if err := r.c.LoadPartition(r.parts[i]); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "add after reload", r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}), nil)
}

// errMarkers answers every marker with one error.
type errMarkers struct{ err error }

func (e errMarkers) WriteMarkers(_ context.Context, ms []Marker) []error {
	errs := make([]error, len(ms))
	for i := range errs {
		errs[i] = e.err
	}
	return errs
}

// TestMarkerErrorsThatEndRetries: a deleted partition or a newer producer
// epoch there drops the marker (the transaction completes); a fenced
// coordinator stops (the newer one completes it).
func TestMarkerErrorsThatEndRetries(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want State
	}{
		{kerr.UnknownTopicOrPartition, CompleteCommit},
		{kerr.InvalidProducerEpoch, CompleteCommit},
		{kerr.TransactionCoordinatorFenced, PrepareCommit},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			r := newRig(t)
			r.c.cfg.Markers = errMarkers{tc.err}
			pe := r.mustInit("t1")
			if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}); err != nil {
				t.Fatal(err)
			}
			if err := r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, true); err != nil {
				t.Fatal(err)
			}
			r.waitState("t1", tc.want)
			if tc.want == PrepareCommit {
				time.Sleep(20 * time.Millisecond) // no retry completes it
				if d, _ := r.c.Describe("t1"); d.State != PrepareCommit {
					t.Fatalf("state %v after a fenced coordinator", d.State)
				}
			}
		})
	}
}

// TestIdleTransactionalIDsExpire: ids with no transaction open and no
// state change for transactional.id.expiration are removed (a tombstone,
// so a restart does not bring them back); open and recently used ids stay;
// an expired id's next producer gets a new producer id.
func TestIdleTransactionalIDsExpire(t *testing.T) {
	r := newRig(t)
	const week = 7 * 24 * time.Hour
	ids := map[string]ProducerIDAndEpoch{}
	for _, id := range []string{"empty", "committed", "aborted", "open", "recent"} {
		ids[id] = r.mustInit(id)
	}
	for id, commit := range map[string]bool{"committed": true, "aborted": false} {
		p := ids[id]
		if err := r.c.AddPartitions(id, p.ProducerID, p.ProducerEpoch, []TopicPartition{tpA}); err != nil {
			t.Fatal(err)
		}
		if err := r.c.EndTxn(id, p.ProducerID, p.ProducerEpoch, commit); err != nil {
			t.Fatal(err)
		}
	}
	r.waitState("committed", CompleteCommit)
	r.waitState("aborted", CompleteAbort)
	if err := r.c.AddPartitions("open", ids["open"].ProducerID, ids["open"].ProducerEpoch, []TopicPartition{tpB}); err != nil {
		t.Fatal(err)
	}
	r.clock.add(week - time.Hour)
	if n := r.c.ExpireIdle(); n != 0 {
		t.Fatalf("expired %d ids before the expiration", n)
	}
	ids["recent"] = r.mustInit("recent") // a state change an hour before the others expire
	r.clock.add(time.Hour + time.Second)
	if n := r.c.ExpireIdle(); n != 3 {
		t.Fatalf("expired %d ids, want 3 (empty, committed, aborted)", n)
	}
	check := func(when string) {
		t.Helper()
		for _, id := range []string{"empty", "committed", "aborted"} {
			if _, err := r.c.Describe(id); !errors.Is(err, kerr.TransactionalIDNotFound) {
				t.Fatalf("%s: %s: %v, want TRANSACTIONAL_ID_NOT_FOUND", when, id, err)
			}
		}
		if d, err := r.c.Describe("open"); err != nil || d.State != Ongoing {
			t.Fatalf("%s: open: %+v, %v", when, d, err)
		}
		if d, err := r.c.Describe("recent"); err != nil || d.State != Empty || d.ProducerEpoch != 1 {
			t.Fatalf("%s: recent: %+v, %v", when, d, err)
		}
		if l := r.c.List(ListFilter{MinOpen: -1}); len(l) != 2 {
			t.Fatalf("%s: listed %+v, want open and recent", when, l)
		}
	}
	check("after expiry")
	r.reopen()
	check("after a restart")
	if n := r.c.ExpireIdle(); n != 0 {
		t.Fatalf("expired %d more ids after the restart", n)
	}
	// An expired id starts over: a new producer id at epoch 0.
	got := r.mustInit("committed")
	if got.ProducerID == ids["committed"].ProducerID || got.ProducerEpoch != 0 {
		t.Fatalf("committed after expiry: %+v, was %+v", got, ids["committed"])
	}
	// The open transaction is left to its timeout, not to expiry.
	r.c.AbortTimedOut()
	r.waitState("open", CompleteAbort)
	r.clock.add(week + time.Second)
	if n := r.c.ExpireIdle(); n != 3 {
		t.Fatalf("expired %d ids a week later, want 3 (open, recent, committed)", n)
	}
}

// TestAddPartitionsWaitsForCompletion: the producer's next transaction
// begins while its last one is still completing: AddPartitionsToTxn (and
// TxnOffsetCommit's check) wait for the markers instead of answering
// CONCURRENT_TRANSACTIONS, up to CompletingWait.
func TestAddPartitionsWaitsForCompletion(t *testing.T) {
	r := newRig(t)
	pe := r.mustInit("t1")
	if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpA}); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	r.mk.mu.Lock()
	r.mk.block = block
	r.mk.mu.Unlock()
	if err := r.c.EndTxn("t1", pe.ProducerID, pe.ProducerEpoch, true); err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		released <- time.Now()
		close(block)
	}()
	if err := r.c.CheckProducer("t1", pe.ProducerID, pe.ProducerEpoch); err != nil {
		t.Fatalf("check while completing: %v", err)
	}
	at := <-released
	if err := r.c.AddPartitions("t1", pe.ProducerID, pe.ProducerEpoch, []TopicPartition{tpB}); err != nil {
		t.Fatalf("add while completing: %v", err)
	}
	if waited := time.Since(at); waited > 400*time.Millisecond {
		t.Fatalf("add answered %v after the markers were released", waited)
	}
	if d, err := r.c.Describe("t1"); err != nil || d.State != Ongoing || len(d.Partitions) != 1 || d.Partitions[0] != tpB {
		t.Fatalf("next transaction: %+v, %v", d, err)
	}
	if ms := r.mk.markers(); len(ms) != 1 || ms[0].Topic != tpA.Topic || !ms[0].Commit {
		t.Fatalf("markers: %+v", ms)
	}
	// The state log has the completed transaction before the next one:
	// a restart finds the next one open.
	r.reopen()
	if d := r.waitState("t1", Ongoing); len(d.Partitions) != 1 || d.Partitions[0] != tpB {
		t.Fatalf("after a restart: %+v", d)
	}
}
