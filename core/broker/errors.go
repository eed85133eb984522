package broker

import (
	"errors"
	"fmt"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// The broker's errors. They say what happened; the protocol edge
// (core/kafka's errcodes.go) turns them into Kafka codes. Callers match
// them with errors.Is; those with detail for the client come as *Error.
var (
	// ErrUnknownTopic: no such topic, or no such partition of it. It
	// wraps meta.ErrUnknownTopic.
	ErrUnknownTopic = fmt.Errorf("broker: unknown topic or partition: %w", meta.ErrUnknownTopic)
	// ErrNotHosted: another broker hosts the partition. It wraps
	// partition.ErrNotLeader: to a client it is the same, go and find the
	// leader.
	ErrNotHosted = fmt.Errorf("broker: the partition has no replica here: %w", partition.ErrNotLeader)
	// ErrReplicaOffline: the partition is assigned to this broker but its
	// replica failed to open (the next reconcile retries). It wraps
	// partition.ErrStorage.
	ErrReplicaOffline = fmt.Errorf("broker: the partition's replica here failed to open: %w", partition.ErrStorage)
	// ErrTopicExists: a topic of that name exists. It wraps
	// meta.ErrTopicExists.
	ErrTopicExists = fmt.Errorf("broker: %w", meta.ErrTopicExists)
	// ErrInvalidTopicName: the name breaks Kafka's naming rules.
	ErrInvalidTopicName = errors.New("broker: invalid topic name")
	// ErrInvalidPartitions: a partition count that is not positive, not
	// larger than the topic's, or past max.partitions.
	ErrInvalidPartitions = errors.New("broker: invalid number of partitions")
	// ErrInvalidReplicationFactor: more replicas than brokers, or none.
	ErrInvalidReplicationFactor = errors.New("broker: invalid replication factor")
	// ErrInvalidConfig: a config operation that does not apply (a
	// value's own problems are a *ConfigError).
	ErrInvalidConfig = errors.New("broker: invalid config operation")
	// ErrUnknownConfigOp: an IncrementalAlterConfigs operation code this
	// broker does not know.
	ErrUnknownConfigOp = errors.New("broker: unknown config operation")
	// ErrReassignmentInProgress: the topic is being moved to other
	// brokers.
	ErrReassignmentInProgress = errors.New("broker: partition reassignment in progress")
	// ErrCoordinatorNotAvailable: the group coordinator's topic or broker
	// is not there (yet).
	ErrCoordinatorNotAvailable = errors.New("broker: group coordinator not available")
	// ErrStorage: this broker's disk failed it (the metadata store's
	// files, the producer id block, a new topic's partitions).
	ErrStorage = errors.New("broker: storage failed")
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

func errf(err error, format string, args ...any) error {
	return &Error{Err: err, Msg: fmt.Sprintf(format, args...)}
}
