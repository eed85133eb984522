package pipeline

import (
	"errors"
	"fmt"
)

// ErrBadPartition: a record names a partition the topic does not have.
var ErrBadPartition = errors.New("pipeline: no such partition")

// PluginError is a hook's failure or refusal on one topic. Err wraps one
// of hooks.ErrRejected, hooks.ErrPolicy or hooks.ErrPluginFailed (and the
// plugin's own error with its message); the protocol edges map it to a
// Kafka code or an HTTP status.
type PluginError struct {
	Hook  string // partitioner, transform or filter
	Topic string
	Err   error
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("%s plugin of topic %s: %v", e.Hook, e.Topic, e.Err)
}

func (e *PluginError) Unwrap() error { return e.Err }
