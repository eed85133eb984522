package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/kerrmap"
)

// The Kafka code of every error the inner layers (partition, meta,
// broker, pipeline) return is in one table, core/kerrmap's, keyed by the
// error's kind (core/errkind). These names are the handlers' short way to
// it.

// lookupError is err's Kafka error: its kind's, or a *kerr.Error it
// wraps (this package's own kafkaError, a remote broker's answer).
func lookupError(err error) (*kerr.Error, bool) { return kerrmap.Lookup(err) }

// errorCode is the Kafka error code a response carries for err: 0 for
// nil, UNKNOWN_SERVER_ERROR for an error the table does not know.
func errorCode(err error) int16 { return kerrmap.Code(err) }

// errorMessage is the ErrorMessage a response carries for err (nil for
// nil): a broker error's detail after its Kafka name, as in
// "INVALID_TOPIC_EXCEPTION: topic name is empty".
func errorMessage(err error) *string { return kerrmap.Message(err) }

// kafkaError is an error this package answers with a given code and a
// message for the client.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.code.Message + ": " + e.msg }

// Unwrap exposes the code, for lookupError.
func (e *kafkaError) Unwrap() error { return e.code }
