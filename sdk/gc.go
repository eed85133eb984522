package sdk

import (
	"runtime"
	"runtime/metrics"
)

// Go's garbage collector cannot keep up inside a plugin on its own: the
// host runs the guest only during calls, the guest has one thread and no
// preemption, so the collector's background mark worker is scheduled
// almost never and a plugin that allocates per record (as most do) grows
// its heap call after call until the instance hits its memory cap. After
// each call the SDK therefore looks at the heap and, once it has grown
// well past what was live after the last collection, collects
// synchronously, where the mark worker does get to run.

// minCollectBytes is the heap size below which the SDK never forces a
// collection (small plugins pay nothing).
const minCollectBytes = 16 << 20

// How often collectIfGrown reads the heap size (see there).
const (
	checkEveryCalls      = 16
	checkEveryInputBytes = 256 << 10
)

var (
	sinceCheckCalls, sinceCheckBytes int
	heapSample                       = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	// collectAt is the heap size that triggers the next collection.
	collectAt uint64 = minCollectBytes
)

// collectIfGrown runs a collection when the heap (live and not yet
// reclaimed objects) reached collectAt, then sets the next threshold at
// twice what survived, like GOGC=100.
//
// Reading the heap size (runtime/metrics) costs about 1.4 µs, more than a
// small batch's whole call, so it is read only every checkEveryCalls calls
// or once checkEveryInputBytes of input went by since the last read:
// allocation follows input, so a plugin cannot outrun its memory cap
// between two reads (16 small calls, or 256 KiB of input, past the 16 MiB
// threshold stays far below the default 64 MiB cap).
func collectIfGrown() {
	sinceCheckCalls++
	sinceCheckBytes += len(inBuf)
	if sinceCheckCalls < checkEveryCalls && sinceCheckBytes < checkEveryInputBytes {
		return
	}
	sinceCheckCalls, sinceCheckBytes = 0, 0
	if heapObjectBytes() < collectAt {
		return
	}
	runtime.GC()
	collectAt = max(minCollectBytes, 2*heapObjectBytes())
}

func heapObjectBytes() uint64 {
	metrics.Read(heapSample)
	if heapSample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return heapSample[0].Value.Uint64()
}
