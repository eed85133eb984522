// Package errkind names the kinds of failure the layers below the
// protocol edge report, without the protocol's codes. It is a leaf: it
// imports nothing of Sluice, so every layer can give its sentinels a
// kind, and core/kerrmap (the one table from kinds to Kafka codes) needs
// none of those layers. That keeps the table in one place without the
// broker → group → kerrmap → broker import cycle a table naming the
// broker's sentinels would close.
package errkind

// Kind is what went wrong, as a client would be told it. Several
// sentinels may share a kind (the partition's and the pipeline's
// timeouts); the edge answers each kind with one code.
type Kind uint8

// The kinds. Unknown is no kind: an error without one is answered as an
// unknown server error. Add a kind here and its code in core/kerrmap
// (its test fails until every kind has one).
const (
	Unknown                  Kind = iota
	NotLeader                     // this replica does not lead the partition
	UnknownReplica                // a replica fetch from a broker that is no follower
	OffsetOutOfRange              // an offset outside the log
	Storage                       // a disk failed
	CorruptMessage                // a batch failed framing, CRC or decoding
	InvalidRecord                 // a well-formed record the topic refuses
	MessageTooLarge               // larger than max.message.bytes
	LegacyMessageFormat           // a magic 0/1 message set where a batch is needed
	OutOfOrderSequence            // an idempotent producer's sequence gap
	StaleProducerEpoch            // an older producer epoch than the latest seen
	TxnOpen                       // a non-transactional write inside an open transaction
	CoordinatorFenced             // a marker from a fenced transaction coordinator
	InvalidProducerID             // a producer id that may not be used here
	Timeout                       // the wait ended before the work did
	NotEnoughReplicas             // fewer in-sync replicas than min.insync.replicas
	CommittedUnderMinISR          // committed, but on too few in-sync replicas
	UnknownTopic                  // no such topic or partition
	TopicExists                   // a topic of that name exists
	InvalidTopicName              // a name against the naming rules
	InvalidPartitions             // a partition count that cannot be
	InvalidReplicationFactor      // more replicas than brokers, or none
	InvalidConfig                 // a configuration that does not apply
	InvalidRequest                // a request this server cannot make sense of
	ReassignmentInProgress        // the partitions are being moved
	CoordinatorNotAvailable       // the coordinator is not there (yet)
	LeaderNotAvailable            // the partition has no leader right now
	PolicyViolation               // refused by the server's policy
	Internal                      // this server's own fault, with no better name

	// NumKinds is one past the last kind, for tests that walk them all.
	NumKinds
)

// Kinded is an error with a kind. Error types with detail (a config
// value's problem) implement it; sentinels are *Error.
type Kinded interface {
	error
	Kind() Kind
}

// Error is a sentinel of one kind, optionally wrapping another sentinel
// it refines (a broker's unknown topic wraps the metadata store's), so
// errors.Is matches both.
type Error struct {
	kind  Kind
	msg   string
	cause error
}

// New is a sentinel of kind k.
func New(k Kind, msg string) *Error { return &Error{kind: k, msg: msg} }

// Wrap is a sentinel of kind k that refines cause.
func Wrap(k Kind, msg string, cause error) *Error { return &Error{kind: k, msg: msg, cause: cause} }

func (e *Error) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

// Kind is the sentinel's kind.
func (e *Error) Kind() Kind { return e.kind }

// Unwrap is the refined sentinel, if any.
func (e *Error) Unwrap() error { return e.cause }

// Of is the kind of the first error in err's tree (in errors.Is order)
// that has one, or Unknown.
func Of(err error) Kind {
	for err != nil {
		if k, ok := err.(Kinded); ok && k.Kind() != Unknown {
			return k.Kind()
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k := Of(e); k != Unknown {
					return k
				}
			}
			return Unknown
		default:
			return Unknown
		}
	}
	return Unknown
}

// Is reports whether err is, or wraps, an error of kind k.
func Is(err error, k Kind) bool { return k != Unknown && Of(err) == k }

var _ Kinded = (*Error)(nil)
