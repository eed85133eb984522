package msgset

import (
	"errors"
	"fmt"
)

// ErrCorrupt is wrapped by every error about malformed input: a bad CRC, a
// truncated or oversized message, an unknown magic, a nested compressed
// wrapper, undecodable compressed data. A broker answers CORRUPT_MESSAGE.
var ErrCorrupt = errors.New("msgset: corrupt message")

// ErrUnsupportedCodec means the data uses a compression codec the target
// format cannot carry: zstd exists only in v2 batches. A broker answers
// UNSUPPORTED_COMPRESSION_TYPE, as Kafka does for old clients on zstd data.
var ErrUnsupportedCodec = errors.New("msgset: compression codec not supported by the message format")

// ErrEmpty means a MessageSet holds no message at all. Kafka accepts such a
// produce without appending anything, so a caller may treat it as a no-op.
var ErrEmpty = errors.New("msgset: message set holds no messages")

// ErrUnsupportedMagic means FromBatches was asked for a magic other than 0
// or 1: a caller bug, not bad data.
var ErrUnsupportedMagic = errors.New("msgset: can only down-convert to magic 0 or 1")

// CorruptError describes why input was rejected. It matches ErrCorrupt with
// errors.Is, and also the underlying codec error when there is one.
type CorruptError struct {
	// Pos is the byte position of the offending message or batch in the
	// input (in the decompressed inner set for a nested problem).
	Pos int
	// Reason says what is wrong, for logs.
	Reason string
	// Err is the underlying cause (a decompression error), if any.
	Err error
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("msgset: corrupt message at byte %d: %s", e.Pos, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrCorrupt, e.Err}
	}
	return []error{ErrCorrupt}
}

// CodecError reports a compression codec the target format cannot carry.
// It matches ErrUnsupportedCodec with errors.Is.
type CodecError struct {
	Codec int8 // the attribute's codec bits
	Magic int8 // the format that cannot carry it
}

func (e *CodecError) Error() string {
	return fmt.Sprintf("msgset: compression codec %d is not supported with magic %d", e.Codec, e.Magic)
}

// Unwrap exposes ErrUnsupportedCodec.
func (e *CodecError) Unwrap() error { return ErrUnsupportedCodec }

func corrupt(pos int, reason string) error {
	return &CorruptError{Pos: pos, Reason: reason}
}

func corruptf(pos int, format string, args ...any) error {
	return &CorruptError{Pos: pos, Reason: fmt.Sprintf(format, args...)}
}
