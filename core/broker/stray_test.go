package broker

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta"
)

// markerStore is a cluster store with topic deletion markers.
type markerStore struct {
	*memStore
	deleted []meta.DeletedTopic
	acks    *[]string // "topic/broker" per AckDeletion
}

func (s markerStore) PendingDeletions() ([]meta.DeletedTopic, error) { return s.deleted, nil }

func (s markerStore) AckDeletion(name string, broker int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.acks = append(*s.acks, fmt.Sprintf("%s/%d", name, broker))
	return nil
}

// TestStrayPartitionsRemovedAtStart: a cluster member deletes, at start,
// the partition directories the metadata gives to other brokers (a
// reassignment while it was down), those of partitions the topic lacks
// and those of deleted topics with a marker, plus -delete leftovers; it
// keeps its own replicas, directories of topics the metadata does not
// know without a marker, and directories that hold no partition files.
func TestStrayPartitionsRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files ...string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, name, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("moved-0", "00000000000000000000.log") // a replica: kept and opened
	mk("moved-1", "00000000000000000000.log", "00000000000000000000.index", "leader-epoch-checkpoint")
	mk("moved-7", "00000000000000000000.log")        // no such partition
	mk("dropped-0", "00000000000000000000.log")      // deleted topic, marker
	mk("unknown-0", "00000000000000000000.log")      // not in the metadata, no marker
	mk("notes-1", "README")                          // not a partition dir
	mk("old-3.0123456789abcdef-delete", "00000.log") // an earlier run's leftover

	store := markerStore{memStore: newMemStore(), acks: new([]string), deleted: []meta.DeletedTopic{
		{Name: "dropped", Pending: []int32{1, 2}},
		{Name: "elsewhere", Pending: []int32{2, 3}}, // waits for others only
		{Name: "moved", Pending: []int32{1}},        // an earlier incarnation's
	}}
	if _, err := store.CreateTopic(meta.Topic{Name: "moved", Partitions: []meta.PartitionState{
		{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1},
		{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2},
	}}); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &bytes.Buffer{}}
	b, err := New(Config{DataDir: dir, BrokerID: 1, OffsetsTopicPartitions: 1, GroupInitialRebalanceDelay: -1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
		got := strings.Join(names, ",")
		if got == "moved-0,notes-1,unknown-0" || time.Now().After(deadline) {
			if got != "moved-0,notes-1,unknown-0" {
				t.Fatalf("data dir holds %s, want moved-0,notes-1,unknown-0", got)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, ok := b.localPartition("moved", 0); !ok || p == nil {
		t.Fatal("own replica moved-0 not open")
	}
	store.mu.Lock()
	acks := strings.Join(*store.acks, ",")
	store.mu.Unlock()
	if acks != "dropped/1,moved/1" {
		t.Fatalf("acknowledged deletions %s, want dropped/1,moved/1 (the markers naming broker 1)", acks)
	}
	out := logs.String()
	for _, want := range []string{
		`msg="removing stray partition directory" topic=moved partition=1 reason="not a replica" bytes=3`,
		`msg="removing stray partition directory" topic=moved partition=7 reason="partition does not exist" bytes=1`,
		`msg="removing stray partition directory" topic=dropped partition=0 reason="topic deleted" bytes=1`,
		`msg="partition directory of a topic the metadata does not know; left in place" topic=unknown partition=0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\n%s", want, out)
		}
	}
}

// TestStrayScanSkipsSingleNode: the embedded store's broker owns all its
// metadata, so nothing is stray there.
func TestStrayScanSkipsSingleNode(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "lost-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lost-0", "00000000000000000000.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	b := openTestBroker(t, Config{DataDir: dir, BrokerID: 1}, nil)
	if got := b.removeStrayPartitions(); len(got) != 0 {
		t.Fatalf("single node found strays %v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "lost-0")); err != nil {
		t.Fatal(err)
	}
}

// syncWriter serialises writes of concurrent loggers.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
