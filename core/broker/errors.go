package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Error is a Kafka error code with a message for the client (the
// ErrorMessage field of newer responses).
type Error struct {
	Code *kerr.Error
	Msg  string
}

func (e *Error) Error() string { return e.Code.Message + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Code }

func errf(code *kerr.Error, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// ErrorCode maps any error to a Kafka error code (0 for nil, UNKNOWN for
// errors that carry none).
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return kerr.InvalidConfig.Code
	}
	return kerr.UnknownServerError.Code
}

// ErrorMessage is the client-facing message for err (nil for nil).
func ErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
