// Package cluster is Sluice's multi-broker mode: a controller elected
// through the metadata store (ZooKeeper) that picks partition leaders from
// the ISR when brokers come and go, and a replica manager on every broker
// that makes its partitions leaders or followers, runs the followers'
// fetchers (Fetch with a replica id, as Kafka followers do), truncates
// diverged logs using leader epochs, and keeps the ISR in the store.
package cluster

import (
	"context"
	"errors"

	"github.com/sluicemq/sluice/core/meta"
)

// Store is what cluster mode needs from the metadata store beyond
// meta.Store; meta.ZK implements it.
type Store interface {
	meta.Store
	// Campaign blocks until this broker is the controller (or ctx ends)
	// and returns the new controller epoch.
	Campaign(ctx context.Context) (epoch int32, err error)
	// PartitionStateVersion reads one partition's state and its version
	// for a compare-and-set.
	PartitionStateVersion(topic string, partition int32) (meta.PartitionState, int32, error)
	// SetPartitionState writes a partition's state if its version is
	// still expectedVersion (ErrBadVersion otherwise).
	SetPartitionState(topic string, partition int32, st meta.PartitionState, controllerEpoch, expectedVersion int32) (int32, error)
}

// errLostRace: another writer changed the state first; retry later.
var errLostRace = errors.New("cluster: partition state changed concurrently")
