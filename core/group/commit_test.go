package group

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/partition"
	"github.com/sluicemq/sluice/core/storage"
)

// heldOffsetsPartition is a __consumer_offsets partition led by broker 1
// with broker 2 in the ISR: nothing appended is committed until release
// reports broker 2 caught up, so a write is held as long as a test wants.
func heldOffsetsPartition(t *testing.T) (p *partition.Partition, release func()) {
	t.Helper()
	cfg := partition.Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          1,
	}
	p, err := partition.Open(OffsetsTopic, 0, t.TempDir(), cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	return p, func() {
		if _, _, err := p.ReplicaFetch(2, p.LogEndOffset(), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
}

// within fails the test if f does not return in time; it only guards
// against a hang (the calls under test return at once or never).
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s blocked", what)
	}
}

// TestHeartbeatNotBlockedByHeldCommit: while an offset commit waits for
// its __consumer_offsets write to replicate, the group's heartbeats,
// joins and syncs are answered; the commit is answered (and visible) once
// the write is committed. The coordinator used to hold the group's lock
// across that wait, so a slow follower stalled every heartbeat of the
// group until clients timed out (TestGroupETL in franz-go's suite).
func TestHeartbeatNotBlockedByHeldCommit(t *testing.T) {
	p, release := heldOffsetsPartition(t)
	store := NewStore(1, func(int32) (*partition.Partition, error) { return p, nil })
	c, err := New(Config{InitialRebalanceDelay: -1, MinSessionTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	join := func(memberID string) JoinResult {
		ch := make(chan JoinResult, 1)
		c.Join(JoinRequest{GroupID: "g", MemberID: memberID, ClientID: "c", SessionTimeout: time.Minute, RebalanceTimeout: time.Minute,
			ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte{1}}}}, func(r JoinResult) { ch <- r })
		select {
		case r := <-ch:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("join blocked")
		}
		return JoinResult{}
	}
	j := join("")
	if j.ErrorCode != 0 || j.Generation != 1 {
		t.Fatalf("join: code %d generation %d", j.ErrorCode, j.Generation)
	}
	// The leader's SyncGroup is answered once its assignments are
	// committed: held, then released.
	synced := make(chan SyncResult, 1)
	within(t, "sync", func() {
		c.Sync(SyncRequest{GroupID: "g", Generation: 1, MemberID: j.MemberID, Assignments: map[string][]byte{j.MemberID: []byte("a")}},
			func(r SyncResult) { synced <- r })
	})
	var hb int16
	within(t, "heartbeat during a held sync", func() { hb = c.Heartbeat("g", j.MemberID, nil, 1) })
	if hb != 0 {
		t.Fatalf("heartbeat during the held sync: code %d", hb)
	}
	select {
	case r := <-synced:
		t.Fatalf("sync answered (code %d) before its write was committed", r.ErrorCode)
	default:
	}
	release()
	if r := <-synced; r.ErrorCode != 0 || string(r.Assignment) != "a" {
		t.Fatalf("sync: code %d assignment %q", r.ErrorCode, r.Assignment)
	}

	// An offset commit held on replication.
	tp := TopicPartition{Topic: "t", Partition: 0}
	committed := make(chan map[TopicPartition]int16, 1)
	within(t, "commit", func() {
		c.CommitAsync(CommitRequest{GroupID: "g", Generation: 1, MemberID: j.MemberID, Offsets: map[TopicPartition]Offset{tp: {Offset: 42, LeaderEpoch: -1}}},
			func(codes map[TopicPartition]int16) { committed <- codes })
	})
	for i := 0; i < 3; i++ {
		within(t, "heartbeat during a held commit", func() { hb = c.Heartbeat("g", j.MemberID, nil, 1) })
		if hb != 0 {
			t.Fatalf("heartbeat during the held commit: code %d", hb)
		}
	}
	var offs map[TopicPartition]Offset
	within(t, "offset fetch during a held commit", func() { offs, _ = c.FetchOffsets("g", nil) })
	if _, ok := offs[tp]; ok {
		t.Fatal("an uncommitted offset is visible")
	}
	// A second member joining starts a rebalance meanwhile: the join is
	// handled (it waits for the first member to rejoin), not blocked.
	within(t, "join during a held commit", func() {
		c.Join(JoinRequest{GroupID: "g", ClientID: "c2", SessionTimeout: time.Minute, RebalanceTimeout: time.Minute,
			ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte{2}}}}, func(JoinResult) {})
	})
	within(t, "heartbeat after the join", func() { hb = c.Heartbeat("g", j.MemberID, nil, 1) })
	if hb != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat after another member joined: code %d, want REBALANCE_IN_PROGRESS", hb)
	}
	select {
	case codes := <-committed:
		t.Fatalf("commit answered %v before its write was committed", codes)
	default:
	}

	release()
	codes := <-committed
	if codes[tp] != 0 {
		t.Fatalf("commit: code %d", codes[tp])
	}
	offs, _ = c.FetchOffsets("g", nil)
	if o := offs[tp]; o.Offset != 42 {
		t.Fatalf("committed offset %d, want 42", o.Offset)
	}
}
