package broker

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta"
)

// TestReconcileFollowsStore: changes made in the metadata store by
// someone else (another broker's controller in a cluster) are applied by
// reconcile: new topics are opened (on demand when a client asks first),
// configs are applied, partitions assigned elsewhere are not hosted,
// deleted topics lose their data, and a topic deleted and re-created
// under the same name while this broker was not looking starts empty.
func TestReconcileFollowsStore(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	store := b.Store().(*meta.Local) // the embedded store openTestBroker gave it
	self := meta.PartitionState{Replicas: []int32{0}, ISR: []int32{0}, Leader: 0}
	elsewhere := meta.PartitionState{Replicas: []int32{7}, ISR: []int32{7}, Leader: 7}
	created, err := store.CreateTopic(meta.Topic{Name: "ext", Partitions: []meta.PartitionState{self, elsewhere}})
	if err != nil {
		t.Fatal(err)
	}
	// A client may ask before the watcher applied the change.
	p, err := b.Partition("ext", 0)
	if err != nil {
		t.Fatalf("partition of a topic created in the store: %v", err)
	}
	if _, err := b.Partition("ext", 1); err != ErrNotHosted {
		t.Fatalf("partition hosted elsewhere: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
	if _, err := os.Stat(filepath.Join(b.Config().DataDir, "ext-1")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a partition hosted elsewhere has a local directory: %v", err)
	}
	if n, ok := b.PartitionCount("ext"); !ok || n != 2 {
		t.Fatalf("PartitionCount = %d, %v", n, ok)
	}
	appendN(t, b, "ext", 0, 2)

	if _, err := store.SetTopicConfigs("ext", map[string]string{"retention.ms": "77"}); err != nil {
		t.Fatal(err)
	}
	if err := b.reconcile(); err != nil {
		t.Fatal(err)
	}
	if got := p.Config().Log.RetentionMs; got != 77 {
		t.Fatalf("retention.ms %d after a config change in the store, want 77", got)
	}

	// Deleted and re-created between two reconciles: the id differs, so
	// the old partition and its data go.
	if err := store.DeleteTopic("ext"); err != nil {
		t.Fatal(err)
	}
	recreated, err := store.CreateTopic(meta.Topic{Name: "ext", Partitions: []meta.PartitionState{self}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.reconcile(); err != nil {
		t.Fatal(err)
	}
	if recreated.ID == created.ID {
		t.Fatal("store reused the topic id")
	}
	np, err := b.Partition("ext", 0)
	if err != nil {
		t.Fatal(err)
	}
	if np == p || np.LogEndOffset() != 0 || np.Config().Log.RetentionMs == 77 {
		t.Fatalf("re-created topic kept the old partition (same %v, log end %d)", np == p, np.LogEndOffset())
	}
	if name, ok := b.TopicName(recreated.ID); !ok || name != "ext" {
		t.Fatalf("new id resolves to %q, %v", name, ok)
	}
	if _, ok := b.TopicName(created.ID); ok {
		t.Fatal("old id still resolves")
	}

	if err := store.DeleteTopic("ext"); err != nil {
		t.Fatal(err)
	}
	if err := b.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Partition("ext", 0); err != ErrUnknownTopic {
		t.Fatalf("partition of a topic deleted in the store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.Config().DataDir, "ext-0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data of a topic deleted in the store: %v", err)
	}
}

// TestPartitionOpenFailure: a partition this broker hosts but cannot open
// (its directory is unusable) is a storage error, both for the request
// that created it and for clients asking for it afterwards, not a
// leadership error that sends clients looking for another leader. Once
// the directory is usable again, the next reconcile opens it.
func TestPartitionOpenFailure(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	blocker := filepath.Join(b.Config().DataDir, "t-1")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 2, ReplicationFactor: 1}, false)
	var be *Error
	if !errors.As(err, &be) || be.Err != ErrStorage || !strings.HasPrefix(be.Msg, "creating partitions: partition t-1: ") {
		t.Fatalf("create with an unusable partition directory: %v", err)
	}
	if _, err := b.Partition("t", 0); err != nil {
		t.Fatalf("the healthy partition: %v", err)
	}
	if _, err := b.Partition("t", 1); err != ErrReplicaOffline {
		t.Fatalf("the partition that failed to open: %v, want KAFKA_STORAGE_ERROR", err)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if err := b.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Partition("t", 1); err != nil {
		t.Fatalf("after the directory became usable: %v", err)
	}
}

// TestMetadataWriteFailure: when the embedded store cannot write its file
// the change is refused with KAFKA_STORAGE_ERROR (a disk problem, not an
// unknown server error), and nothing changes.
func TestMetadataWriteFailure(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	// The store writes meta.json.tmp and renames it: a directory there
	// makes every write fail (not empty, so the writer's cleanup of its
	// temporary file cannot remove it).
	tmp := filepath.Join(b.Config().DataDir, "meta.json.tmp")
	if err := os.MkdirAll(filepath.Join(tmp, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrStorage) {
			t.Fatalf("%s with an unwritable store: %v, want ErrStorage", what, err)
		}
	}
	_, err := b.CreateTopic(TopicSpec{Name: "u", Partitions: 1, ReplicationFactor: 1}, false)
	check("create", err)
	check("delete", b.DeleteTopic("t"))
	check("grow", b.CreatePartitions("t", 2, false))
	check("set configs", b.SetTopicConfigs("t", map[string]string{"retention.ms": "1"}, false))
	check("alter configs", b.AlterTopicConfigs("t", []ConfigOp{{Name: "retention.ms", Op: 0, Value: strp("1")}}, false))
	if _, ok := b.Topic("u"); ok {
		t.Fatal("topic created although the store could not write")
	}
	got, ok := b.Topic("t")
	if !ok || len(got.Partitions) != 1 || len(got.Configs) != 0 {
		t.Fatalf("topic changed although the store could not write: %+v", got)
	}
	if _, err := b.Partition("t", 0); err != nil {
		t.Fatal(err)
	}
}

// TestProducerIDReservationFailure: ids cannot be handed out when their
// block cannot be reserved on disk (a reused id could collide with a live
// producer's sequence state after a restart); the error carries
// KAFKA_STORAGE_ERROR.
func TestProducerIDReservationFailure(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	if err := os.Mkdir(filepath.Join(b.Config().DataDir, producerIDFile+".tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	id, err := b.AllocateProducerID()
	if id != -1 || !errors.Is(err, ErrStorage) {
		t.Fatalf("AllocateProducerID = %d, %v; want -1 and ErrStorage", id, err)
	}
}

// gateStore is the embedded store whose next Topic call, once armed,
// waits until released: a test can hold one admin operation between
// reading a topic and writing it back.
type gateStore struct {
	*meta.Local
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (s *gateStore) Topic(name string) (meta.Topic, bool) {
	t, ok := s.Local.Topic(name)
	s.mu.Lock()
	armed := s.armed
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(s.entered)
		<-s.release
	}
	return t, ok
}

// TestConcurrentAlterConfigsKeepBoth: two IncrementalAlterConfigs of one
// topic at once must both take effect. AlterTopicConfigs used to read the
// topic's configs before taking the admin lock, so the second of two
// concurrent alters wrote back a copy without the first's change.
func TestConcurrentAlterConfigsKeepBoth(t *testing.T) {
	dir := t.TempDir()
	local, err := meta.OpenLocal(dir, meta.Broker{ID: 0, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	store := &gateStore{Local: local, entered: make(chan struct{}), release: make(chan struct{})}
	b := openTestBroker(t, Config{DataDir: dir}, store)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	store.armed = true
	store.mu.Unlock()
	first := make(chan error, 1)
	go func() {
		first <- b.AlterTopicConfigs("t", []ConfigOp{{Name: "retention.ms", Op: 0, Value: strp("1000")}}, false)
	}()
	<-store.entered // the first alter has read the topic
	second := make(chan error, 1)
	go func() {
		second <- b.AlterTopicConfigs("t", []ConfigOp{{Name: "segment.ms", Op: 0, Value: strp("2000")}}, false)
	}()
	// The second alter must wait for the first; give it the chance to
	// run ahead (it did, before the fix) before releasing the first.
	select {
	case err := <-second:
		second <- err
	case <-time.After(200 * time.Millisecond):
	}
	close(store.release)
	for _, ch := range []chan error{first, second} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := b.Topic("t")
	if got.Configs["retention.ms"] != "1000" || got.Configs["segment.ms"] != "2000" || len(got.Configs) != 2 {
		t.Fatalf("configs %v after two concurrent alters, want retention.ms=1000 and segment.ms=2000", got.Configs)
	}
}

// TestWatcherAppliesStoreChanges: without anyone calling reconcile, a
// change in the store reaches the hosted partitions (the metadata
// watcher; in a cluster, changes made by other brokers arrive this way).
func TestWatcherAppliesStoreChanges(t *testing.T) {
	b := openTestBroker(t, Config{}, nil)
	if _, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	p, err := b.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Store().(*meta.Local).SetTopicConfigs("t", map[string]string{"retention.ms": "42"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Config().Log.RetentionMs != 42 {
		if time.Now().After(deadline) {
			t.Fatalf("retention.ms %d: the store's change was never applied", p.Config().Log.RetentionMs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecoveryDecision: the broker recovers its logs exactly when the data
// dir was used before and its last shutdown did not complete.
func TestRecoveryDecision(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		prepare func(t *testing.T, dir string)
		recover bool
	}{
		{"fresh data dir", func(*testing.T, string) {}, false},
		{"clean shutdown", func(t *testing.T, dir string) {
			if err := openTestBroker(t, Config{DataDir: dir}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"shutdown did not complete", func(t *testing.T, dir string) {
			if err := openTestBroker(t, Config{DataDir: dir}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"single-node data dir from before the in-use marker", func(t *testing.T, dir string) {
			if err := openTestBroker(t, Config{DataDir: dir}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{cleanShutdownFile, inUseFile} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}, true},
	} {
		dir := t.TempDir()
		tc.prepare(t, dir)
		b := openTestBroker(t, Config{DataDir: dir}, nil)
		if b.recover != tc.recover {
			t.Fatalf("%s: recover %v, want %v", tc.desc, b.recover, tc.recover)
		}
		if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: clean-shutdown marker present while running: %v", tc.desc, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
			t.Fatalf("%s: no clean-shutdown marker after Close: %v", tc.desc, err)
		}
	}
}

// brokersStore is the embedded store with a cluster's broker list that a
// test sets (the brokers alive).
type brokersStore struct {
	*meta.Local
	mu      sync.Mutex
	brokers []meta.Broker
}

func (s *brokersStore) Brokers() []meta.Broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.brokers)
}

func (s *brokersStore) setBrokers(ids ...int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.brokers = nil
	for _, id := range ids {
		s.brokers = append(s.brokers, meta.Broker{ID: id, Host: "127.0.0.1", Port: 9092 + id})
	}
}

// TestReplicaAssignment: replicas are spread over the live brokers in
// id order (partition i's replicas start at the i-th broker); growing a
// topic when fewer brokers are alive than its replication factor is
// refused with INVALID_REPLICATION_FACTOR. It used to assign a broker
// twice to one partition, which the store refused with an error that
// clients saw as UNKNOWN_SERVER_ERROR.
func TestReplicaAssignment(t *testing.T) {
	dir := t.TempDir()
	local, err := meta.OpenLocal(dir, meta.Broker{ID: 0, Host: "127.0.0.1", Port: 9092})
	if err != nil {
		t.Fatal(err)
	}
	store := &brokersStore{Local: local}
	store.setBrokers(2, 0, 1)
	b := openTestBroker(t, Config{DataDir: dir}, store)
	got, err := b.CreateTopic(TopicSpec{Name: "t", Partitions: 4, ReplicationFactor: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{0, 1}, {1, 2}, {2, 0}, {0, 1}}
	for i, ps := range got.Partitions {
		if !slices.Equal(ps.Replicas, want[i]) || !slices.Equal(ps.ISR, want[i]) || ps.Leader != want[i][0] {
			t.Fatalf("partition %d: %+v, want replicas and ISR %v led by %d", i, ps, want[i], want[i][0])
		}
	}
	// Partition 1 is not assigned to broker 0: not hosted here.
	if _, err := b.Partition("t", 1); err != ErrNotHosted {
		t.Fatalf("partition on other brokers: %v", err)
	}
	_, err = b.CreateTopic(TopicSpec{Name: "u", Partitions: 1, ReplicationFactor: 4}, false)
	wantErr(t, "replication factor 4 of 3 brokers", err, errf(ErrInvalidReplicationFactor, "replication factor 4 is invalid: 3 broker(s) available"))

	store.setBrokers(0)
	for _, validateOnly := range []bool{true, false} {
		err := b.CreatePartitions("t", 5, validateOnly)
		wantErr(t, "grow with one broker alive", err, errf(ErrInvalidReplicationFactor, `topic "t" has replication factor 2 but only 1 broker(s) are available`))
	}
	store.setBrokers(0, 1)
	if err := b.CreatePartitions("t", 5, false); err != nil {
		t.Fatal(err)
	}
	if mt, _ := b.Topic("t"); !slices.Equal(mt.Partitions[4].Replicas, []int32{0, 1}) {
		t.Fatalf("new partition 4 replicas %v, want [0 1]", mt.Partitions[4].Replicas)
	}
}
