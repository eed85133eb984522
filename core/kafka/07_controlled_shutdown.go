package kafka

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

// ControlledShutdown: versions 0–3, for Kafka tooling and parity. Sluice's
// own brokers ask over ZooKeeper (cluster.ControlledShutdown); this is the
// same request made through the controller, which records it for the
// broker's epoch (meta.ShutdownRequester), lets its running controller move
// leadership off that broker and answers with the partitions (of more
// than one replica) the broker still leads, as Kafka's controller does; a
// stopping Kafka-style client retries until none remain. Sent to any other
// broker it is NOT_CONTROLLER. CLUSTER_ACTION on CLUSTER: brokers only.
func init() { register(7, 0, 3, (*conn).handleControlledShutdown) }

// controlledShutdownWait bounds how long the controller waits for the
// moves before answering with what remains.
const controlledShutdownWait = 10 * time.Second

func (c *conn) handleControlledShutdown(h *header, req *kmsg.ControlledShutdownRequest) *reply {
	resp := req.ResponseKind().(*kmsg.ControlledShutdownResponse)
	store := c.s.b.Store()
	switch {
	case !c.mayCluster(auth.OpClusterAction):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return c.ready(h, resp)
	case store.ControllerID() != c.s.b.ID():
		resp.ErrorCode = kerr.NotController.Code
		return c.ready(h, resp)
	}
	if !slices.ContainsFunc(store.Brokers(), func(b meta.Broker) bool { return b.ID == req.BrokerID }) {
		resp.ErrorCode = kerr.BrokerNotAvailable.Code
		return c.ready(h, resp)
	}
	if es, ok := store.(meta.EpochStore); ok && req.Version >= 2 && req.BrokerEpoch >= 0 {
		if epoch := es.BrokerEpochs()[req.BrokerID]; req.BrokerEpoch < epoch {
			resp.ErrorCode = kerr.StaleBrokerEpoch.Code
			return c.ready(h, resp)
		}
	}
	sr, ok := store.(meta.ShutdownRequester)
	ss, ok2 := store.(meta.ShutdownStore)
	es, ok3 := store.(meta.EpochStore)
	if ok && ok2 && ok3 {
		if err := sr.RequestControlledShutdownOf(req.BrokerID, es.BrokerEpochs()[req.BrokerID]); err != nil {
			c.s.logger.Warn("controlled shutdown request failed", "broker", req.BrokerID, "err", err)
			resp.ErrorCode = kerr.UnknownServerError.Code
			return c.ready(h, resp)
		}
		ctx, cancel := context.WithTimeout(c.ctx, controlledShutdownWait)
		defer cancel()
		awaitLeadershipMoved(ctx, store, ss, req.BrokerID)
	}
	// A store without controlled shutdown (single node) has nobody to
	// hand over to: everything the broker leads remains.
	for _, t := range store.Topics() {
		for i, ps := range t.Partitions {
			if ps.Leader == req.BrokerID && len(ps.Replicas) > 1 {
				rp := kmsg.NewControlledShutdownResponsePartitionsRemaining()
				rp.Topic, rp.Partition = t.Name, int32(i)
				resp.PartitionsRemaining = append(resp.PartitionsRemaining, rp)
			}
		}
	}
	c.s.logger.Info("controlled shutdown requested", "broker", req.BrokerID, "remaining", len(resp.PartitionsRemaining))
	return c.ready(h, resp)
}

// awaitLeadershipMoved waits until no partition id leads has another live
// in-sync replica that is not stopping too (what the controller can
// move), or ctx ends.
func awaitLeadershipMoved(ctx context.Context, store meta.Store, ss meta.ShutdownStore, id int32) {
	for {
		changes := store.Changes()
		live := map[int32]bool{}
		for _, b := range store.Brokers() {
			live[b.ID] = true
		}
		down := ss.ShuttingDown()
		pending := false
		for _, t := range store.Topics() {
			for _, ps := range t.Partitions {
				if ps.Leader == id && slices.ContainsFunc(ps.ISR, func(r int32) bool { return r != id && live[r] && !down[r] }) {
					pending = true
				}
			}
		}
		if !pending {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-time.After(200 * time.Millisecond):
		}
	}
}
