package kafka

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/kerrmap"
)

// errorCode is the Kafka error code a response carries for err: 0 for
// nil; the code of the typed errors of the packages below (core/kerrmap's
// table); UNKNOWN_SERVER_ERROR for anything else.
func errorCode(err error) int16 {
	var ce *broker.ConfigError
	if errors.As(err, &ce) {
		return kerr.InvalidConfig.Code
	}
	return kerrmap.Code(err)
}

// errorMessage is the ErrorMessage a response carries for err (nil for
// nil).
func errorMessage(err error) *string { return kerrmap.Message(err) }
