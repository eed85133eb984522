package cluster

import (
	"sync/atomic"

	"github.com/sluicemq/sluice/core/meta"
)

// Leader elections made by this process's controller, read by the metrics
// collector (node/metrics) at scrape time; core stays free of any metrics
// library. Kafka: kafka.controller:type=ControllerStats,
// name=LeaderElectionRateAndTimeMs (all) and UncleanLeaderElectionsPerSec.
var elections struct {
	clean, unclean, preferred atomic.Uint64
}

// countElection counts a stored state change that gave the partition a
// new leader (a partition going offline elects no one).
func countElection(cur, next meta.PartitionState, why string) {
	if next.Leader < 0 || next.Leader == cur.Leader && next.LeaderEpoch == cur.LeaderEpoch {
		return
	}
	switch why {
	case "unclean leader election":
		elections.unclean.Add(1)
	case "preferred leader election":
		elections.preferred.Add(1)
	default:
		elections.clean.Add(1)
	}
}

// LeaderElections returns the leader elections this process's controller
// made, by kind: a new leader from the ISR after the leader was lost
// (clean), one from outside the ISR (unclean), and moves back to the
// preferred replica.
func LeaderElections() (clean, unclean, preferred uint64) {
	return elections.clean.Load(), elections.unclean.Load(), elections.preferred.Load()
}
