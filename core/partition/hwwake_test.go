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

// TestParkedFollowerWokenByAppend: a follower fetch parked at the
// leader's end is woken by the next append, not by the high watermark
// advancing (which would cost a round trip per commit), and an append
// that lands between its read and its wait is not missed.
func TestParkedFollowerWokenByAppend(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	produce(t, p, 3, "r")

	res, wait2, err := p.ReplicaFetch(2, 3, 1<<20)
	if err != nil || res.HighWatermark != 0 || res.Chunk.Size != 0 {
		t.Fatalf("follower 2 at the end: %v, high watermark %d, %d bytes", err, res.HighWatermark, res.Chunk.Size)
	}
	res, wait3, err := p.ReplicaFetch(3, 3, 1<<20)
	if err != nil || res.HighWatermark != 3 {
		t.Fatalf("follower 3 at the end: %v, high watermark %d, want 3", err, res.HighWatermark)
	}
	if closed(wait2) || closed(wait3) {
		t.Fatalf("parked fetches woken with nothing new: follower 2 %v, follower 3 %v", closed(wait2), closed(wait3))
	}
	produce(t, p, 1, "s")
	if !closed(wait2) || !closed(wait3) {
		t.Fatalf("an append woke follower 2: %v, follower 3: %v; want both", closed(wait2), closed(wait3))
	}
	// A fetch after the append finds the record: the log end and the
	// wait channel are read together.
	res, wait2, err = p.ReplicaFetch(2, 3, 1<<20)
	if err != nil || res.Chunk.Size == 0 || closed(wait2) {
		t.Fatalf("refetch after the append: %v, %d bytes, wait closed %v", err, res.Chunk.Size, closed(wait2))
	}
	res.Chunk.Release()
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
