package main

import "github.com/sluicemq/sluice/internal/threadcpu"

// threadCPU is the calling thread's CPU time: with the goroutine locked to
// its thread it times one in-process plugin call without what other
// processes on a loaded machine take meanwhile.
var threadCPU = threadcpu.Now
