package meta

import (
	"fmt"
	"slices"
)

// AlterReassignments on the single-node store: the only broker already
// holds every partition, so the only valid target is that broker, which
// completes at once; nothing is ever in progress to cancel.
func (l *Local) AlterReassignments(reqs []Reassignment) []error {
	errs := make([]error, len(reqs))
	l.mu.RLock()
	self := l.self.ID
	l.mu.RUnlock()
	for i, r := range reqs {
		switch {
		case r.Target == nil:
			errs[i] = ErrNoReassignment
		case !slices.Equal(r.Target, []int32{self}):
			errs[i] = fmt.Errorf("%w: replicas %v: the only broker is %d", ErrInvalid, r.Target, self)
		}
	}
	return errs
}

// Reassignments is always empty on a single node.
func (l *Local) Reassignments() ([]Reassignment, error) { return nil, nil }

var _ ReassignmentStore = (*Local)(nil)
