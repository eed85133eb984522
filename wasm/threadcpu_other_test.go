//go:build !linux

package wasm

import "time"

var threadClockBase = time.Now()

// threadCPU falls back to the wall clock where no thread CPU clock is
// read.
func threadCPU() time.Duration { return time.Since(threadClockBase) }
