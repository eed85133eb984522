package main

import (
	"context"
	"log/slog"
	"os/exec"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

// The bench's brokers are child processes started by the test kit
// (internal/testkit.LaunchProcess), the same launcher the process-level
// tests use: free 127.0.0.1 ports, a fresh data directory, a Kafka Ping
// before the run, SIGTERM then SIGKILL after a grace, output kept for
// error reports, own process group and a parent-death signal.

const (
	// readyTimeout bounds how long a fresh broker, or a cluster's
	// metadata, may take to become ready.
	readyTimeout = 30 * time.Second
	// stopGrace is how long a broker gets to exit after SIGTERM before
	// SIGKILL.
	stopGrace = 10 * time.Second
)

var (
	// errBrokerExited is the cancellation cause when a child dies mid-run.
	errBrokerExited = testkit.ErrExited
	// errBrokerNotReady means the child never answered a Kafka Ping.
	errBrokerNotReady = testkit.ErrNotReady
)

// brokerError carries the end of the child's output alongside what went
// wrong, so the report can show the broker's own explanation once, in full,
// while summaries stay one line.
type brokerError = testkit.ProcessError

// brokerSpec says how to launch one kind of broker as a child process.
type brokerSpec struct {
	name string
	// binary is the sluice executable run as `serve` with args after the
	// kit's data dir and listener flags.
	binary string
	args   []string
	// http gives the broker an HTTP listener (admin API).
	http bool
	// command replaces `binary serve` for a broker that is not sluice.
	command func(testkit.Listeners) *exec.Cmd
	// clientOpts are what a client needs to connect (TLS, SASL); none
	// for a PLAINTEXT listener. The readiness ping uses them too.
	clientOpts []kgo.Opt
}

// kfakeSpec re-executes this binary with the hidden serve flag.
func kfakeSpec(self string) brokerSpec {
	return brokerSpec{name: "kfake", command: func(l testkit.Listeners) *exec.Cmd {
		return exec.Command(self, "-"+serveKfakeFlag, l.Kafka)
	}}
}

// sluiceSpec runs `sluice serve` from the binary at path.
func sluiceSpec(path string) brokerSpec {
	return brokerSpec{name: "sluice", binary: path}
}

// brokerProcess is one running child broker.
type brokerProcess struct {
	proc   *testkit.Process
	addr   string
	output interface{ String() string } // the child's stdout+stderr so far
}

type processOutput struct{ p *testkit.Process }

func (o processOutput) String() string { return o.p.Output() }

// startBroker launches spec on free 127.0.0.1 ports with a fresh data
// directory and waits until it answers a Kafka Ping. A failure is a
// *brokerError carrying the end of the child's output.
func startBroker(ctx context.Context, spec brokerSpec, log *slog.Logger) (*brokerProcess, error) {
	p, err := testkit.LaunchProcess(ctx, testkit.ProcessConfig{
		Name: spec.name, Binary: spec.binary, Args: spec.args, HTTP: spec.http, Command: spec.command,
		ClientOpts: spec.clientOpts, ReadyTimeout: readyTimeout, StopTimeout: stopGrace, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &brokerProcess{proc: p, addr: p.Addr(), output: processOutput{p}}, nil
}

// pid is the child's process id, for /proc accounting.
func (b *brokerProcess) pid() int { return b.proc.PID() }

// watch returns a context that is cancelled with errBrokerExited if the
// child dies, so a phase waiting on a dead broker fails at once with the
// reason instead of stalling.
func (b *brokerProcess) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	return b.proc.Watch(ctx)
}

// stop terminates the child (SIGTERM, then SIGKILL after stopGrace) and
// removes its data directory. It is safe to call more than once.
func (b *brokerProcess) stop() { _ = b.proc.Close() }
