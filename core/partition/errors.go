package partition

import "github.com/sluicemq/sluice/core/errkind"

// The partition's errors. They say what happened, each with its kind
// (core/errkind); the protocol edge (core/kerrmap) turns the kind into
// the Kafka code clients get. Callers
// match them with errors.Is: some reach callers wrapped with detail.
var (
	// ErrNotLeader: this replica does not lead the partition (a follower,
	// or closed or deleted meanwhile), so it cannot take appends or serve
	// client reads; the client must find the leader.
	ErrNotLeader = errkind.New(errkind.NotLeader, "partition: this replica is not the leader")
	// ErrUnknownReplica: a replica fetch from a broker that is not one of
	// the partition's followers.
	ErrUnknownReplica = errkind.New(errkind.UnknownReplica, "partition: fetch from a broker that is not a follower of this partition")
	// ErrOffsetOutOfRange: the offset is below the log start or past the
	// log end (or past the high watermark, for DeleteRecords).
	ErrOffsetOutOfRange = errkind.New(errkind.OffsetOutOfRange, "partition: offset out of range")
	// ErrStorage: the log failed an I/O operation or is offline after one.
	ErrStorage = errkind.New(errkind.Storage, "partition: log storage failed")
	// ErrCorruptMessage: a batch failed framing or CRC validation, or a
	// stored batch could not be decoded.
	ErrCorruptMessage = errkind.New(errkind.CorruptMessage, "partition: corrupt record batch")
	// ErrInvalidRecord: a well-formed batch holds a record the partition
	// refuses (e.g. no key on a compacted topic), or a coordinator's batch
	// is not the kind AppendForProducer takes.
	ErrInvalidRecord = errkind.New(errkind.InvalidRecord, "partition: invalid record")
	// ErrMessageTooLarge: a batch is larger than max.message.bytes.
	ErrMessageTooLarge = errkind.New(errkind.MessageTooLarge, "partition: record batch larger than max.message.bytes")
	// ErrLegacyMessageFormat: a magic 0/1 message set reached the
	// partition (the protocol layer up-converts those it accepts).
	ErrLegacyMessageFormat = errkind.New(errkind.LegacyMessageFormat, "partition: message set of magic 0/1, not a record batch")
	// ErrOutOfOrderSequence: an idempotent batch's sequence does not
	// follow the producer's last one (or a retried batch came in a
	// request of several).
	ErrOutOfOrderSequence = errkind.New(errkind.OutOfOrderSequence, "partition: producer sequence out of order")
	// ErrStaleProducerEpoch: the batch or marker carries an older epoch than
	// the producer's latest here.
	ErrStaleProducerEpoch = errkind.New(errkind.StaleProducerEpoch, "partition: producer epoch is older than the latest seen")
	// ErrTxnOpen: a producer sent a non-transactional batch while its
	// transaction on this partition is open.
	ErrTxnOpen = errkind.New(errkind.TxnOpen, "partition: non-transactional batch while the producer's transaction is open")
	// ErrCoordinatorFenced: a transaction marker from an older
	// coordinator epoch than one that already wrote here.
	ErrCoordinatorFenced = errkind.New(errkind.CoordinatorFenced, "partition: marker from a fenced transaction coordinator")
	// ErrNoProducerID: a transaction marker without a producer id.
	ErrNoProducerID = errkind.New(errkind.InvalidProducerID, "partition: transaction marker without a producer id")
	// ErrCommitTimeout: the wait for an append to be committed ended
	// (the caller's deadline) before it was.
	ErrCommitTimeout = errkind.New(errkind.Timeout, "partition: timed out waiting for the append to be committed")
	// ErrNotEnoughReplicas: fewer replicas than min.insync.replicas are in
	// sync, so an acks=all append is refused before it is made.
	ErrNotEnoughReplicas = errkind.New(errkind.NotEnoughReplicas, "partition: fewer in-sync replicas than min.insync.replicas")
	// ErrCommittedUnderMinISR: the append is committed, but the ISR had
	// shrunk below min.insync.replicas meanwhile.
	ErrCommittedUnderMinISR = errkind.New(errkind.CommittedUnderMinISR, "partition: committed on fewer in-sync replicas than min.insync.replicas")
)

// InvalidBatchError is a produced batch the validator refused. Err is
// ErrCorruptMessage or ErrInvalidRecord; Reason says why (for the
// client's ErrorMessage and the log).
type InvalidBatchError struct {
	Err    error
	Reason string
}

func (e *InvalidBatchError) Error() string { return e.Err.Error() + ": " + e.Reason }

// Unwrap exposes the sentinel, for errors.Is.
func (e *InvalidBatchError) Unwrap() error { return e.Err }
