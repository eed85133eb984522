package partition

import (
	"io"
	"log/slog"
	"testing"

	"github.com/sluicemq/sluice/core/storage"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestParkedFollowerWokenByAppendAndHW: a follower fetch parked at the
// leader's end is woken by the next append, and by the high watermark
// advancing (another follower's fetch commits what it has), so the
// follower learns the new high watermark without waiting out MaxWait. The
// follower whose own fetch advanced it gets a fresh channel.
func TestParkedFollowerWokenByAppendAndHW(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	produce(t, p, 3, "r")

	res, wait2, err := p.ReplicaFetch(2, 3, 1<<20)
	if err != nil || res.HighWatermark != 0 || res.Chunk.Size != 0 {
		t.Fatalf("follower 2 at the end: %v, high watermark %d, %d bytes", err, res.HighWatermark, res.Chunk.Size)
	}
	if closed(wait2) {
		t.Fatal("follower 2's wait closed with nothing new")
	}
	res, wait3, err := p.ReplicaFetch(3, 3, 1<<20)
	if err != nil || res.HighWatermark != 3 {
		t.Fatalf("follower 3 at the end: %v, high watermark %d, want 3", err, res.HighWatermark)
	}
	if !closed(wait2) {
		t.Fatal("follower 2's parked fetch not woken when follower 3 advanced the high watermark")
	}
	if closed(wait3) {
		t.Fatal("follower 3's own fetch woke it again")
	}
	res, wait2, _ = p.ReplicaFetch(2, 3, 1<<20)
	if res.HighWatermark != 3 {
		t.Fatalf("follower 2 refetching: high watermark %d, want 3", res.HighWatermark)
	}
	produce(t, p, 1, "s")
	if !closed(wait2) || !closed(wait3) {
		t.Fatalf("an append woke follower 2: %v, follower 3: %v; want both", closed(wait2), closed(wait3))
	}
}

// TestRestoreHighWatermark: a reopened replica starts from its
// checkpointed high watermark (bounded by its log), keeps it as a leader
// until its in-sync followers catch up, and no flush raises it to the log
// end before it gets a role.
func TestRestoreHighWatermark(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		Log:               storage.Config{SegmentBytes: 1 << 20, SegmentMs: -1, IndexIntervalBytes: 4096, RetentionMs: -1, RetentionBytes: -1},
		MaxMessageBytes:   1 << 20,
		MinInsyncReplicas: 1,
		BrokerID:          2,
	}
	open := func() *Partition {
		p, err := Open("t", 0, dir, cfg, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := open()
	produce(t, p, 5, "r")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	p = open()
	t.Cleanup(func() { p.Close() })
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("opened with high watermark %d, want the log end 5", hw)
	}
	p.RestoreHighWatermark(2)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("restored high watermark %d after a flush, want 2", hw)
	}
	p.BecomeLeader(3, []int32{2, 3}, []int32{2, 3})
	if hw := p.HighWatermark(); hw != 2 {
		t.Fatalf("as leader before its follower fetched: high watermark %d, want 2", hw)
	}
	fetch(t, p, 3, 4)
	if hw := p.HighWatermark(); hw != 4 {
		t.Fatalf("follower at 4: high watermark %d, want 4", hw)
	}

	p.BecomeFollower(4, 3, []int32{2, 3})
	p.RestoreHighWatermark(99)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("a checkpoint past the log end: high watermark %d, want the log end 5", hw)
	}
}
