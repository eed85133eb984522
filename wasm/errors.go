package wasm

import (
	"errors"
	"fmt"

	"github.com/sluicemq/sluice/core/hooks"
)

var (
	// ErrModuleClosed: the module was closed (replaced or removed); the
	// caller should look up the current one.
	ErrModuleClosed = errors.New("wasm: module closed")
	// ErrInvalidModule: the bytes are not a usable plugin (not WebAssembly,
	// missing exports, initialization failed).
	ErrInvalidModule = errors.New("wasm: invalid plugin module")

	// Failure kinds of a call; a *CallError matches one of them and
	// hooks.ErrPluginFailed with errors.Is.
	ErrTimeout     = errors.New("deadline exceeded")
	ErrTrap        = errors.New("trap")
	ErrOutOfMemory = errors.New("out of memory")
	ErrBadOutput   = errors.New("malformed output")
	ErrExited      = errors.New("plugin exited")
	ErrStart       = errors.New("instance start failed")
)

// CallError is a plugin failure during one call.
type CallError struct {
	Plugin string
	Hook   Hook
	Kind   error // one of ErrTimeout, ErrTrap, ErrOutOfMemory, ErrBadOutput, ErrExited, ErrStart, ErrBudget
	Detail string
}

func (e *CallError) Error() string {
	return fmt.Sprintf("plugin %q (%s) failed: %v: %s", e.Plugin, e.Hook, e.Kind, e.Detail)
}

// Unwrap lets errors.Is match hooks.ErrPluginFailed and the kind.
func (e *CallError) Unwrap() []error { return []error{hooks.ErrPluginFailed, e.Kind} }

// RefusalError is a plugin's deliberate refusal of a batch (status 1 or 2
// of the ABI); it wraps hooks.ErrRejected or hooks.ErrPolicy.
type RefusalError struct {
	Plugin  string
	Policy  bool
	Message string
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("plugin %q: %s", e.Plugin, e.Message)
}

// Unwrap maps the refusal to the broker's sentinel.
func (e *RefusalError) Unwrap() error {
	if e.Policy {
		return hooks.ErrPolicy
	}
	return hooks.ErrRejected
}

// kindLabel names a failure kind in metrics.
func kindLabel(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrOutOfMemory):
		return "oom"
	case errors.Is(err, ErrTrap):
		return "trap"
	case errors.Is(err, ErrBadOutput):
		return "bad_output"
	case errors.Is(err, ErrExited):
		return "exited"
	case errors.Is(err, ErrStart):
		return "start"
	case errors.Is(err, ErrBudget):
		return "budget"
	case errors.Is(err, hooks.ErrPolicy):
		return "policy"
	case errors.Is(err, hooks.ErrRejected):
		return "rejected"
	default:
		return "other"
	}
}
