//go:build !linux

package threadcpu

import "time"

var base = time.Now()

// Now falls back to the wall clock (since the program started) where no
// thread CPU clock is read.
func Now() time.Duration { return time.Since(base) }
