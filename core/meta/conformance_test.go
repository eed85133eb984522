package meta

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// The conformance suite: what every Store must do, run against the
// embedded Local store and against ZK on a real ZooKeeper server. A new
// store implementation adds one Test function calling runConformance.
//
// Writes are read back at once: a store returns from a write only when
// its own reads (Topic, Topics) show it, and the Changes channel taken
// before the write is closed by then.

// storeKit opens stores for the suite. open gives a fresh, empty store
// for broker 1; reopen closes it and opens it again over the same data
// (the embedded file, the same chroot).
type storeKit struct {
	open   func(t *testing.T) Store
	reopen func(t *testing.T, s Store) Store
}

func TestConformanceLocal(t *testing.T) {
	dirs := map[Store]string{}
	runConformance(t, storeKit{
		open: func(t *testing.T) Store {
			dir := t.TempDir()
			l, err := OpenLocal(dir, testBroker(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.StartACLs(); err != nil {
				t.Fatal(err)
			}
			dirs[l] = dir
			return l
		},
		reopen: func(t *testing.T, s Store) Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			l, err := OpenLocal(dirs[s], testBroker(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := l.StartACLs(); err != nil {
				t.Fatal(err)
			}
			return l
		},
	})
}

func TestConformanceZK(t *testing.T) {
	connects := map[Store]string{}
	open := func(t *testing.T, connect string) *ZK {
		z := openTestZK(t, connect, 1, ZKOptions{})
		if err := z.StartACLs(); err != nil {
			t.Fatal(err)
		}
		connects[z] = connect
		return z
	}
	runConformance(t, storeKit{
		open: func(t *testing.T) Store { return open(t, testConnect(t)) },
		reopen: func(t *testing.T, s Store) Store {
			// Closing ends the session, so the ephemeral registration of
			// broker 1 is gone when the new store registers.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, connects[s])
		},
	})
}

func runConformance(t *testing.T, kit storeKit) {
	t.Run("identity", func(t *testing.T) { conformIdentity(t, kit.open(t)) })
	t.Run("create", func(t *testing.T) { conformCreate(t, kit.open(t)) })
	t.Run("invalid", func(t *testing.T) { conformInvalid(t, kit.open(t)) })
	t.Run("copies", func(t *testing.T) { conformCopies(t, kit.open(t)) })
	t.Run("partitions", func(t *testing.T) { conformPartitions(t, kit.open(t)) })
	t.Run("configs", func(t *testing.T) { conformConfigs(t, kit.open(t)) })
	t.Run("config updates", func(t *testing.T) { conformConfigUpdates(t, kit.open(t)) })
	t.Run("delete", func(t *testing.T) { conformDelete(t, kit.open(t)) })
	t.Run("reopen", func(t *testing.T) { conformReopen(t, kit) })
	t.Run("credentials", func(t *testing.T) {
		cs, ok := kit.open(t).(CredentialStore)
		if !ok {
			t.Fatal("not a CredentialStore")
		}
		exerciseCredentialStore(t, cs)
	})
	t.Run("broker configs", func(t *testing.T) { conformBrokerConfigs(t, kit) })
	t.Run("acls", func(t *testing.T) {
		as, ok := kit.open(t).(ACLStore)
		if !ok {
			t.Fatal("not an ACLStore")
		}
		exerciseACLStore(t, as)
	})
}

// leader1 is a partition led by broker 1, its only replica.
func leader1(epoch int32) PartitionState {
	return PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: epoch}
}

// announced runs write and checks that it was announced on Changes by the
// time it returned.
func announced[T any](t *testing.T, s Store, what string, write func() (T, error)) T {
	t.Helper()
	ch := s.Changes()
	v, err := write()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case <-ch:
	default:
		t.Fatalf("%s: not announced on Changes", what)
	}
	return v
}

// wantTopic compares the parts of a topic a store must keep exactly.
func wantTopic(t *testing.T, what string, got, want Topic) {
	t.Helper()
	if got.Name != want.Name || got.ID != want.ID {
		t.Fatalf("%s: topic %q id %x, want %q id %x", what, got.Name, got.ID, want.Name, want.ID)
	}
	if len(got.Partitions) != len(want.Partitions) {
		t.Fatalf("%s: %d partitions, want %d", what, len(got.Partitions), len(want.Partitions))
	}
	for i, p := range got.Partitions {
		w := want.Partitions[i]
		if !slices.Equal(p.Replicas, w.Replicas) || !slices.Equal(p.ISR, w.ISR) || p.Leader != w.Leader || p.LeaderEpoch != w.LeaderEpoch {
			t.Fatalf("%s: partition %d = %+v, want %+v", what, i, p, w)
		}
	}
	// nil and empty configs are the same: no overrides.
	if len(got.Configs) != len(want.Configs) || !maps.Equal(got.Configs, want.Configs) {
		t.Fatalf("%s: configs %v, want %v", what, got.Configs, want.Configs)
	}
}

func topicNames(ts []Topic) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func conformIdentity(t *testing.T, s Store) {
	id := s.ClusterID()
	if id == "" || s.ClusterID() != id {
		t.Fatalf("cluster id %q, then %q", id, s.ClusterID())
	}
	bs := s.Brokers()
	if !slices.ContainsFunc(bs, func(b Broker) bool { return b == testBroker(1) }) {
		t.Fatalf("brokers %+v do not include self %+v", bs, testBroker(1))
	}
	if c := s.ControllerID(); c != -1 && !slices.ContainsFunc(bs, func(b Broker) bool { return b.ID == c }) {
		t.Fatalf("controller %d is neither -1 nor a registered broker", c)
	}
	if ts := s.Topics(); len(ts) != 0 {
		t.Fatalf("a new store has topics %v", topicNames(ts))
	}
	if _, ok := s.Topic("absent"); ok {
		t.Fatal("Topic(absent) found")
	}
}

func conformCreate(t *testing.T, s Store) {
	want := Topic{Name: "orders", Partitions: []PartitionState{leader1(0), leader1(3)}, Configs: map[string]string{"retention.ms": "1000"}}
	got := announced(t, s, "create orders", func() (Topic, error) { return s.CreateTopic(want) })
	if got.ID == ([16]byte{}) {
		t.Fatal("CreateTopic left the id zero")
	}
	want.ID = got.ID
	wantTopic(t, "CreateTopic result", got, want)
	read, ok := s.Topic("orders")
	if !ok {
		t.Fatal("created topic not found")
	}
	wantTopic(t, "Topic after create", read, want)

	// A given id is kept.
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	a := announced(t, s, "create a-first", func() (Topic, error) {
		return s.CreateTopic(Topic{ID: id, Name: "a-first", Partitions: []PartitionState{leader1(0)}})
	})
	if a.ID != id {
		t.Fatalf("id %x, want the given %x", a.ID, id)
	}
	if names := topicNames(s.Topics()); !slices.Equal(names, []string{"a-first", "orders"}) {
		t.Fatalf("Topics = %v, want [a-first orders] (sorted by name)", names)
	}

	// The name is taken, whatever the new topic looks like.
	if _, err := s.CreateTopic(Topic{Name: "orders", Partitions: []PartitionState{leader1(0)}}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("second create: %v, want ErrTopicExists", err)
	}
	read, _ = s.Topic("orders")
	wantTopic(t, "Topic after a refused create", read, want)

	// A partition without a leader yet (for the controller to elect).
	off := Topic{Name: "offline", Partitions: []PartitionState{{Replicas: []int32{1}, Leader: -1}}}
	got = announced(t, s, "create offline", func() (Topic, error) { return s.CreateTopic(off) })
	off.ID = got.ID
	wantTopic(t, "offline partition", got, off)
}

func conformInvalid(t *testing.T, s Store) {
	one := []PartitionState{leader1(0)}
	for _, c := range []struct {
		name string
		t    Topic
	}{
		{"empty name", Topic{Name: "", Partitions: one}},
		{"dot", Topic{Name: ".", Partitions: one}},
		{"dot dot", Topic{Name: "..", Partitions: one}},
		{"slash", Topic{Name: "a/b", Partitions: one}},
		{"space", Topic{Name: "a b", Partitions: one}},
		{"too long", Topic{Name: strings.Repeat("x", 250), Partitions: one}},
		{"no partitions", Topic{Name: "t"}},
		{"no replicas", Topic{Name: "t", Partitions: []PartitionState{{Leader: -1}}}},
		{"duplicate replicas", Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{1, 1}, ISR: []int32{1}, Leader: 1}}}},
		{"negative replica", Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{-2}, Leader: -1}}}},
		{"leader not a replica", Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 2}}}},
		{"leader not in the ISR", Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 1}}}},
		{"ISR outside the replicas", Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1, 3}, Leader: 1}}}},
		{"negative epoch", Topic{Name: "t", Partitions: []PartitionState{leader1(-1)}}},
	} {
		if _, err := s.CreateTopic(c.t); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: CreateTopic = %v, want ErrInvalid", c.name, err)
		}
	}
	if ts := s.Topics(); len(ts) != 0 {
		t.Fatalf("refused creates left topics %v", topicNames(ts))
	}
	// 249 characters is Kafka's limit, and allowed.
	long := strings.Repeat("x", 249)
	if _, err := s.CreateTopic(Topic{Name: long, Partitions: one}); err != nil {
		t.Fatalf("249-character name: %v", err)
	}
	if _, err := s.AddPartitions(long, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddPartitions of nothing: %v, want ErrInvalid", err)
	}
	if _, err := s.AddPartitions(long, []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 2}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddPartitions of a bad state: %v, want ErrInvalid", err)
	}
	if got, _ := s.Topic(long); len(got.Partitions) != 1 {
		t.Fatalf("refused AddPartitions left %d partitions", len(got.Partitions))
	}
}

