package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/sluicemq/sluice/core/errkind"
	"github.com/sluicemq/sluice/core/hooks"
)

// The pipeline's own errors. They say what happened, each with its kind
// (core/errkind); the protocol edges answer the kind (core/kerrmap for
// Kafka codes, the bridge for HTTP statuses). The pipeline never names a
// Kafka code: a remote broker's answer to its internal client is relayed
// as kerrmap.FromCode decodes it.
var (
	// ErrBadPartition: a record names a partition the topic does not
	// have.
	ErrBadPartition = errors.New("pipeline: no such partition")
	// ErrUnknownTopic: the topic (or the emit's target partition) does not
	// exist.
	ErrUnknownTopic = errkind.New(errkind.UnknownTopic, "pipeline: unknown topic or partition")
	// ErrCorruptBatch: a stored batch could not be split, parsed or
	// re-encoded for the topic's consume filter.
	ErrCorruptBatch = errkind.New(errkind.CorruptMessage, "pipeline: stored record batch could not be decoded for the filter")
	// ErrReservedProducerID: a client's batch carries a producer id of
	// the emit range, whose relaxed sequence checks are the pipeline's own.
	ErrReservedProducerID = errkind.New(errkind.InvalidProducerID, "pipeline: producer ids of the emit range are reserved for transform emits")
	// ErrEmitTimeout: the caller's deadline ended before the transform's
	// emits were acknowledged (the source is stored; a retry re-sends
	// them).
	ErrEmitTimeout = errkind.New(errkind.Timeout, "pipeline: timed out waiting for the transform's emits")
	// ErrLeaderNotAvailable: an emit's target partition has no leader
	// right now.
	ErrLeaderNotAvailable = errkind.New(errkind.LeaderNotAvailable, "pipeline: the emit's target partition has no leader")
	// ErrBadResponse: the leader's answer to an emit was not one
	// partition's.
	ErrBadResponse = errkind.New(errkind.Internal, "pipeline: malformed produce response from the emit's leader")
)

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

// Refused reports whether the plugin refused the batch on purpose
// (sdk.Reject or sdk.Policy) rather than failed (trap, timeout, out of
// memory, malformed answer): HTTP answers the two differently.
func (e *PluginError) Refused() bool {
	return errors.Is(e.Err, hooks.ErrRejected) || errors.Is(e.Err, hooks.ErrPolicy)
}

// Rejected reports whether the plugin rejected the input (sdk.Reject:
// Kafka's INVALID_RECORD); everything else a plugin refuses or fails
// with is POLICY_VIOLATION.
func (e *PluginError) Rejected() bool { return errors.Is(e.Err, hooks.ErrRejected) }

// maxClientMessage bounds the plugin text a client is told.
const maxClientMessage = 1024

// Message is the error as clients are told it: the hook, the topic and
// the plugin's own message (a Go plugin's panic line included), on one
// line and bounded, without the wasm stack trace the runtime appends to
// a trap or the goroutine dump of a panic (those stay in the broker
// log, where Error is written).
func (e *PluginError) Message() string {
	return fmt.Sprintf("%s plugin of topic %s: %s", e.Hook, e.Topic, ClientText(e.Err.Error()))
}

// ClientText keeps the lines of an error text before any stack trace
// (wazero's "wasm stack trace:", a Go "goroutine N [...]:" dump, indented
// frames), joined with "; ", and cut to maxClientMessage bytes on a rune
// boundary.
func ClientText(s string) string {
	var kept []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.HasPrefix(line, "wasm stack trace") || strings.HasPrefix(line, "goroutine ") ||
			strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ") {
			break
		}
		if line = strings.TrimSpace(line); line != "" {
			kept = append(kept, line)
		}
	}
	out := strings.Join(kept, "; ")
	if len(out) > maxClientMessage {
		cut := maxClientMessage
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}
