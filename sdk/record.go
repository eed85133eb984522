package sdk

import (
	"errors"
	"fmt"
)

// Header is a record header.
type Header struct {
	Key   string
	Value []byte // nil: null value
}

// Record is a record as a plugin sees it.
type Record struct {
	Key       []byte // nil: no key
	Value     []byte // nil: tombstone
	Headers   []Header
	Timestamp int64 // milliseconds since the epoch
	// Offset is the record's offset in filters; -1 in partitioners and
	// transforms (not assigned yet).
	Offset int64
}

// Header returns the value of the first header named key.
func (r Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// Reader identifies who is fetching, for filters.
type Reader struct {
	GroupID  string // empty for consumers outside a group
	ClientID string // the client's own claim: never an identity
	// Principal is who authenticated: "User:alice", or "User:ANONYMOUS".
	Principal string
}

// Writer receives a transform's output for the current record. Calling
// nothing drops the record; calling Keep or Write more than once appends
// several records.
type Writer interface {
	// Keep appends the input record unchanged (cheapest: no copy).
	Keep()
	// Write appends r to the produced partition in place of the input.
	// r is copied before Write returns, so its buffers may be reused.
	Write(r Record)
	// Emit sends r to another topic (e.g. a dead-letter topic); the
	// broker partitions it with that topic's partitioner or key hash.
	// r is copied before Emit returns.
	Emit(topic string, r Record)
}

// RefusalError is a transform's refusal of a batch: the produce fails
// with INVALID_RECORD (Policy false) or POLICY_VIOLATION (Policy true)
// and Message as the error message. Nothing of the batch is appended.
type RefusalError struct {
	Policy  bool
	Message string
}

func (e *RefusalError) Error() string { return e.Message }

// Reject makes a transform's error that fails the produce with
// INVALID_RECORD. Any other non-nil error returned by a transform is
// treated the same way.
func Reject(format string, args ...any) error {
	return &RefusalError{Message: fmt.Sprintf(format, args...)}
}

// Policy makes a transform's error that fails the produce with
// POLICY_VIOLATION.
func Policy(format string, args ...any) error {
	return &RefusalError{Policy: true, Message: fmt.Sprintf(format, args...)}
}

func refusal(err error) *RefusalError {
	var re *RefusalError
	if errors.As(err, &re) {
		return re
	}
	return &RefusalError{Message: err.Error()}
}
