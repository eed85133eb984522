// Package kerrmap is the one table from the inner layers' errors to the
// Kafka error codes clients get, and back for a remote broker's answer.
// The layers below the protocol edge (core/partition, core/meta,
// core/broker, core/pipeline) return typed errors whose kind
// (core/errkind) says what happened; this package answers each kind with
// the code a Kafka broker sends in the same situation. core/kafka (the
// wire server), the bridge and the coordinators that answer in Kafka
// codes themselves (core/group, core/txn) ask it. A *kerr.Error an error
// wraps passes through: a remote broker's answer relayed by an internal
// client (pipeline emits, transaction markers), or core/kafka's own.
//
// It imports only core/errkind, so any layer may use it without an import
// cycle; the inner layers must not name a Kafka code themselves (see
// layering_test.go).
package kerrmap

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/errkind"
)

// table is the code Kafka sends for each kind of error.
var table = [errkind.NumKinds]*kerr.Error{
	errkind.NotLeader:                kerr.NotLeaderForPartition,
	errkind.UnknownReplica:           kerr.UnknownTopicOrPartition,
	errkind.OffsetOutOfRange:         kerr.OffsetOutOfRange,
	errkind.Storage:                  kerr.KafkaStorageError,
	errkind.CorruptMessage:           kerr.CorruptMessage,
	errkind.InvalidRecord:            kerr.InvalidRecord,
	errkind.MessageTooLarge:          kerr.MessageTooLarge,
	errkind.LegacyMessageFormat:      kerr.UnsupportedForMessageFormat,
	errkind.OutOfOrderSequence:       kerr.OutOfOrderSequenceNumber,
	errkind.StaleProducerEpoch:       kerr.InvalidProducerEpoch,
	errkind.TxnOpen:                  kerr.InvalidTxnState,
	errkind.CoordinatorFenced:        kerr.TransactionCoordinatorFenced,
	errkind.InvalidProducerID:        kerr.InvalidProducerIDMapping,
	errkind.Timeout:                  kerr.RequestTimedOut,
	errkind.NotEnoughReplicas:        kerr.NotEnoughReplicas,
	errkind.CommittedUnderMinISR:     kerr.NotEnoughReplicasAfterAppend,
	errkind.UnknownTopic:             kerr.UnknownTopicOrPartition,
	errkind.TopicExists:              kerr.TopicAlreadyExists,
	errkind.InvalidTopicName:         kerr.InvalidTopicException,
	errkind.InvalidPartitions:        kerr.InvalidPartitions,
	errkind.InvalidReplicationFactor: kerr.InvalidReplicationFactor,
	errkind.InvalidConfig:            kerr.InvalidConfig,
	errkind.InvalidRequest:           kerr.InvalidRequest,
	errkind.ReassignmentInProgress:   kerr.ReassignmentInProgress,
	errkind.CoordinatorNotAvailable:  kerr.CoordinatorNotAvailable,
	errkind.LeaderNotAvailable:       kerr.LeaderNotAvailable,
	errkind.PolicyViolation:          kerr.PolicyViolation,
	errkind.Internal:                 kerr.UnknownServerError,
}

// ForKind is the Kafka error kind k is answered with (nil for Unknown).
func ForKind(k errkind.Kind) *kerr.Error {
	if k >= errkind.NumKinds {
		return nil
	}
	return table[k]
}

// Lookup finds err's Kafka error: its kind's, else a *kerr.Error it
// wraps. ok is false for nil and for errors with neither.
func Lookup(err error) (ke *kerr.Error, ok bool) {
	if err == nil {
		return nil, false
	}
	if ke := ForKind(errkind.Of(err)); ke != nil {
		return ke, true
	}
	if errors.As(err, &ke) {
		return ke, true
	}
	return nil, false
}

// Code is err's Kafka error code: 0 for nil, UNKNOWN_SERVER_ERROR for an
// error with no kind and no Kafka error inside.
func Code(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := Lookup(err); ok {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// Is reports whether err is, or maps to, the Kafka error ke: for callers
// that handle a local partition's errors and a remote broker's answers
// alike.
func Is(err error, ke *kerr.Error) bool {
	got, ok := Lookup(err)
	return ok && got == ke
}

// Retriable reports whether err maps to a Kafka error a client retries
// (a leader moved, a timeout): what an internal client resends.
func Retriable(err error) bool {
	ke, ok := Lookup(err)
	return ok && (ke.Retriable || ke == kerr.RequestTimedOut)
}

// FromCode is a remote broker's answer code as an error (nil for 0), for
// an internal client that relays it: Lookup passes it through unchanged.
func FromCode(code int16) error { return kerr.ErrorForCode(code) }

// Message is the client-facing ErrorMessage for err (nil for nil): a bare
// sentinel reads as its Kafka error does ("NAME: description", what
// clients got when the inner layers returned kerr values); an error with
// a Detail for the client (a *broker.Error) as the Kafka name and the
// detail; anything else as its own text.
func Message(err error) *string {
	if err == nil {
		return nil
	}
	var s string
	switch e := err.(type) {
	case *errkind.Error:
		if ke, ok := Lookup(e); ok {
			s = ke.Error()
			return &s
		}
	case interface{ Detail() string }:
		if ke, ok := Lookup(err); ok {
			s = ke.Message + ": " + e.Detail()
			return &s
		}
	}
	s = err.Error()
	return &s
}
