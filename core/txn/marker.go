// Package txn is Kafka's transaction coordinator: transactional ids,
// producer epochs and fencing, the partitions and groups a transaction
// touches, and the commit/abort markers that end it.
//
// This file is the seam between the coordinator (which decides that a
// transaction ends) and the partitions (which write the control batches
// that end it there). The coordinator only ever talks to a MarkerWriter;
// the broker implements it with a local append when it leads the
// partition and a WriteTxnMarkers request to the leader otherwise.
package txn

import "context"

// Marker is one commit or abort marker for one partition: a control batch
// for (ProducerID, ProducerEpoch) appended to Topic/Partition.
type Marker struct {
	Topic            string
	Partition        int32
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool // false: abort
}

// MarkerWriter writes markers where they belong. WriteMarkers returns once
// every marker is durably written with the partition's acks=all semantics
// (replicated to min.insync.replicas), or an error per failed marker, in
// the order of ms; a nil slice means all succeeded. The coordinator
// retries failed markers: writing the same marker twice is harmless (the
// second finds no open transaction for the producer and is a no-op).
type MarkerWriter interface {
	WriteMarkers(ctx context.Context, ms []Marker) []error
}

// MarkerObserver is told about a marker after it is durably written to a
// partition this broker leads. The group coordinator registers one for
// __consumer_offsets: a commit marker there makes a transaction's pending
// TxnOffsetCommits visible, an abort drops them.
type MarkerObserver func(m Marker)
