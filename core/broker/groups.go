package broker

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/group"
	"github.com/sluicemq/sluice/core/partition"
)

// offsetsTopicConfigs are Kafka's settings for __consumer_offsets: compacted,
// with 100 MiB segments so the cleaner has closed segments to work on.
var offsetsTopicConfigs = map[string]string{
	"cleanup.policy": "compact",
	"segment.bytes":  "104857600",
}

// openGroups makes sure __consumer_offsets exists and starts the group
// coordinator on it (loading committed offsets and groups).
func (b *Broker) openGroups() error {
	t, ok := b.Topic(group.OffsetsTopic)
	if !ok {
		cfgs := make(map[string]string, len(offsetsTopicConfigs))
		for k, v := range offsetsTopicConfigs {
			cfgs[k] = v
		}
		var err error
		t, err = b.CreateTopic(TopicSpec{Name: group.OffsetsTopic, Partitions: b.cfg.OffsetsTopicPartitions, ReplicationFactor: 1, Configs: cfgs}, false)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("broker: create %s: %w", group.OffsetsTopic, err)
		}
		t, _ = b.Topic(group.OffsetsTopic)
	}
	n := int32(len(t.Partitions))
	store := group.NewStore(n, func(i int32) (*partition.Partition, error) {
		return b.Partition(group.OffsetsTopic, i)
	})
	c, err := group.New(group.Config{
		MinSessionTimeout:     b.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:     b.cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay: b.cfg.GroupInitialRebalanceDelay,
		Logger:                b.logger.With("component", "groups"),
	}, store)
	if err != nil {
		return err
	}
	b.groups = c
	return nil
}

// Groups is the group coordinator.
func (b *Broker) Groups() *group.Coordinator { return b.groups }

// CoordinatorFor returns the broker coordinating a group: the leader of
// its __consumer_offsets partition.
func (b *Broker) CoordinatorFor(groupID string) (id int32, host string, port int32, err error) {
	t, ok := b.Topic(group.OffsetsTopic)
	if !ok || len(t.Partitions) == 0 {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	leader := t.Partitions[group.PartitionFor(groupID, int32(len(t.Partitions)))].Leader
	for _, br := range b.store.Brokers() {
		if br.ID == leader {
			return br.ID, br.Host, br.Port, nil
		}
	}
	return -1, "", -1, &Error{Code: kerr.CoordinatorNotAvailable, Msg: "coordinator broker " + strconv.Itoa(int(leader)) + " is not available"}
}
