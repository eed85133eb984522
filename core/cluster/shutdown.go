package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicemq/sluice/core/meta"
)

// Moved is one partition a controlled shutdown handed over.
type Moved struct {
	Topic     string
	Partition int32
	Leader    int32 // the new leader; -1 when only the ISR changed
}

// ShutdownDrain is how long a broker whose leadership moved keeps serving
// after the controlled shutdown is done, before it closes. Its clients
// learn of the move from its answers (NOT_LEADER_OR_FOLLOWER naming the
// new leader, KIP-951); a client whose request is still on its way when
// the listener closes gets a broken connection instead, and kgo waits a
// retry backoff (250 ms and more) before it asks anyone again: in the
// replication bench that was a 290 ms acknowledgement gap (a produce
// written 2 ms after the move, answered with EOF). A client that sends
// continuously has its answer in a round trip; this covers it on a loaded
// machine.
var ShutdownDrain = 200 * time.Millisecond

// ControlledShutdown asks the controller (through the store) to move
// leadership of every partition this broker leads to another in-sync
// replica and to take this broker out of every ISR, and waits until the
// store shows that for every partition where it can be done (a partition
// with no other live in-sync replica keeps its leader: moving it would
// make it unavailable sooner), then, when a leadership moved, waits
// ShutdownDrain more. It returns what moved, and an error when ctx ended
// first. Stores without controlled shutdown (the embedded
// single-node store) return at once.
func ControlledShutdown(ctx context.Context, store meta.Store, self int32, logger *slog.Logger) ([]Moved, error) {
	ss, ok := store.(meta.ShutdownStore)
	if !ok {
		return nil, nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	start := time.Now()
	before := map[string]meta.PartitionState{}
	for _, t := range store.Topics() {
		for i, ps := range t.Partitions {
			if ps.Leader == self || slices.Contains(ps.ISR, self) {
				before[fmt.Sprintf("%s\x00%d", t.Name, i)] = ps
			}
		}
	}
	if len(before) == 0 {
		return nil, nil
	}
	logger.Info("controlled shutdown: asking the controller to move leadership and ISR membership", "partitions", len(before))
	// ZooKeeper calls wait out a disconnection; the deadline must not.
	reqDone := make(chan error, 1)
	go func() { reqDone <- ss.RequestControlledShutdown() }()
	select {
	case err := <-reqDone:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		changes := store.Changes()
		pending, moved := shutdownProgress(store, ss, self, before)
		if pending == 0 {
			logger.Info("controlled shutdown: done", "moved", len(moved), "took", time.Since(start).Round(time.Millisecond))
			if slices.ContainsFunc(moved, func(m Moved) bool { return m.Leader >= 0 }) {
				// Serve a little longer: see ShutdownDrain.
				sleep(ctx, ShutdownDrain)
			}
			return moved, nil
		}
		select {
		case <-ctx.Done():
			logger.Warn("controlled shutdown: timed out; stopping anyway", "pending", pending, "moved", len(moved))
			return moved, ctx.Err()
		case <-changes:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// shutdownProgress counts the partitions still waiting for the controller
// and lists those already handed over.
func shutdownProgress(store meta.Store, ss meta.ShutdownStore, self int32, before map[string]meta.PartitionState) (pending int, moved []Moved) {
	live := map[int32]bool{}
	for _, b := range store.Brokers() {
		live[b.ID] = true
	}
	down := ss.ShuttingDown()
	for _, t := range store.Topics() {
		for i, ps := range t.Partitions {
			key := fmt.Sprintf("%s\x00%d", t.Name, i)
			prev, ok := before[key]
			if !ok {
				continue
			}
			// Someone else can take over when another live in-sync
			// replica is not stopping too.
			other := slices.ContainsFunc(ps.ISR, func(r int32) bool { return r != self && live[r] && !down[r] })
			switch {
			case ps.Leader == self && other:
				pending++
			case ps.Leader != self && ps.Leader >= 0 && live[ps.Leader] && !down[ps.Leader] && slices.Contains(ps.ISR, self):
				pending++
			case prev.Leader == self && ps.Leader != self:
				moved = append(moved, Moved{Topic: t.Name, Partition: int32(i), Leader: ps.Leader})
			case prev.Leader != self && slices.Contains(prev.ISR, self) && !slices.Contains(ps.ISR, self):
				moved = append(moved, Moved{Topic: t.Name, Partition: int32(i), Leader: -1})
			}
		}
	}
	return pending, moved
}
