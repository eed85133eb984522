package partition

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/records"
)

// TestSlowEpochCheckpointBlocksOnlyAppends: while a new leader's epoch
// checkpoint is being written (a slow disk: two fsyncs took up to 360 ms
// on a loaded machine), the partition answers fetches and reports its
// new epoch from memory, but appends of the new epoch wait until the entry
// is on disk. Before issue 14's fix the write held the partition's mu,
// and a follower's fetch naming this partition and others was held up
// for every partition it named.
func TestSlowEpochCheckpointBlocksOnlyAppends(t *testing.T) {
	p := openReplica(t, 1)
	p.BecomeLeader(1, []int32{1, 2}, []int32{1, 2})
	produce(t, p, 3, "r")
	fetch(t, p, 2, 3)

	// entered is buffered: the write may start before this goroutine
	// waits for it (it did under -race, and the test then failed and hung
	// in Close behind the held write). release is closed on every exit.
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	releaseWrite := func() { releaseOnce.Do(func() { close(release) }) }
	testEpochWrite = func() {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
	}
	became := make(chan struct{})
	go func() {
		defer close(became)
		p.BecomeLeader(2, []int32{1, 2}, []int32{1, 2})
	}()
	// Runs before openReplica's Close (cleanups run after the test's
	// defers): the held write ends, then the hook goes.
	defer func() {
		releaseWrite()
		<-became
		testEpochWrite = nil
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("BecomeLeader never wrote the epoch checkpoint")
	}

	readers := make(chan struct{})
	go func() {
		defer close(readers)
		if e := p.LeaderEpoch(); e != 2 {
			t.Errorf("leader epoch %d during the checkpoint write, want 2", e)
		}
		if _, _, err := p.ReplicaFetch(2, 3, 1<<20); err != nil {
			t.Errorf("replica fetch during the checkpoint write: %v", err)
		}
	}()
	select {
	case <-readers:
	case <-time.After(5 * time.Second):
		t.Fatal("readers were held up by the epoch checkpoint write")
	}

	appended := make(chan int32, 1)
	go func() {
		b, err := records.Encode([]records.Record{{Value: []byte("new")}}, records.Plain)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := p.Append(b); err != nil {
			t.Error(err)
		}
		appended <- 0
	}()
	select {
	case <-appended:
		t.Fatal("a record of the new epoch was appended before its epoch entry was written")
	case <-time.After(100 * time.Millisecond):
	}
	releaseWrite()
	select {
	case <-appended:
	case <-time.After(10 * time.Second):
		t.Fatal("the append never went through after the checkpoint write")
	}
	<-became
	if got, end := p.EndOffsetForEpoch(1); got != 1 || end != 3 {
		t.Fatalf("end offset for epoch 1: epoch %d offset %d, want epoch 1 offset 3", got, end)
	}
}
