package broker

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/partition"
)

// offsetsTopicConfigs are Kafka's settings for __consumer_offsets: compacted,
// with 100 MiB segments so the cleaner has closed segments to work on.
func offsetsTopicConfigs() map[string]string {
	return map[string]string{"cleanup.policy": "compact", "segment.bytes": "104857600"}
}

// offsetsReplication is offsets.topic.replication.factor, bounded by the
// brokers alive when the topic is created.
const offsetsReplication = 3

// openGroups starts the group coordinator on __consumer_offsets. A single
// node creates the topic now and loads every partition; a cluster member
// creates it on the first FindCoordinator (when brokers have joined) and
// coordinates the partitions it leads (GroupLeadership).
func (b *Broker) openGroups() error {
	n := b.cfg.OffsetsTopicPartitions
	t, ok := b.Topic(group.OffsetsTopic)
	if !ok && b.local != nil {
		if err := b.createOffsetsTopic(); err != nil {
			return err
		}
		t, ok = b.Topic(group.OffsetsTopic)
	}
	if ok {
		n = int32(len(t.Partitions))
	}
	store := group.NewStore(n, func(i int32) (*partition.Partition, error) {
		return b.Partition(group.OffsetsTopic, i)
	})
	c, err := group.New(group.Config{
		MinSessionTimeout:     b.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     b.cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay: b.cfg.GroupInitialRebalanceDelay,
		OnDemand:              b.local == nil,
		Logger:                b.logger.With("component", "groups"),

		OffsetsRetention:              b.cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: b.cfg.OffsetsRetentionCheckInterval,

		Topics:                    b.groupTopics,
		ConsumerSessionTimeout:    b.cfg.GroupConsumerSessionTimeout,
		ConsumerHeartbeatInterval: b.cfg.GroupConsumerHeartbeatInterval,
		MaxSize:                   b.cfg.GroupMaxSize,
		PartitionRacks:            b.partitionRacks,
		MigrationPolicy:           b.cfg.GroupConsumerMigrationPolicy,
	}, store)
	if err != nil {
		return err
	}
	b.groups = c
	if b.local == nil {
		for _, p := range b.partitions() {
			if leader, _, _, _ := p.Role(); leader && p.Topic == group.OffsetsTopic {
				b.GroupLeadership(p, true)
			}
		}
	}
	return nil
}

func (b *Broker) createOffsetsTopic() error {
	rf := int16(min(offsetsReplication, len(b.store.Brokers())))
	_, err := b.CreateTopic(TopicSpec{Name: group.OffsetsTopic, Partitions: b.cfg.OffsetsTopicPartitions, ReplicationFactor: rf, Configs: offsetsTopicConfigs()}, false)
	if err != nil && !errors.Is(err, ErrTopicExists) {
		return fmt.Errorf("broker: create %s: %w", group.OffsetsTopic, err)
	}
	return nil
}

// GroupLeadership tells the coordinator that this broker gained or lost
// the leadership of a __consumer_offsets partition (cluster mode).
func (b *Broker) GroupLeadership(p *partition.Partition, leader bool) {
	if b.groups == nil || p.Topic != group.OffsetsTopic {
		return
	}
	if !leader {
		b.groups.UnloadPartition(p.Index)
		return
	}
	if err := b.groups.LoadPartition(p); err != nil {
		b.logger.Error("loading groups", "partition", p.Index, "err", err)
	}
}

// groupTopics lists the topics for consumer (KIP-848) groups' target
// assignments.
func (b *Broker) groupTopics() []group.TopicMeta {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]group.TopicMeta, 0, len(b.topics))
	for name, ts := range b.topics {
		out = append(out, group.TopicMeta{Name: name, ID: ts.meta.ID, Partitions: int32(len(ts.meta.Partitions))})
	}
	return out
}

// partitionRacks lists the racks of topic's partitions' replicas (sorted,
// by partition) for rack-aware consumer group assignments; nil when no
// broker has a rack or the topic is unknown.
func (b *Broker) partitionRacks(topic string) [][]string {
	racks := map[int32]string{}
	for _, br := range b.store.Brokers() {
		if br.Rack != nil && *br.Rack != "" {
			racks[br.ID] = *br.Rack
		}
	}
	if len(racks) == 0 {
		return nil
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	ts, ok := b.topics[topic]
	if !ok {
		return nil
	}
	out := make([][]string, len(ts.meta.Partitions))
	for i, p := range ts.meta.Partitions {
		var rs []string
		for _, id := range p.Replicas {
			if r, ok := racks[id]; ok && !slices.Contains(rs, r) {
				rs = append(rs, r)
			}
		}
		sort.Strings(rs)
		out[i] = rs
	}
	return out
}

// Groups is the group coordinator.
func (b *Broker) Groups() *group.Coordinator { return b.groups }

// CoordinatorFor returns the broker coordinating a group: the leader of
// its __consumer_offsets partition.
func (b *Broker) CoordinatorFor(groupID string) (id int32, host string, port int32, err error) {
	t, ok := b.Topic(group.OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		if err := b.createOffsetsTopic(); err != nil {
			return -1, "", -1, &Error{Err: ErrCoordinatorNotAvailable, Msg: err.Error()}
		}
		return -1, "", -1, ErrCoordinatorNotAvailable
	}
	leader := t.Partitions[group.PartitionFor(groupID, int32(len(t.Partitions)))].Leader
	for _, br := range b.store.Brokers() {
		if br.ID == leader {
			return br.ID, br.Host, br.Port, nil
		}
	}
	return -1, "", -1, &Error{Err: ErrCoordinatorNotAvailable, Msg: "coordinator broker " + strconv.Itoa(int(leader)) + " is not available"}
}
