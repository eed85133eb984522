package txn

import (
	"sort"
	"time"
)

// TopicName is Kafka's internal topic holding the coordinators' state.
const TopicName = "__transaction_state"

// DefaultPartitions is transaction.state.log.num.partitions.
const DefaultPartitions = 50

// State is a transaction's state, numbered as Kafka persists it in
// __transaction_state.
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is Kafka's name of the state (DescribeTransactions,
// ListTransactions filters).
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "Unknown"
}

// ParseState maps Kafka's state name back; ok is false for unknown names.
func ParseState(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// TopicPartition names one partition a transaction wrote to.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// noEpoch is RecordBatch.NO_PRODUCER_EPOCH: metadata just created.
const noEpoch = -1

// epochExhausted: Kafka rotates the producer id instead of bumping an
// epoch this close to the int16 limit (one bump stays for fencing).
func epochExhausted(e int16) bool { return e >= 1<<15-2 }

// meta is one transactional id's state.
type meta struct {
	id        string
	pid       int64
	epoch     int16
	lastPID   int64 // the producer id before the last rotation (KIP-360 retries)
	lastEpoch int16 // the epoch before the last bump (KIP-360 retries)
	timeout   time.Duration
	state     State
	parts     map[TopicPartition]struct{}
	start     time.Time // transaction start; zero outside one
	updated   time.Time

	// busy is Kafka's pending state: a transition is being written, or
	// markers are being written (Prepare*). Requests meanwhile get
	// CONCURRENT_TRANSACTIONS.
	busy bool
}

// clone copies m for a transition (the copy is persisted, then installed).
func (m *meta) clone() *meta {
	n := *m
	n.parts = make(map[TopicPartition]struct{}, len(m.parts))
	for tp := range m.parts {
		n.parts[tp] = struct{}{}
	}
	return &n
}

// sortedParts lists the partitions in a stable order.
func (m *meta) sortedParts() []TopicPartition {
	out := make([]TopicPartition, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// PartitionFor is the __transaction_state partition of a transactional id:
// Utils.abs(String.hashCode) modulo the partition count, as Kafka computes
// it (Utils.abs maps Integer.MIN_VALUE to 0).
func PartitionFor(transactionalID string, partitions int32) int32 {
	var h int32
	for _, r := range transactionalID {
		if r >= 0x10000 { // UTF-16 surrogate pair
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	switch {
	case h == -1<<31:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}
