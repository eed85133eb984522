// Package kerrmap is the protocol edge's mapping from the typed errors of
// the layers below it (core/partition, core/meta) to the Kafka error codes
// clients get. Those layers know nothing of Kafka codes; core/kafka (the
// wire server) and the coordinators that answer in Kafka codes themselves
// (core/group, core/txn) ask this package. It also passes through a
// *kerr.Error that an error wraps: a remote broker's answer relayed by an
// internal client (pipeline emits, transaction markers).
package kerrmap

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/partition"
)

// Entry maps one typed error (matched with errors.Is) to its Kafka error.
type Entry struct {
	Err   error
	Kafka *kerr.Error
}

// Table is the mapping, in match order: the code Kafka would send for
// each error.
var Table = []Entry{
	{partition.ErrNotLeader, kerr.NotLeaderForPartition},
	{partition.ErrUnknownReplica, kerr.UnknownTopicOrPartition},
	{partition.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{partition.ErrStorage, kerr.KafkaStorageError},
	{partition.ErrCorruptMessage, kerr.CorruptMessage},
	{partition.ErrInvalidRecord, kerr.InvalidRecord},
	{partition.ErrMessageTooLarge, kerr.MessageTooLarge},
	{partition.ErrLegacyMessageFormat, kerr.UnsupportedForMessageFormat},
	{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{partition.ErrStaleProducerEpoch, kerr.InvalidProducerEpoch},
	{partition.ErrTxnOpen, kerr.InvalidTxnState},
	{partition.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{partition.ErrNoProducerID, kerr.InvalidProducerIDMapping},
	{partition.ErrCommitTimeout, kerr.RequestTimedOut},
	{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{partition.ErrCommittedUnderMinISR, kerr.NotEnoughReplicasAfterAppend},
	{meta.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{meta.ErrTopicExists, kerr.TopicAlreadyExists},
}

// LookupIn finds err's Kafka error in table, then in Table, then as a
// *kerr.Error err wraps. ok is false for nil and for errors none of
// these know.
func LookupIn(table []Entry, err error) (ke *kerr.Error, ok bool) {
	if err == nil {
		return nil, false
	}
	for _, t := range [][]Entry{table, Table} {
		for _, e := range t {
			if errors.Is(err, e.Err) {
				return e.Kafka, true
			}
		}
	}
	if errors.As(err, &ke) {
		return ke, true
	}
	return nil, false
}

// Lookup is LookupIn with no extra table.
func Lookup(err error) (*kerr.Error, bool) { return LookupIn(nil, err) }

// Code is err's Kafka error code: 0 for nil, UNKNOWN_SERVER_ERROR for an
// error none of the tables knows.
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

// MessageIn is the client-facing ErrorMessage for err (nil for nil): a
// bare sentinel of table or Table reads as its Kafka error does ("NAME:
// description", what clients got when the inner layers returned kerr
// values), anything with detail as its own text.
func MessageIn(table []Entry, err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	for _, t := range [][]Entry{table, Table} {
		for _, e := range t {
			if err == e.Err {
				s = e.Kafka.Error()
				return &s
			}
		}
	}
	return &s
}

// Message is MessageIn with no extra table.
func Message(err error) *string { return MessageIn(nil, err) }
