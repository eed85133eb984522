package kafka

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// shortParallel is -test.parallel under -short (testkit.ShortParallel's
// value; this package cannot import the kit, which imports it).
const shortParallel = 4

// TestMain runs the parallel tests four at a time under -short when the
// command line did not set -test.parallel. They are the package's slowest
// and mostly wait (fsyncs of hundreds of new partitions, SASL
// re-authentication deadlines, broker restarts): the package used some
// 5 CPU-seconds in 45 s of wall time on two cores, so Go's default of
// GOMAXPROCS (two) at a time left them queued behind each other.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() && runtime.GOMAXPROCS(0) < shortParallel {
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
		if !set {
			_ = flag.Set("test.parallel", strconv.Itoa(shortParallel))
		}
	}
	os.Exit(m.Run())
}
