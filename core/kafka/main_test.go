package kafka

import (
	"flag"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/sluicemq/sluice/core/broker"
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

// listenAdvertised opens the test server's listener on a free loopback
// port and advertises it as the broker's address (what Metadata answers).
func listenAdvertised(tb testing.TB, b *broker.Broker) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b.SetAdvertised("127.0.0.1", int32(ln.Addr().(*net.TCPAddr).Port))
	return ln
}
