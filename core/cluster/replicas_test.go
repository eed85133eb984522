package cluster

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

// memStore is a Store in memory with versioned partition states, so tests
// drive the replica manager's compare-and-set paths without ZooKeeper.
type memStore struct {
	mu       sync.Mutex
	replicas []int32
	state    meta.PartitionState
	version  int32
	changed  chan struct{}
	// beforeSet, if set, runs before a SetPartitionState compares versions
	// (a concurrent writer winning the race).
	beforeSet func(s *memStore)
	sets      int
	live      []int32 // registered brokers
}

func newMemStore(st meta.PartitionState) *memStore {
	return &memStore{replicas: st.Replicas, state: st, changed: make(chan struct{}), live: []int32{1, 2, 3}}
}

func (s *memStore) ClusterID() string   { return "mem" }
func (s *memStore) ControllerID() int32 { return -1 }
func (s *memStore) Brokers() []meta.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.Broker
	for _, id := range s.live {
		out = append(out, meta.Broker{ID: id, Host: "127.0.0.1", Port: 1})
	}
	return out
}
func (s *memStore) Topics() []meta.Topic                       { return nil }
func (s *memStore) Topic(string) (meta.Topic, bool)            { return meta.Topic{}, false }
func (s *memStore) CreateTopic(meta.Topic) (meta.Topic, error) { return meta.Topic{}, meta.ErrInvalid }
func (s *memStore) DeleteTopic(string) error                   { return meta.ErrInvalid }
func (s *memStore) AddPartitions(string, []meta.PartitionState) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}
func (s *memStore) SetTopicConfigs(string, map[string]string) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}
func (s *memStore) UpdateTopicConfigs(string, meta.ConfigEdit) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}
func (s *memStore) Changes() <-chan struct{}                    { return s.changed }
func (s *memStore) Close() error                                { return nil }
func (s *memStore) Campaign(ctx context.Context) (int32, error) { <-ctx.Done(); return 0, ctx.Err() }

func (s *memStore) PartitionStateVersion(string, int32) (meta.PartitionState, int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Replicas, st.ISR, st.Version = slices.Clone(s.replicas), slices.Clone(st.ISR), s.version
	return st, s.version, nil
}

func (s *memStore) SetPartitionState(_ string, _ int32, st meta.PartitionState, _, expected int32) (int32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	if f := s.beforeSet; f != nil {
		s.beforeSet = nil
		f(s)
	}
	if expected != s.version {
		return 0, &meta.VersionConflictError{Path: "mem", ExpectedVersion: expected}
	}
	s.version++
	s.state = meta.PartitionState{Replicas: s.replicas, ISR: slices.Clone(st.ISR), Leader: st.Leader, LeaderEpoch: st.LeaderEpoch}
	return s.version, nil
}

// put replaces the stored state as another writer (the controller) would,
// without telling the replica manager.
func (s *memStore) put(leader, epoch int32, isr ...int32) {
	s.state = meta.PartitionState{Replicas: s.replicas, ISR: isr, Leader: leader, LeaderEpoch: epoch}
	s.version++
}

func (s *memStore) isr() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.state.ISR)
}

func testReplica(t *testing.T) *partition.Partition {
	t.Helper()
	return testReplicaOf(t, 0, 1)
}