// conformCopies: what a store hands out is the caller's to change.
func conformCopies(t *testing.T, s Store) {
	in := Topic{Name: "t", Partitions: []PartitionState{leader1(0)}, Configs: map[string]string{"k": "v"}}
	got, err := s.CreateTopic(in)
	if err != nil {
		t.Fatal(err)
	}
	want := in.Clone()
	want.ID = got.ID
	in.Partitions[0].ISR[0] = 9
	in.Configs["k"] = "changed by the caller"
	got.Partitions[0].Replicas[0] = 9
	got.Configs["k"] = "changed by the caller"
	read, _ := s.Topic("t")
	wantTopic(t, "after changing the create's argument and result", read, want)
	read.Partitions[0].ISR = nil
	read.Configs["extra"] = "x"
	list := s.Topics()
	list[0].Partitions[0].Leader = 7
	read, _ = s.Topic("t")
	wantTopic(t, "after changing what Topic and Topics returned", read, want)
}

func conformPartitions(t *testing.T, s Store) {
	base, err := s.CreateTopic(Topic{Name: "grow", Partitions: []PartitionState{leader1(0)}, Configs: map[string]string{"cleanup.policy": "compact"}})
	if err != nil {
		t.Fatal(err)
	}
	more := []PartitionState{leader1(0), {Replicas: []int32{1}, Leader: -1}}
	got := announced(t, s, "add partitions", func() (Topic, error) { return s.AddPartitions("grow", more) })
	want := base.Clone()
	want.Partitions = append(want.Partitions, more...)
	wantTopic(t, "AddPartitions result", got, want)
	read, _ := s.Topic("grow")
	wantTopic(t, "Topic after AddPartitions", read, want)
	if _, err := s.AddPartitions("absent", []PartitionState{leader1(0)}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("AddPartitions(absent): %v, want ErrUnknownTopic", err)
	}
}

