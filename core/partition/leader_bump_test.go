package partition

import "testing"

// TestLeaderEpochBumpKeepsFollowers: a leader that stays leader through an
// epoch bump (a reassignment step adding replica 4) keeps the log ends of
// the followers that remain, so the high watermark does not fall back to
// waiting for their next fetch; the added replica starts unknown, and the
// high watermark waits for it only once it is in the ISR.
func TestLeaderEpochBumpKeepsFollowers(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2, 3}, []int32{1, 2, 3})
	produce(t, p, 7, "r")
	fetch(t, p, 3, 7)
	fetch(t, p, 2, 5)
	if hw := p.HighWatermark(); hw != 5 {
		t.Fatalf("before the bump: high watermark %d, want 5", hw)
	}

	p.BecomeLeader(2, []int32{1, 2, 3, 4}, []int32{1, 2, 3})
	// Follower 2 catches up; follower 3 has not fetched since the bump but
	// is known to have 7: the high watermark moves to 7 at once.
	fetch(t, p, 2, 7)
	if hw := p.HighWatermark(); hw != 7 {
		t.Fatalf("after the bump, follower 3 known at 7: high watermark %d, want 7", hw)
	}

	// A replica removed and later added again starts unknown: it holds
	// the high watermark until it fetches.
	p.BecomeLeader(3, []int32{1, 2, 4}, []int32{1, 2})
	p.BecomeLeader(4, []int32{1, 2, 3, 4}, []int32{1, 2, 3})
	produce(t, p, 1, "t")
	fetch(t, p, 2, 8)
	if hw := p.HighWatermark(); hw != 7 {
		t.Fatalf("re-added follower 3 unheard of: high watermark %d, want 7", hw)
	}
	fetch(t, p, 3, 8)
	if hw := p.HighWatermark(); hw != 8 {
		t.Fatalf("re-added follower 3 at 8: high watermark %d, want 8", hw)
	}
}