// testReplicaOf opens partition idx of topic "t" on broker self.
func testReplicaOf(t *testing.T, idx, self int32) *partition.Partition {
	t.Helper()
	cfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          self,
	}
	p, err := partition.Open("t", idx, t.TempDir(), cfg, false, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// leaderWithCatchingUpFollower makes broker 1 lead p at epoch 5 with ISR
// [1], and follower 2 caught up: the leader wants ISR [1 2].
func leaderWithCatchingUpFollower(t *testing.T) (*ReplicaManager, *memStore, *partition.Partition) {
	t.Helper()
	st := meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 5}
	store := newMemStore(st)
	// A seed nobody listens on: fetchers started by these tests only
	// fail and back off. No ISR loop: the test calls maintainISR.
	m, err := newReplicaManager(Config{BrokerID: 1, Logger: discardLogger()}, store, []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	p := testReplica(t)
	m.ApplyState(p, st)
	b, err := records.Encode([]records.Record{{Value: []byte("v")}}, records.Plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.ReplicaFetch(2, p.LogEndOffset(), 1<<20); err != nil {
		t.Fatal(err)
	}
	if isr, ok := p.ISRProposal(m.cfg.LagMax); !ok || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("proposal %v (%v), want [1 2]", isr, ok)
	}
	return m, store, p
}

// TestISRConflictRetriedWithFreshState: the controller changes the stored
// ISR between the leader's read and its compare-and-set; the leader
// adopts the stored state and writes its change on top at once, not on a
// later tick.
func TestISRConflictRetriedWithFreshState(t *testing.T) {
	m, store, p := leaderWithCatchingUpFollower(t)
	store.put(1, 5, 1, 3) // an ISR change the leader has not seen
	if err := m.maintainISR(p); err != nil {
		t.Fatal(err)
	}
	if got := store.isr(); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("stored ISR %v, want [1 2 3] (the stored [1 3] plus the caught-up 2)", got)
	}
	if _, _, _, isr := p.Role(); !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("leader's ISR %v, want [1 2 3]", isr)
	}

	// A compare-and-set lost to a concurrent write is retried from the
	// state that won.
	m2, store2, p2 := leaderWithCatchingUpFollower(t)
	store2.beforeSet = func(s *memStore) { s.put(1, 5, 1, 3) }
	if err := m2.maintainISR(p2); err != nil {
		t.Fatal(err)
	}
	if got := store2.isr(); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("stored ISR %v after a lost race, want [1 2 3]", got)
	}
	if store2.sets != 2 {
		t.Fatalf("%d writes, want 2 (the lost one and its retry)", store2.sets)
	}
}

// TestLeaderDisagreeingWithStoreResolves: when the stored state names
// another leader or a newer epoch, the leader's ISR write applies it
// (steps down, or leads at the stored epoch) instead of failing forever
// while waiting for a watch to deliver it.
func TestLeaderDisagreeingWithStoreResolves(t *testing.T) {
	m, store, p := leaderWithCatchingUpFollower(t)
	store.put(2, 6, 2, 3) // leadership moved while we were not looking
	if err := m.maintainISR(p); err != nil {
		t.Fatal(err)
	}
	if leader, leaderID, epoch, _ := p.Role(); leader || leaderID != 2 || epoch != 6 {
		t.Fatalf("role leader=%v leader_id=%d epoch=%d, want follower of 2 at epoch 6", leader, leaderID, epoch)
	}
	if got := store.isr(); !slices.Equal(got, []int32{2, 3}) {
		t.Fatalf("stored ISR %v changed by a stale leader", got)
	}
	// The watch delivering the older state later changes nothing.
	m.ApplyState(p, meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 5})
	if leader, _, epoch, _ := p.Role(); leader || epoch != 6 {
		t.Fatalf("an older state was applied over a newer one: leader=%v epoch=%d", leader, epoch)
	}

	m2, store2, p2 := leaderWithCatchingUpFollower(t)
	store2.put(1, 7, 1, 3) // re-elected at a newer epoch
	if err := m2.maintainISR(p2); err != nil {
		t.Fatal(err)
	}
	if leader, _, epoch, isr := p2.Role(); !leader || epoch != 7 || !slices.Equal(isr, []int32{1, 3}) {
		t.Fatalf("leader=%v epoch=%d isr=%v, want leader at epoch 7 with [1 3]", leader, epoch, isr)
	}
}

// TestUnregisteredFollowerNotAdded: a follower that fetches and is caught
// up but is not registered (its ZooKeeper session is being re-established)
// stays out of the ISR until it is; adding it only had the controller take
// it out again at once, flapping the ISR at the fetch rate.
func TestUnregisteredFollowerNotAdded(t *testing.T) {
	m, store, p := leaderWithCatchingUpFollower(t)
	store.mu.Lock()
	store.live = []int32{1, 3}
	store.mu.Unlock()
	if err := m.maintainISR(p); err != nil {
		t.Fatal(err)
	}
	if store.sets != 0 {
		t.Fatalf("%d ISR writes for an unregistered follower", store.sets)
	}
	store.mu.Lock()
	store.live = []int32{1, 2, 3}
	store.mu.Unlock()
	if err := m.maintainISR(p); err != nil {
		t.Fatal(err)
	}
	if got := store.isr(); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("stored ISR %v once registered, want [1 2]", got)
	}
}
