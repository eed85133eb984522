package broker

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// memStore is a cluster metadata store in memory: one broker, topics whose
// partition states a test changes directly.
type memStore struct {
	mu      sync.Mutex
	topics  map[string]meta.Topic
	changed chan struct{}
}

func newMemStore() *memStore {
	return &memStore{topics: map[string]meta.Topic{}, changed: make(chan struct{})}
}

func (s *memStore) ClusterID() string   { return "mem" }
func (s *memStore) ControllerID() int32 { return 1 }
func (s *memStore) Brokers() []meta.Broker {
	return []meta.Broker{{ID: 1, Host: "127.0.0.1", Port: 9092}}
}

func (s *memStore) Topics() []meta.Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.Topic
	for _, t := range s.topics {
		out = append(out, t.Clone())
	}
	return out
}

func (s *memStore) Topic(name string) (meta.Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	return t.Clone(), ok
}

func (s *memStore) CreateTopic(t meta.Topic) (meta.Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.topics[t.Name]; ok {
		return meta.Topic{}, meta.ErrTopicExists
	}
	t.ID = [16]byte{1}
	s.topics[t.Name] = t.Clone()
	s.changedLocked()
	return t, nil
}

func (s *memStore) DeleteTopic(name string) error { return meta.ErrInvalid }
func (s *memStore) AddPartitions(string, []meta.PartitionState) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}
func (s *memStore) SetTopicConfigs(string, map[string]string) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}
func (s *memStore) UpdateTopicConfigs(string, meta.ConfigEdit) (meta.Topic, error) {
	return meta.Topic{}, meta.ErrInvalid
}

func (s *memStore) Changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *memStore) Close() error { return nil }

func (s *memStore) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// setState replaces one partition's state, as another broker's controller
// would, and announces the change.
func (s *memStore) setState(topic string, p int, ps meta.PartitionState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic].Clone()
	t.Partitions[p] = ps
	s.topics[topic] = t
	s.changedLocked()
}

// gatedRoles records applied states; the first state with epoch gateEpoch
// blocks until release is closed, so a test can change the store while a
// reconcile is in the middle of applying what it read.
type gatedRoles struct {
	gateEpoch int32
	entered   chan struct{}
	release   chan struct{}
	once      sync.Once

	mu      sync.Mutex
	applied map[int32]int32 // partition -> last applied epoch
}

func (r *gatedRoles) ApplyState(p *partition.Partition, ps meta.PartitionState) {
	if ps.LeaderEpoch == r.gateEpoch {
		r.once.Do(func() {
			close(r.entered)
			<-r.release
		})
	}
	r.mu.Lock()
	r.applied[p.Index] = ps.LeaderEpoch
	r.mu.Unlock()
}

func (r *gatedRoles) Forget(*partition.Partition) {}

func (r *gatedRoles) epoch(p int32) int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[p]
}

// TestReconcileChangeDuringReconcile is the regression test of the
// cluster wedge (issue 18): a partition-state change that arrives while
// the broker is reconciling an earlier one must still be applied. The
// watcher used to take the next change channel only after reconciling, so
// such a change went unnoticed until some unrelated change came along; a
// leader that missed its new epoch answered its followers with
// UNKNOWN_LEADER_EPOCH, they stopped fetching from it, and the quiet
// cluster never changed again. Deterministic: the store is changed while
// the reconcile is held inside ApplyState.
func TestReconcileChangeDuringReconcile(t *testing.T) {
	store := newMemStore()
	state := func(epoch int32) meta.PartitionState {
		return meta.PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: epoch}
	}
	if _, err := store.CreateTopic(meta.Topic{Name: "t", Partitions: []meta.PartitionState{state(0)}}); err != nil {
		t.Fatal(err)
	}
	roles := &gatedRoles{gateEpoch: 1, entered: make(chan struct{}), release: make(chan struct{}), applied: map[int32]int32{}}
	b, err := New(Config{DataDir: t.TempDir(), BrokerID: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, roles)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := roles.epoch(0); got != 0 {
		t.Fatalf("applied epoch %d at open, want 0", got)
	}

	store.setState("t", 0, state(1)) // the watcher reconciles and blocks applying epoch 1
	select {
	case <-roles.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the change to epoch 1 was never applied")
	}
	store.setState("t", 0, state(2)) // lands while that reconcile runs
	close(roles.release)

	deadline := time.Now().Add(10 * time.Second)
	for roles.epoch(0) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("applied epoch %d; the change to epoch 2 made during a reconcile was lost", roles.epoch(0))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
