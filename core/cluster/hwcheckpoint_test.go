package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/core/storage"
)

func TestHWCheckpointEncoding(t *testing.T) {
	entries := map[tp]int64{{"b", 1}: 7, {"a", 10}: 0, {"a", 2}: 12345678901}
	data := encodeHWCheckpoint(entries)
	want := "0\n3\na 2 12345678901\na 10 0\nb 1 7\n"
	if string(data) != want {
		t.Fatalf("encoded %q, want %q", data, want)
	}
	got, err := decodeHWCheckpoint(data)
	if err != nil || len(got) != 3 || got[tp{"a", 2}] != 12345678901 || got[tp{"a", 10}] != 0 || got[tp{"b", 1}] != 7 {
		t.Fatalf("decoded %v, %v", got, err)
	}
	if got, err := decodeHWCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint: %v, %v", got, err)
	}
	for _, bad := range []string{
		"", "1\n0\n", "0\n", "0\nx\n", "0\n-1\n", "0\n2\na 0 1\n", "0\n1\na 0 1\nb 0 1\n",
		"0\n1\na 0\n", "0\n1\na x 1\n", "0\n1\na 0 -5\n", "0\n1\na -1 5\n", "0\n99999999999\n",
	} {
		if _, err := decodeHWCheckpoint([]byte(bad)); !errors.Is(err, errBadHWCheckpoint) {
			t.Errorf("decoding %q: %v, want errBadHWCheckpoint", bad, err)
		}
	}
}

// openIn opens partition "t"-0 on broker self in dir.
func openIn(t *testing.T, dir string, self int32) *partition.Partition {
	t.Helper()
	cfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          self,
	}
	p, err := partition.Open("t", 0, dir, cfg, false, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// checkpointManager is a replica manager of broker 2 keeping its
// checkpoint in dataDir (fetchers started by it only fail: nobody
// listens on its seed).
func checkpointManager(t *testing.T, dataDir string, interval time.Duration) *ReplicaManager {
	t.Helper()
	store := newMemStore(meta.PartitionState{Replicas: []int32{1, 2, 3}})
	m, err := NewReplicaManager(Config{BrokerID: 2, DataDir: dataDir, CheckpointInterval: interval,
		Logger: discardLogger()}, store, []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// TestHWCheckpointRestoredAtStart: a follower holding records its leader
// had not committed writes its high watermark at shutdown; reopened, it
// starts from that high watermark instead of its log end, as follower and
// as leader (where it waits for its in-sync follower). No checkpoint
// keeps the old start (the log end); a checkpoint without the partition
// starts it from its log start.
func TestHWCheckpointRestoredAtStart(t *testing.T) {
	dataDir, logDir := t.TempDir(), t.TempDir()
	follower := meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 5}

	// The leader (broker 1) has 5 records, committed up to 2.
	leader := openIn(t, t.TempDir(), 1)
	leader.BecomeLeader(5, []int32{1, 2, 3}, []int32{1, 2, 3})
	for i := range 5 {
		b, err := records.Encode([]records.Record{{Value: []byte{byte('a' + i)}}}, records.Plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leader.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	res, _, err := leader.ReplicaFetch(2, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	data, err := res.Chunk.ReadAll()
	res.Chunk.Release()
	if err != nil {
		t.Fatal(err)
	}

	m := checkpointManager(t, dataDir, time.Hour)
	p := openIn(t, logDir, 2)
	m.ApplyState(p, follower)
	if err := p.FollowerAppend(5, data, 2); err != nil {
		t.Fatal(err)
	}
	if p.LogEndOffset() != 5 || p.HighWatermark() != 2 {
		t.Fatalf("follower: log end %d, high watermark %d; want 5, 2", p.LogEndOffset(), p.HighWatermark())
	}
	m.Close()
	file := filepath.Join(dataDir, HWCheckpointFile)
	if got, err := os.ReadFile(file); err != nil || string(got) != "0\n1\nt 0 2\n" {
		t.Fatalf("checkpoint after shutdown: %q, %v", got, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted as follower.
	m = checkpointManager(t, dataDir, time.Hour)
	p = openIn(t, logDir, 2)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("reopened: high watermark %d, want Open's log end 5", hw)
	}
	m.ApplyState(p, follower)
	if leader, leaderID, _, _ := p.Role(); leader || leaderID != 1 || p.HighWatermark() != 2 {
		t.Fatalf("restarted follower: leader=%v leader_id=%d high watermark %d; want follower of 1 at 2", leader, leaderID, p.HighWatermark())
	}
	m.Close()
	p.Close()

	// Restarted and elected (broker 1 down, 3 in the ISR): the high
	// watermark stays at the checkpoint until 3 has caught up.
	m = checkpointManager(t, dataDir, time.Hour)
	p = openIn(t, logDir, 2)
	m.ApplyState(p, meta.PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 6})
	if leader, _, _, _ := p.Role(); !leader || p.HighWatermark() != 2 {
		t.Fatalf("restarted leader: leader=%v high watermark %d; want leader at 2", leader, p.HighWatermark())
	}
	if rr, err := p.Read(2, 1<<20); err != nil || rr.Chunk.Size != 0 || rr.HighWatermark != 2 {
		t.Fatalf("consumer read at the high watermark: %v, %d bytes, high watermark %d", err, rr.Chunk.Size, rr.HighWatermark)
	}
	if _, _, err := p.ReplicaFetch(3, 5, 1<<20); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("follower 3 caught up: high watermark %d, want 5", hw)
	}
	m.Close()
	if got, err := os.ReadFile(file); err != nil || string(got) != "0\n1\nt 0 5\n" {
		t.Fatalf("checkpoint after the leader's shutdown: %q, %v", got, err)
	}
	p.Close()

	// A checkpoint that lacks the partition: from its log start.
	if err := os.WriteFile(file, []byte("0\n1\nother 0 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = checkpointManager(t, dataDir, time.Hour)
	p = openIn(t, logDir, 2)
	m.ApplyState(p, follower)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("partition missing from the checkpoint: high watermark %d, want the log start 0", hw)
	}
	m.Close()
	p.Close()

	// A corrupt checkpoint is trusted for nothing.
	if err := os.WriteFile(file, []byte("0\n2\nt 0 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m = checkpointManager(t, dataDir, time.Hour)
	p = openIn(t, logDir, 2)
	m.ApplyState(p, follower)
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("corrupt checkpoint: high watermark %d, want the log start 0", hw)
	}
	m.Close()
	p.Close()

	// No checkpoint (a data dir from before they were written): Open's
	// log end, as before.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	m = checkpointManager(t, dataDir, time.Hour)
	p = openIn(t, logDir, 2)
	m.ApplyState(p, follower)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("no checkpoint: high watermark %d, want the log end 5", hw)
	}
}

// TestHWCheckpointWrittenPeriodically: the checkpoint follows the high
// watermark while the broker runs, not only at shutdown.
func TestHWCheckpointWrittenPeriodically(t *testing.T) {
	dataDir := t.TempDir()
	m := checkpointManager(t, dataDir, 20*time.Millisecond)
	p := openIn(t, t.TempDir(), 2)
	m.ApplyState(p, meta.PartitionState{Replicas: []int32{2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1})
	for range 3 {
		b, err := records.Encode([]records.Record{{Value: []byte("v")}}, records.Plain)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dataDir, HWCheckpointFile)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := os.ReadFile(file)
		if string(got) == "0\n1\nt 0 3\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint %q, want high watermark 3 within 10s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(file + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}
