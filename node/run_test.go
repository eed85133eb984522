package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/broker"
)

// A start that fails late (the HTTP port is taken) closes everything
// started before it: the Kafka port is free again and the broker shut
// down cleanly (its clean-shutdown marker is written).
func TestRunWithFailedStartClosesWhatStarted(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// A free port for Kafka, known in advance so it can be re-bound after.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kafkaAddr := probe.Addr().String()
	probe.Close()

	dir := t.TempDir()
	cfg := Config{
		Config:    broker.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), OffsetsTopicPartitions: 1},
		KafkaAddr: kafkaAddr,
		HTTPAddr:  taken.Addr().String(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = RunWith(ctx, cfg, Options{}, func(Addrs) { t.Error("ready called for a node that failed to start") })
	if err == nil || !strings.Contains(err.Error(), "http listener") {
		t.Fatalf("RunWith = %v, want the http listener error", err)
	}
	ln, err := net.Listen("tcp", kafkaAddr)
	if err != nil {
		t.Fatalf("kafka port still bound after the failed start: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(filepath.Join(dir, ".sluice_clean_shutdown")); err != nil {
		t.Fatalf("broker not closed cleanly: %v", err)
	}
}

// The durability default follows the run mode, decided by node.Config.
func TestConfigDurabilityByRunMode(t *testing.T) {
	if d := (Config{}).Defaults(); d.Durability != broker.DurabilityFsync || d.FlushMessages != 1 {
		t.Errorf("single node: durability %q flush.messages %d, want fsync 1", d.Durability, d.FlushMessages)
	}
	if d := (Config{ZooKeeper: "127.0.0.1:2181"}).Defaults(); d.Durability != broker.DurabilityPageCache || d.FlushMessages != 0 {
		t.Errorf("cluster: durability %q flush.messages %d, want page-cache 0", d.Durability, d.FlushMessages)
	}
	if d := (Config{Config: broker.Config{Durability: broker.DurabilityFsync}, ZooKeeper: "127.0.0.1:2181"}).Defaults(); d.Durability != broker.DurabilityFsync {
		t.Errorf("cluster with --durability fsync: %q", d.Durability)
	}
}

// syncBuf is a log sink safe for the node's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The node opens the local store (which writes its file) before the
// broker looks for signs of an earlier run: a first start on an empty
// data dir must still not be taken for a crash, and a second start after
// a clean stop recovers nothing either.
func TestRunWithFreshDataDirIsNoCrash(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		logs := &syncBuf{}
		cfg := Config{
			Config:    broker.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil)), OffsetsTopicPartitions: 1},
			KafkaAddr: "127.0.0.1:0",
			HTTPAddr:  "off",
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := RunWith(ctx, cfg, Options{}, func(Addrs) { cancel() })
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		l := logs.String()
		if !strings.Contains(l, "recovered=false") || strings.Contains(l, "not clean") {
			t.Fatalf("run %d took the data dir for a crashed one:\n%s", run, l)
		}
	}
}
