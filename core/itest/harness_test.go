package itest

import (
	"bytes"
	"context"
	"flag"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

func TestMain(m *testing.M) {
	// Eight tests at a time under -short: each waits on a broker process
	// and its clients far more than it computes (the package's -short
	// run: ~13.8 s at four, ~10.2 s at eight, the same CPU).
	flag.Parse()
	testkit.ShortParallelAt(8)
	// The broker under test is cmd/sluice, built once by the kit
	// ($SLUICE_BINARY or $SLUICE_ITEST_BINARY name a prebuilt one).
	testkit.Exit(m)
}

// brokerOptions are the `sluice serve` flags a test cares about. Zero values
// leave the broker's defaults in place.
type brokerOptions struct {
	DataDir           string // default: a fresh t.TempDir()
	DefaultPartitions int
	DisableAutoCreate bool
	FlushMessages     int
	SegmentBytes      int64
	// ExtraArgs are more `sluice serve` flags, passed to every
	// incarnation (restarts too).
	ExtraArgs []string
	// ClientOpts are kgo options every harness client of this broker uses
	// (readiness probe, newClient): SASL and TLS for a secured listener.
	ClientOpts []kgo.Opt
}

// smallInternalTopics are serve flags every harness broker gets first (a
// test's ExtraArgs come later and win): the internal topics with
// testkit.SmallOffsetsTopic partitions instead of Kafka's 50. A fresh
// data directory creates __consumer_offsets at start (and
// __transaction_state at the first transaction), each partition a
// directory of files and their fsyncs: 50 of them cost seconds per broker
// start on a loaded machine. No test here is about those counts; those
// that pick their own still do.
var smallInternalTopics = []string{
	"--offsets-topic-partitions=" + strconv.Itoa(testkit.SmallOffsetsTopic),
	"--transaction-state-partitions=" + strconv.Itoa(testkit.SmallOffsetsTopic),
}

// args are the serve flags after the kit's (data dir, listeners; the
// HTTP listener is off).
func (o brokerOptions) args() []string {
	args := append([]string(nil), smallInternalTopics...)
	if testing.Short() {
		// No initial rebalance delay under -short: Kafka's 3 s wait for
		// more members of a new group was paid by every test's first join
		// (twice by a group restarted empty). Full runs keep the default;
		// a test's own ExtraArgs come later and win.
		args = append(args, "--group-initial-rebalance-delay=-1ms")
	}
	if o.DefaultPartitions > 0 {
		args = append(args, "--default-partitions", strconv.Itoa(o.DefaultPartitions))
	}
	if o.DisableAutoCreate {
		args = append(args, "--auto-create-topics=false")
	}
	if o.FlushMessages > 0 {
		args = append(args, "--flush-messages", strconv.Itoa(o.FlushMessages))
	}
	if o.SegmentBytes > 0 {
		args = append(args, "--log-segment-bytes", strconv.FormatInt(o.SegmentBytes, 10))
	}
	return append(args, o.ExtraArgs...)
}

// broker is one `sluice serve` process (and its successors after
// restarts, which reuse the data dir and the port so clients reconnect
// transparently): the kit's Proc (Addr, PID, Kill, Stop, Restart,
// Signal) plus the options it was started with.
type broker struct {
	*testkit.Proc
	opts brokerOptions
	// stderr is the output of every incarnation so far (dumped on failure).
	stderr output
}

// output reads a process's captured stdout and stderr.
type output struct{ p *testkit.Proc }

func (o output) String() string { return o.p.Output() }

// startBroker runs `sluice serve` on a free 127.0.0.1 port, waits until a
// client can complete a metadata request, and stops it when the test ends.
func startBroker(t testing.TB, opts brokerOptions) *broker {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	p := testkit.StartProcess(t, testkit.ProcessConfig{DataDir: opts.DataDir, Args: opts.args(), ClientOpts: opts.ClientOpts})
	return &broker{Proc: p, opts: opts, stderr: output{p}}
}

// testContext is a context that ends after d or when the test ends, so no
// client call can hang a test forever.
func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogWriter sends each write (a log line) to the test log, shown with
// a failure or under -v.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// syncBuffer is a bytes.Buffer safe for a child's output copier and the
// test goroutines reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