func conformConfigs(t *testing.T, s Store) {
	base, err := s.CreateTopic(Topic{Name: "cfg", Partitions: []PartitionState{leader1(0)}, Configs: map[string]string{"a": "1", "b": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, configs := range []map[string]string{
		{"b": "3", "c": "4"}, // replaces, does not merge
		{"c": "4"},
		{},
		nil,
		{"segment.bytes": "1048576"},
	} {
		got := announced(t, s, "set configs", func() (Topic, error) { return s.SetTopicConfigs("cfg", configs) })
		want := base.Clone()
		want.Configs = configs
		wantTopic(t, "SetTopicConfigs result", got, want)
		read, _ := s.Topic("cfg")
		wantTopic(t, "Topic after SetTopicConfigs", read, want)
	}
	if _, err := s.SetTopicConfigs("absent", map[string]string{"a": "1"}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("SetTopicConfigs(absent): %v, want ErrUnknownTopic", err)
	}
	if _, ok := s.Topic("absent"); ok {
		t.Fatal("SetTopicConfigs(absent) created the topic")
	}
}

func conformDelete(t *testing.T, s Store) {
	old, err := s.CreateTopic(Topic{Name: "gone", Partitions: []PartitionState{leader1(4)}, Configs: map[string]string{"retention.ms": "5"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(Topic{Name: "kept", Partitions: []PartitionState{leader1(0)}}); err != nil {
		t.Fatal(err)
	}
	announced(t, s, "delete", func() (struct{}, error) { return struct{}{}, s.DeleteTopic("gone") })
	if _, ok := s.Topic("gone"); ok {
		t.Fatal("deleted topic still found")
	}
	if names := topicNames(s.Topics()); !slices.Equal(names, []string{"kept"}) {
		t.Fatalf("Topics after delete = %v", names)
	}
	for what, err := range map[string]error{
		"DeleteTopic again":       s.DeleteTopic("gone"),
		"DeleteTopic(absent)":     s.DeleteTopic("absent"),
		"DeleteTopic(bad/name)":   s.DeleteTopic("bad/name"),
		"AddPartitions(deleted)":  second(s.AddPartitions("gone", []PartitionState{leader1(0)})),
		"SetTopicConfigs(delete)": second(s.SetTopicConfigs("gone", map[string]string{"a": "1"})),
	} {
		if !errors.Is(err, ErrUnknownTopic) {
			t.Errorf("%s: %v, want ErrUnknownTopic", what, err)
		}
	}
	// The name can be reused: a new topic, nothing of the old one.
	fresh, err := s.CreateTopic(Topic{Name: "gone", Partitions: []PartitionState{leader1(0), leader1(0)}})
	if err != nil {
		t.Fatal(err)
	}
	if fresh.ID == old.ID {
		t.Fatal("recreated topic has the deleted one's id")
	}
	read, _ := s.Topic("gone")
	wantTopic(t, "recreated topic", read, Topic{Name: "gone", ID: fresh.ID, Partitions: []PartitionState{leader1(0), leader1(0)}})
}

func second[T any](_ T, err error) error { return err }

// conformReopen: everything written is there after a restart.
func conformReopen(t *testing.T, kit storeKit) {
	s := kit.open(t)
	cluster := s.ClusterID()
	a, err := s.CreateTopic(Topic{Name: "a", Partitions: []PartitionState{leader1(2)}, Configs: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateTopic(Topic{Name: "b", Partitions: []PartitionState{leader1(0)}})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = s.AddPartitions("b", []PartitionState{leader1(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTopic(Topic{Name: "c", Partitions: []PartitionState{leader1(0)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic("c"); err != nil {
		t.Fatal(err)
	}
	if err := s.(CredentialStore).PutScramCredential("alice", "SCRAM-SHA-256", testScram(t, "pw")); err != nil {
		t.Fatal(err)
	}
	if err := s.(ACLStore).CreateACLs([]ACLBinding{aclGroup}); err != nil {
		t.Fatal(err)
	}

	r := kit.reopen(t, s)
	if r.ClusterID() != cluster {
		t.Fatalf("cluster id %q after reopening, was %q", r.ClusterID(), cluster)
	}
	// A clustered store fills its cache from the server; give it until
	// the topics show.
	deadline := time.Now().Add(zkTestWait)
	for len(r.Topics()) != 2 && time.Now().Before(deadline) {
		select {
		case <-r.Changes():
		case <-time.After(100 * time.Millisecond):
		}
	}
	if names := topicNames(r.Topics()); !slices.Equal(names, []string{"a", "b"}) {
		t.Fatalf("Topics after reopening = %v, want [a b]", names)
	}
	got, _ := r.Topic("a")
	wantTopic(t, "a after reopening", got, a)
	got, _ = r.Topic("b")
	wantTopic(t, "b after reopening", got, b)
	if _, ok, err := r.(CredentialStore).ScramCredential("alice", "SCRAM-SHA-256"); !ok || err != nil {
		t.Fatalf("credential after reopening: %v %v", ok, err)
	}
	wantACLs(t, r.(ACLStore).ACLs(), aclGroup)
}
