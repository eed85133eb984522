package node

import (
	"context"
	"log/slog"

	"github.com/sluicemq/sluice/core/cluster"
	"github.com/sluicemq/sluice/core/meta"
)

// controlledShutdown runs before a cluster member closes (SIGTERM): the
// controller moves every leadership of this broker to another in-sync
// replica and takes it out of every ISR, so clients see one NOT_LEADER
// and acks=all never waits for a replica that is gone. When this broker
// is the controller, its own controller (still running) does the moves
// before the closing session resigns it. Bounded by
// cfg.ControlledShutdownTimeout; a timeout only makes the stop less
// smooth.
func controlledShutdown(store meta.Store, cfg Config, logger *slog.Logger) {
	if cfg.ControlledShutdownTimeout < 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ControlledShutdownTimeout)
	defer cancel()
	moved, err := cluster.ControlledShutdown(ctx, store, cfg.BrokerID, logger)
	for _, m := range moved {
		if m.Leader >= 0 {
			logger.Info("controlled shutdown: leadership moved", "topic", m.Topic, "partition", m.Partition, "leader", m.Leader)
		} else {
			logger.Info("controlled shutdown: left the ISR", "topic", m.Topic, "partition", m.Partition)
		}
	}
	if err != nil {
		logger.Warn("controlled shutdown incomplete", "err", err, "moved", len(moved))
	}
}
