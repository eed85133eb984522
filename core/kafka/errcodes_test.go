package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/partition"
)

// Every error core/broker returns is answered with the code Kafka sends
// in the same situation (core/kerrmap's own test covers the partition's).
func TestBrokerErrorsMapToKafkasCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want *kerr.Error
	}{
		{"ErrUnknownTopic", broker.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
		{"ErrNotHosted", broker.ErrNotHosted, kerr.NotLeaderForPartition},
		{"ErrReplicaOffline", broker.ErrReplicaOffline, kerr.KafkaStorageError},
		{"ErrTopicExists", broker.ErrTopicExists, kerr.TopicAlreadyExists},
		{"ErrInvalidTopicName", broker.ErrInvalidTopicName, kerr.InvalidTopicException},
		{"ErrInvalidPartitions", broker.ErrInvalidPartitions, kerr.InvalidPartitions},
		{"ErrInvalidReplicationFactor", broker.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
		{"ErrInvalidConfig", broker.ErrInvalidConfig, kerr.InvalidConfig},
		{"ConfigError", &broker.ConfigError{Name: "segment.ms", Value: "x", Reason: "not a number"}, kerr.InvalidConfig},
		{"ErrUnknownConfigOp", broker.ErrUnknownConfigOp, kerr.InvalidRequest},
		{"ErrReassignmentInProgress", broker.ErrReassignmentInProgress, kerr.ReassignmentInProgress},
		{"ErrCoordinatorNotAvailable", broker.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
		{"ErrStorage", broker.ErrStorage, kerr.KafkaStorageError},
		// The partition's errors reach the edge through the broker too.
		{"partition.ErrNotLeader", partition.ErrNotLeader, kerr.NotLeaderForPartition},
		{"partition.ErrOffsetOutOfRange", fmt.Errorf("read: %w", partition.ErrOffsetOutOfRange), kerr.OffsetOutOfRange},
		// This package's own coded errors.
		{"kafkaError", &kafkaError{code: kerr.PolicyViolation, msg: "no"}, kerr.PolicyViolation},
		{"unknown", errors.New("something else"), kerr.UnknownServerError},
	} {
		if got := errorCode(tc.err); got != tc.want.Code {
			t.Errorf("%s: code %d (%v), want %d (%s)", tc.name, got, kerr.ErrorForCode(got), tc.want.Code, tc.want.Message)
		}
	}
	if errorCode(nil) != 0 || errorMessage(nil) != nil {
		t.Fatal("nil must answer no error")
	}
}

// Client messages read as they did when the broker returned kerr values:
// a bare error as Kafka's name and description, a detailed one as the
// name and the detail.
func TestBrokerErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{broker.ErrUnknownTopic, kerr.UnknownTopicOrPartition.Error()},
		{broker.ErrNotHosted, kerr.NotLeaderForPartition.Error()},
		{partition.ErrNotLeader, kerr.NotLeaderForPartition.Error()},
		{&broker.Error{Err: broker.ErrInvalidTopicName, Msg: "topic name is empty"}, "INVALID_TOPIC_EXCEPTION: topic name is empty"},
		{&broker.Error{Err: broker.ErrTopicExists, Msg: `topic "t" already exists`}, `TOPIC_ALREADY_EXISTS: topic "t" already exists`},
		{&kafkaError{code: kerr.InvalidRequest, msg: "unsupported resource type"}, "INVALID_REQUEST: unsupported resource type"},
		{&broker.ConfigError{Name: "segment.ms", Value: "x", Reason: "not a number"}, `invalid value "x" for configuration segment.ms: not a number`},
	} {
		if got := errorMessage(tc.err); got == nil || *got != tc.want {
			t.Errorf("%v: message %v, want %q", tc.err, got, tc.want)
		}
	}
}
