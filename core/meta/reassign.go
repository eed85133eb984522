package meta

import (
	"errors"
	"slices"
)

// ErrNoReassignment: a cancellation named a partition that is not being
// reassigned (NO_REASSIGNMENT_IN_PROGRESS).
var ErrNoReassignment = errors.New("meta: no reassignment in progress")

// Reassignment is one partition's requested or ongoing move to a new
// replica set (Kafka's AlterPartitionReassignments). The controller drives
// it: it grows the assignment to Target plus Original, waits until every
// target replica is in the ISR, moves leadership off removed replicas and
// shrinks the assignment to Target.
type Reassignment struct {
	Topic     string
	Partition int32
	// Target is the requested replica set, preferred leader first; nil
	// asks for the reassignment to be cancelled (rolled back to Original).
	Target []int32
	// Original is the replica set before the reassignment; nil until the
	// controller has started it.
	Original []int32
}

// Started reports whether the controller has grown the assignment.
func (r Reassignment) Started() bool { return r.Original != nil }

// AddingReplicas are the target replicas that the original set lacks,
// judged against current (the assignment now) before the start.
func (r Reassignment) AddingReplicas(current []int32) []int32 {
	base := r.Original
	if base == nil {
		base = current
	}
	if r.Target == nil {
		return minus(current, base)
	}
	return minus(r.Target, base)
}

// RemovingReplicas are the original replicas the target drops.
func (r Reassignment) RemovingReplicas(current []int32) []int32 {
	base := r.Original
	if base == nil {
		base = current
	}
	if r.Target == nil {
		return nil
	}
	return minus(base, r.Target)
}

// minus is a without b's members, in a's order.
func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// ReassignmentStore is a store that can move partitions between brokers.
// Both meta.ZK and meta.Local implement it.
type ReassignmentStore interface {
	// AlterReassignments records requests (Target nil cancels); the
	// returned slice has one error (or nil) per request. Callers check
	// that topics, partitions and brokers exist first.
	AlterReassignments(reqs []Reassignment) []error
	// Reassignments lists the requested and ongoing reassignments.
	Reassignments() ([]Reassignment, error)
}
