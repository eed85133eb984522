package testkit

import (
	"flag"
	"runtime"
	"strconv"
)

// shortParallel is -test.parallel under -short for packages whose tests
// mostly wait (on timers, deadlines, plugin calls, the network) rather
// than compute.
const shortParallel = 4

// ShortParallel raises -test.parallel to 4 under -short when the command
// line did not set it, for a TestMain to call after flag.Parse. Go's
// default is GOMAXPROCS: 2 parallel tests on a 2-core machine, while the
// in-process node tests of plugins and bridge spend most of their time
// waiting, so four at a time shorten the quick run without adding much
// CPU. Full runs keep Go's default.
func ShortParallel() { ShortParallelAt(shortParallel) }

// ShortParallelAt is ShortParallel with n tests at a time, for a package
// whose tests wait even more than they compute (core/itest: a broker
// process each, whose CPU is the other core's).
func ShortParallelAt(n int) {
	if !Short() || runtime.GOMAXPROCS(0) >= n {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
}
