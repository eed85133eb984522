package meta

import (
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
)

// PartitionStateVersion reads a partition's state straight from ZooKeeper
// (not the cache) with its znode version, the token SetPartitionState
// compares against. Replicas come from the cached assignment.
func (z *ZK) PartitionStateVersion(topic string, p int32) (PartitionState, int32, error) {
	replicas, err := z.cachedReplicas(topic, p)
	if err != nil {
		return PartitionState{}, 0, err
	}
	path := z.abs(zkPartitionStatePath(topic, p))
	data, stat, err := z.conn.Get(path)
	if errors.Is(err, zk.ErrNoNode) {
		return PartitionState{}, 0, fmt.Errorf("%w: %s-%d has no state", ErrUnknownPartition, topic, p)
	}
	if err != nil {
		return PartitionState{}, 0, fmt.Errorf("meta: read %s: %w", path, err)
	}
	st, err := decodePartitionState(data)
	if err != nil {
		return PartitionState{}, 0, err
	}
	return PartitionState{Replicas: replicas, ISR: st.ISR, Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, Version: stat.Version}, stat.Version, nil
}

// SetPartitionState writes a partition's leader, leader epoch and ISR
// (st.Replicas is ignored: the assignment is not part of the state) if the
// state node still has expectedVersion, and returns the new version. A lost
// race fails with a *VersionConflictError (errors.Is ErrBadVersion and
// zk.ErrBadVersion): re-read with PartitionStateVersion and decide again.
// That is what keeps a leader's ISR change and a controller's leader
// election from overwriting each other.
//
// controllerEpoch is recorded in the state, as Kafka does. When this broker
// is the controller and controllerEpoch is its term's epoch, the write is
// also fenced on /controller_epoch: if another controller has been elected
// since, it fails with ErrNotController and writes nothing.
//
// On success the cache shows the new state before SetPartitionState returns.
func (z *ZK) SetPartitionState(topic string, p int32, st PartitionState, controllerEpoch, expectedVersion int32) (int32, error) {
	replicas, err := z.cachedReplicas(topic, p)
	if err != nil {
		return 0, err
	}
	if err := validateState(st, replicas); err != nil {
		return 0, err
	}
	path := z.abs(zkPartitionStatePath(topic, p))
	data := encodePartitionState(st, controllerEpoch)
	var newVersion int32
	var mzxid int64
	if t := z.fencingTerm(controllerEpoch); t != nil {
		res, err := z.conn.Multi(
			&zk.CheckVersionRequest{Path: z.abs(zkControllerEpochPath), Version: t.epochVersion},
			&zk.SetDataRequest{Path: path, Data: data, Version: expectedVersion},
		)
		if err != nil {
			idx, ferr := firstMultiError(res, err)
			if idx == 0 && errors.Is(ferr, zk.ErrBadVersion) {
				z.endTermIf(t, "a newer controller epoch was written")
				return 0, fmt.Errorf("%w: controller epoch %d is stale", ErrNotController, controllerEpoch)
			}
			return 0, z.stateWriteError(path, expectedVersion, ferr)
		}
		newVersion, mzxid = res[1].Stat.Version, res[1].Stat.Mzxid
	} else {
		stat, err := z.conn.Set(path, data, expectedVersion)
		if err != nil {
			return 0, z.stateWriteError(path, expectedVersion, err)
		}
		newVersion, mzxid = stat.Version, stat.Mzxid
	}
	z.awaitCache("partition state", func() bool {
		e, ok := z.topics[topic]
		return !ok || int(p) >= len(e.states) || e.states[p].mzxid >= mzxid
	})
	return newVersion, nil
}

func (z *ZK) stateWriteError(path string, expectedVersion int32, err error) error {
	switch {
	case errors.Is(err, zk.ErrBadVersion):
		return &VersionConflictError{Path: path, ExpectedVersion: expectedVersion}
	case errors.Is(err, zk.ErrNoNode):
		return fmt.Errorf("%w: %s", ErrUnknownPartition, path)
	default:
		return fmt.Errorf("meta: write %s: %w", path, err)
	}
}

// cachedReplicas returns a partition's assigned replicas from the cache.
func (z *ZK) cachedReplicas(topic string, p int32) ([]int32, error) {
	z.mu.RLock()
	defer z.mu.RUnlock()
	e, ok := z.topics[topic]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if p < 0 || int(p) >= len(e.replicas) {
		return nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, topic, p)
	}
	return append([]int32(nil), e.replicas[p]...), nil
}

// validateState rejects states no correct writer produces: a leader or ISR
// member outside the assignment, a leader missing from the ISR, duplicates.
func validateState(st PartitionState, replicas []int32) error {
	if st.Leader != -1 && !slices.Contains(replicas, st.Leader) {
		return fmt.Errorf("%w: leader %d is not a replica %v", ErrInvalid, st.Leader, replicas)
	}
	if st.Leader != -1 && !slices.Contains(st.ISR, st.Leader) {
		return fmt.Errorf("%w: leader %d is not in the ISR %v", ErrInvalid, st.Leader, st.ISR)
	}
	seen := make(map[int32]bool, len(st.ISR))
	for _, r := range st.ISR {
		if !slices.Contains(replicas, r) || seen[r] {
			return fmt.Errorf("%w: ISR %v must be distinct replicas of %v", ErrInvalid, st.ISR, replicas)
		}
		seen[r] = true
	}
	if st.LeaderEpoch < 0 {
		return fmt.Errorf("%w: negative leader epoch %d", ErrInvalid, st.LeaderEpoch)
	}
	return nil
}
