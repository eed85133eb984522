package storage

import (
	"errors"
	"fmt"
)

// ErrOffline: the log hit a write, truncate or fsync error and refuses all
// further I/O until it is reopened. errors.Is(err, ErrOffline) holds for the
// *OfflineError every later call returns.
var ErrOffline = errors.New("storage: log offline after an I/O error")

// OfflineError is the sticky error of a log that went offline: the first
// failed operation, on which file, and why.
type OfflineError struct {
	Op   string // "write", "fsync", "truncate"
	Path string
	Err  error
}

func (e *OfflineError) Error() string {
	return fmt.Sprintf("storage: log offline after %s of %s failed: %v", e.Op, e.Path, e.Err)
}

// Unwrap makes both ErrOffline and the cause match errors.Is.
func (e *OfflineError) Unwrap() []error { return []error{ErrOffline, e.Err} }

// Err returns the log's sticky *OfflineError, or nil while it is healthy.
//
// Why sticky: after a failed write or fsync the state of the data is
// unknown. Linux reports a writeback error to fsync once and then marks the
// dirty pages clean (the 2018 "fsyncgate" that hit PostgreSQL), so a retried
// fsync can succeed although the data never reached the disk; an
// acknowledgement after it would be a lie. The log therefore refuses every
// append, read, flush and acknowledgement until the broker restarts, when
// recovery validates everything after the last successful fsync (the
// recovery point) and keeps only whole, CRC-valid batches.
func (l *Log) Err() error {
	if e := l.offline.Load(); e != nil {
		return e
	}
	return nil
}

// fail takes the log offline because op on path failed with err (the first
// failure wins and is logged once) and returns the sticky error.
func (l *Log) fail(op, path string, err error) error {
	oe := &OfflineError{Op: op, Path: path, Err: err}
	if l.offline.CompareAndSwap(nil, oe) {
		l.logger.Error("storage: I/O error, log taken offline; clients get KAFKA_STORAGE_ERROR until a restart recovers it from its last fsync",
			"op", op, "path", path, "err", err, "recovery_point", l.recoveryPoint.Load(), "next_offset", l.nextOffset.Load())
	}
	return l.offline.Load()
}
