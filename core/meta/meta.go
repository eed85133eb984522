// Package meta is Sluice's cluster metadata: which topics exist, their
// partitions, replica assignments, leaders, ISRs and dynamic configs, and
// which brokers are alive. It sits behind the Store interface so that the
// embedded single-node default (Local, a file in the data dir) and a
// ZooKeeper-backed cluster store are interchangeable for the broker.
package meta

import (
	"errors"
	"fmt"

	"github.com/sluicemq/sluice/core/errkind"
)

// Sentinel errors returned by stores. The two with a kind (core/errkind)
// reach clients; the edge answers them by kind.
var (
	ErrTopicExists  = errkind.New(errkind.TopicExists, "meta: topic already exists")
	ErrUnknownTopic = errkind.New(errkind.UnknownTopic, "meta: unknown topic")
	ErrInvalid      = errors.New("meta: invalid request")
)

// Broker is one registered broker.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack *string
}

// Addr is host:port.
func (b Broker) Addr() string { return fmt.Sprintf("%s:%d", b.Host, b.Port) }

// PartitionState is a partition's replication state.
type PartitionState struct {
	Replicas    []int32 // assignment, preferred leader first
	ISR         []int32
	Leader      int32 // -1 when offline
	LeaderEpoch int32
	// Version orders states of one partition (the ZooKeeper node's
	// version; 0 in stores without one): a replica never applies a state
	// older than one it has applied.
	Version int32
}

// Topic is a topic's metadata.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []PartitionState
	// Configs holds dynamic (per-topic) overrides only; defaults come from
	// the broker's configuration.
	Configs map[string]string
}

// Clone deep-copies t so callers can't mutate the store's state.
func (t Topic) Clone() Topic {
	c := t
	c.Partitions = make([]PartitionState, len(t.Partitions))
	for i, p := range t.Partitions {
		c.Partitions[i] = PartitionState{
			Replicas:    append([]int32(nil), p.Replicas...),
			ISR:         append([]int32(nil), p.ISR...),
			Leader:      p.Leader,
			LeaderEpoch: p.LeaderEpoch,
			Version:     p.Version,
		}
	}
	c.Configs = make(map[string]string, len(t.Configs))
	for k, v := range t.Configs {
		c.Configs[k] = v
	}
	return c
}

// ConfigEdit computes new configs from a copy of the current ones (a
// store may call it more than once).
type ConfigEdit func(cur map[string]string) (map[string]string, error)

// Store is the cluster metadata the broker reads and changes. Every method
// is safe for concurrent use. Changes made through a store (by this broker
// or, for clustered stores, by others) are announced on Changes.
type Store interface {
	ClusterID() string
	ControllerID() int32
	Brokers() []Broker
	Topics() []Topic
	Topic(name string) (Topic, bool)

	// CreateTopic creates t; the store fills t.ID when zero.
	CreateTopic(t Topic) (Topic, error)
	DeleteTopic(name string) error
	// AddPartitions appends partitions to a topic.
	AddPartitions(name string, parts []PartitionState) (Topic, error)
	// SetTopicConfigs replaces the topic's dynamic configs.
	SetTopicConfigs(name string, configs map[string]string) (Topic, error)
	// UpdateTopicConfigs is a read-modify-write of the topic's dynamic
	// configs: edit gets a copy of the stored ones and returns the new
	// set, and the store writes it only if nothing changed them meanwhile,
	// calling edit again on the newer configs otherwise. So concurrent
	// incremental alters through different brokers all land. An error from
	// edit is returned as is and nothing is written.
	UpdateTopicConfigs(name string, edit ConfigEdit) (Topic, error)

	// Changes is closed and replaced whenever metadata changes: wait on the
	// returned channel, then re-read.
	Changes() <-chan struct{}
	Close() error
}
