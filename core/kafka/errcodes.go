package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/kerrmap"
)

// brokerCodes maps core/broker's errors to the code Kafka sends for them.
// core/kerrmap maps the layers below (partition, meta), whose errors
// several broker errors wrap; it cannot hold these, as the coordinators
// that share it sit below the broker.
var brokerCodes = []kerrmap.Entry{
	{Err: broker.ErrUnknownTopic, Kafka: kerr.UnknownTopicOrPartition},
	{Err: broker.ErrNotHosted, Kafka: kerr.NotLeaderForPartition},
	{Err: broker.ErrReplicaOffline, Kafka: kerr.KafkaStorageError},
	{Err: broker.ErrTopicExists, Kafka: kerr.TopicAlreadyExists},
	{Err: broker.ErrInvalidTopicName, Kafka: kerr.InvalidTopicException},
	{Err: broker.ErrInvalidPartitions, Kafka: kerr.InvalidPartitions},
	{Err: broker.ErrInvalidReplicationFactor, Kafka: kerr.InvalidReplicationFactor},
	{Err: broker.ErrInvalidConfig, Kafka: kerr.InvalidConfig},
	{Err: broker.ErrUnknownConfigOp, Kafka: kerr.InvalidRequest},
	{Err: broker.ErrReassignmentInProgress, Kafka: kerr.ReassignmentInProgress},
	{Err: broker.ErrCoordinatorNotAvailable, Kafka: kerr.CoordinatorNotAvailable},
	{Err: broker.ErrStorage, Kafka: kerr.KafkaStorageError},
}

// lookupError is err's Kafka error: the broker's, then the inner layers'
// (kerrmap), then a *kerr.Error err wraps (this package's own, a remote
// broker's answer).
func lookupError(err error) (*kerr.Error, bool) {
	var ce *broker.ConfigError
	if errors.As(err, &ce) {
		return kerr.InvalidConfig, true
	}
	return kerrmap.LookupIn(brokerCodes, err)
}

// errorCode is the Kafka error code a response carries for err: 0 for
// nil, UNKNOWN_SERVER_ERROR for an error no table knows.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := lookupError(err); ok {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the ErrorMessage a response carries for err (nil for
// nil): a broker error's detail after its Kafka name, as in "INVALID_TOPIC_EXCEPTION:
// topic name is empty".
func errorMessage(err error) *string {
	var be *broker.Error
	if errors.As(err, &be) && err == error(be) {
		if ke, ok := lookupError(be.Err); ok {
			s := ke.Message + ": " + be.Msg
			return &s
		}
	}
	return kerrmap.MessageIn(brokerCodes, err)
}

// kafkaError is an error this package answers with a given code and a
// message for the client.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.code.Message + ": " + e.msg }

// Unwrap exposes the code, for lookupError.
func (e *kafkaError) Unwrap() error { return e.code }
