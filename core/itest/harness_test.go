package itest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sluiceBinary is the broker under test, built once by TestMain.
var sluiceBinary string

const (
	// readyTimeout bounds how long a starting broker may take to answer a
	// metadata request (it may be recovering a log after SIGKILL).
	readyTimeout = 60 * time.Second
	// stopTimeout is how long a SIGTERMed broker gets before SIGKILL.
	stopTimeout = 15 * time.Second
	// portAttempts: a free port picked by listening on :0 can be taken by a
	// parallel test before the broker binds it; retry with a new one.
	portAttempts = 3
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if bin := os.Getenv("SLUICE_ITEST_BINARY"); bin != "" {
		sluiceBinary = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "sluice-itest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "itest: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sluiceBinary = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBinary, "github.com/sluicemq/sluice/cmd/sluice")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "itest: building sluice failed: %v\n%s", err, out)
		return 1
	}
	return m.Run()
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

func (o brokerOptions) args(addr string) []string {
	args := []string{"serve", "--data-dir", o.DataDir, "--kafka-addr", addr, "--http-addr", "off"}
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

// broker is one `sluice serve` process (and its successors after restarts,
// which reuse the data dir and the port so clients reconnect transparently).
type broker struct {
	t    testing.TB
	opts brokerOptions
	addr string

	// stderr accumulates the logs of every incarnation; dumped on failure.
	stderr *syncBuffer

	mu   sync.Mutex
	proc *process
}

// process is one running incarnation.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid after done
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startBroker runs `sluice serve` on a free 127.0.0.1 port, waits until a
// client can complete a metadata request, and stops it when the test ends.
func startBroker(t testing.TB, opts brokerOptions) *broker {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	b := &broker{t: t, opts: opts, stderr: &syncBuffer{}}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("sluice stderr (%s):\n%s", b.addr, b.stderr.String())
		}
	})
	var lastErr error
	for range portAttempts {
		b.addr = freeAddr(t)
		lastErr = b.launch()
		if lastErr == nil {
			return b
		}
		// Only a lost race for the port is worth another try.
		if !strings.Contains(b.stderr.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("sluice did not become ready: %v (its stderr follows)", lastErr)
	return nil
}

// Addr is the host:port clients connect to.
func (b *broker) Addr() string { return b.addr }

// launch starts a new incarnation on b.addr and waits until it serves.
func (b *broker) launch() error {
	cmd := exec.Command(sluiceBinary, b.opts.args(b.addr)...)
	cmd.Env = brokerEnv()
	fmt.Fprintf(b.stderr, "=== itest: starting %s\n", strings.Join(cmd.Args, " "))
	cmd.Stdout = b.stderr
	cmd.Stderr = b.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sluice: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()

	if err := b.waitReady(p); err != nil {
		_ = b.terminate(p) // the readiness error says more than the exit status
		return err
	}
	return nil
}

// waitReady polls with a kgo client until a metadata request succeeds, the
// process dies, or readyTimeout passes.
func (b *broker) waitReady(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr), kgo.RequestRetries(0)}, b.opts.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		if p.exited() {
			return fmt.Errorf("sluice exited before serving: %v", p.err)
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		err := cl.Ping(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", readyTimeout, err)
		case <-p.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// brokerEnv is this process's environment without SLUICE_* variables, so
// a developer's or CI's broker settings cannot leak into the flags a test
// leaves at their defaults.
func brokerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return env
}

// Kill SIGKILLs the broker and waits for it to die (a crash: no flush, no
// clean-shutdown marker).
func (b *broker) Kill() {
	b.t.Helper()
	p := b.current()
	if p == nil || p.exited() {
		b.t.Fatalf("Kill: broker %s is not running", b.addr)
	}
	fmt.Fprintf(b.stderr, "=== itest: SIGKILL\n")
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop shuts the broker down cleanly with SIGTERM, escalating to SIGKILL
// after stopTimeout. It reports an unclean exit as a test error. Stopping a
// stopped broker is a no-op.
func (b *broker) Stop() {
	b.t.Helper()
	p := b.current()
	if p == nil || p.exited() {
		return
	}
	if err := b.terminate(p); err != nil {
		b.t.Errorf("broker %s did not shut down cleanly: %v", b.addr, err)
	}
}

// terminate sends SIGTERM, waits, then SIGKILLs; it returns why the exit
// was not clean, if it was not.
func (b *broker) terminate(p *process) error {
	fmt.Fprintf(b.stderr, "=== itest: SIGTERM\n")
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		fmt.Fprintf(b.stderr, "=== itest: SIGKILL after %v\n", stopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("still running %v after SIGTERM", stopTimeout)
	}
}

// Restart stops the broker cleanly (unless it is already dead, e.g. after
// Kill) and starts it again on the same data dir and port.
func (b *broker) Restart() {
	b.t.Helper()
	b.Stop()
	if err := b.launch(); err != nil {
		b.t.Fatalf("restart: %v", err)
	}
}

func (b *broker) current() *process {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proc
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pick free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("pick free port: %v", err)
	}
	return addr
}

// syncBuffer is a bytes.Buffer safe for the process's output copier and the
// test goroutines writing markers into it.
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
