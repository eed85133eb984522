// Package threadcpu reads the calling thread's CPU clock, for benchmarks
// (sluice-bench and the wasm and pipeline benchmarks) that time one
// in-process plugin call: with the goroutine locked to its thread
// (runtime.LockOSThread) it counts only what that call costs, not what
// other goroutines or processes on a loaded machine take meanwhile.
package threadcpu

import (
	"syscall"
	"time"
	"unsafe"
)

// Now is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), 0 when it
// cannot be read.
func Now() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
