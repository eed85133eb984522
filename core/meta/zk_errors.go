package meta

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// Sentinel errors of the ZooKeeper store. Typed errors below wrap them, so
// callers test with errors.Is.
var (
	// ErrBrokerIDTaken: another live session holds /brokers/ids/<id>.
	ErrBrokerIDTaken = errors.New("meta: broker id registered by another live session")
	// ErrBadVersion: a compare-and-set lost a race; re-read and retry.
	ErrBadVersion = errors.New("meta: version conflict")
	// ErrNotController: the write was fenced because this broker does not
	// hold (or no longer holds) the controllership it claimed.
	ErrNotController = errors.New("meta: not the controller")
	// ErrUnknownPartition: the topic exists but not this partition.
	ErrUnknownPartition = errors.New("meta: unknown partition")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("meta: store closed")
	// ErrNoSession: ZooKeeper could not be reached in time.
	ErrNoSession = errors.New("meta: no zookeeper session")
)

// BrokerIDTakenError reports a registration refused because the broker id
// is held by another session (another process, or this one's previous
// incarnation whose session has not timed out yet).
type BrokerIDTakenError struct {
	ID           int32
	OwnerSession int64 // ZooKeeper session id that owns the node
}

func (e *BrokerIDTakenError) Error() string {
	return fmt.Sprintf("meta: broker id %d is registered by live zookeeper session 0x%x", e.ID, e.OwnerSession)
}

func (e *BrokerIDTakenError) Unwrap() error { return ErrBrokerIDTaken }

// VersionConflictError reports a compare-and-set on a znode that failed
// because the node changed since it was read. It matches both ErrBadVersion
// and zk.ErrBadVersion.
type VersionConflictError struct {
	Path            string
	ExpectedVersion int32
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("meta: %s changed since version %d", e.Path, e.ExpectedVersion)
}

func (e *VersionConflictError) Unwrap() []error { return []error{ErrBadVersion, zk.ErrBadVersion} }

// firstMultiError returns the error of the first failed operation in a
// multi-op, with its index, or (-1, err) when the multi failed as a whole
// (connection loss) or succeeded.
func firstMultiError(res []zk.MultiResponse, err error) (int, error) {
	for i, r := range res {
		if r.Error != nil {
			return i, r.Error
		}
	}
	return -1, err
}
