package meta

import (
	"errors"
	"fmt"
	"maps"

	"github.com/go-zookeeper/zk"
)

// Broker epochs (Kafka's KIP-380). A broker's epoch is the czxid of its
// ephemeral /brokers/ids/<id>: every registration (a restart, or a new
// session after expiry) gets a larger one. A partition state written
// before a broker's current registration (state mzxid < broker epoch) can
// only name an earlier incarnation of that broker as leader or ISR
// member: the controller treats that incarnation as dead at once instead
// of waiting for the new process to be noticed some other way. Comparing
// zxids needs no memory of earlier registrations, so a controller elected
// after the restart sees it too.

// EpochStore is what broker-epoch checks need from a clustered store.
type EpochStore interface {
	// BrokerEpochs maps each registered broker to its epoch.
	BrokerEpochs() map[int32]int64
	// PartitionStateZxids are the zxids of the last change of each
	// partition state of topic, from the cache (0: not loaded).
	PartitionStateZxids(topic string) []int64
	// PartitionStateZxid reads one partition state straight from the
	// store with its version and last change's zxid.
	PartitionStateZxid(topic string, p int32) (PartitionState, int32, int64, error)
}

var _ EpochStore = (*ZK)(nil)

// BrokerEpochs implements EpochStore.
func (z *ZK) BrokerEpochs() map[int32]int64 {
	z.mu.RLock()
	defer z.mu.RUnlock()
	return maps.Clone(z.brokerEpoch)
}

// PartitionStateZxids implements EpochStore.
func (z *ZK) PartitionStateZxids(topic string) []int64 {
	z.mu.RLock()
	defer z.mu.RUnlock()
	e, ok := z.topics[topic]
	if !ok {
		return nil
	}
	out := make([]int64, len(e.states))
	for i, s := range e.states {
		if s.loaded {
			out[i] = s.mzxid
		}
	}
	return out
}

// PartitionStateZxid implements EpochStore.
func (z *ZK) PartitionStateZxid(topic string, p int32) (PartitionState, int32, int64, error) {
	replicas, err := z.cachedReplicas(topic, p)
	if err != nil {
		return PartitionState{}, 0, 0, err
	}
	path := z.abs(zkPartitionStatePath(topic, p))
	data, stat, err := z.conn.Get(path)
	if errors.Is(err, zk.ErrNoNode) {
		return PartitionState{}, 0, 0, fmt.Errorf("%w: %s-%d has no state", ErrUnknownPartition, topic, p)
	}
	if err != nil {
		return PartitionState{}, 0, 0, fmt.Errorf("meta: read %s: %w", path, err)
	}
	st, err := decodePartitionState(data)
	if err != nil {
		return PartitionState{}, 0, 0, err
	}
	return PartitionState{Replicas: replicas, ISR: st.ISR, Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, Version: stat.Version}, stat.Version, stat.Mzxid, nil
}
