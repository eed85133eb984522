package broker

import (
	"fmt"

	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// The broker's errors. They say what happened, each with its kind
// (core/errkind); the protocol edge (core/kerrmap) turns the kind into
// the Kafka code. Callers match
// them with errors.Is; those with detail for the client come as *Error.
var (
	// ErrUnknownTopic: no such topic, or no such partition of it. It
	// wraps meta.ErrUnknownTopic.
	ErrUnknownTopic = errkind.Wrap(errkind.UnknownTopic, "broker: unknown topic or partition", meta.ErrUnknownTopic)
	// ErrNotHosted: another broker hosts the partition. It wraps
	// partition.ErrNotLeader: to a client it is the same, go and find the
	// leader.
	ErrNotHosted = errkind.Wrap(errkind.NotLeader, "broker: the partition has no replica here", partition.ErrNotLeader)
	// ErrReplicaOffline: the partition is assigned to this broker but its
	// replica failed to open (the next reconcile retries). It wraps
	// partition.ErrStorage.
	ErrReplicaOffline = errkind.Wrap(errkind.Storage, "broker: the partition's replica here failed to open", partition.ErrStorage)
	// ErrTopicExists: a topic of that name exists. It wraps
	// meta.ErrTopicExists.
	ErrTopicExists = errkind.Wrap(errkind.TopicExists, "broker", meta.ErrTopicExists)
	// ErrInvalidTopicName: the name breaks Kafka's naming rules.
	ErrInvalidTopicName = errkind.New(errkind.InvalidTopicName, "broker: invalid topic name")
	// ErrInvalidPartitions: a partition count that is not positive, not
	// larger than the topic's, or past max.partitions.
	ErrInvalidPartitions = errkind.New(errkind.InvalidPartitions, "broker: invalid number of partitions")
	// ErrInvalidReplicationFactor: more replicas than brokers, or none.
	ErrInvalidReplicationFactor = errkind.New(errkind.InvalidReplicationFactor, "broker: invalid replication factor")
	// ErrInvalidConfig: a config operation that does not apply (a
	// value's own problems are a *ConfigError).
	ErrInvalidConfig = errkind.New(errkind.InvalidConfig, "broker: invalid config operation")
	// ErrUnknownConfigOp: an IncrementalAlterConfigs operation code this
	// broker does not know.
	ErrUnknownConfigOp = errkind.New(errkind.InvalidRequest, "broker: unknown config operation")
	// ErrReassignmentInProgress: the topic is being moved to other
	// brokers.
	ErrReassignmentInProgress = errkind.New(errkind.ReassignmentInProgress, "broker: partition reassignment in progress")
	// ErrCoordinatorNotAvailable: the group coordinator's topic or broker
	// is not there (yet).
	ErrCoordinatorNotAvailable = errkind.New(errkind.CoordinatorNotAvailable, "broker: group coordinator not available")
	// ErrStorage: this broker's disk failed it (the metadata store's
	// files, the producer id block, a new topic's partitions).
	ErrStorage = errkind.New(errkind.Storage, "broker: storage failed")
)

// Error is one of the errors above with what exactly went wrong, for
// the client (the ErrorMessage field of newer responses) and the log.
type Error struct {
	Err error
	Msg string
}

func (e *Error) Error() string { return e.Err.Error() + ": " + e.Msg }

// Unwrap exposes the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.Err }

// Detail is what exactly went wrong, for the client's ErrorMessage after
// the Kafka error's name (core/kerrmap.Message).
func (e *Error) Detail() string { return e.Msg }

func errf(err error, format string, args ...any) error {
	return &Error{Err: err, Msg: fmt.Sprintf(format, args...)}
}
