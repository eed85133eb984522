//go:build !linux

package wasm

// limitData is a no-op where RLIMIT_DATA is not available; the
// compile child is still killed at the compile timeout.
func limitData(int64) error { return nil }
