package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// readyTimeout bounds how long a fresh broker may take to answer a Ping.
	readyTimeout = 30 * time.Second
	// stopGrace is how long a broker gets to exit after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// startAttempts covers the small race between picking a free port and the
	// child binding it (another process may grab it in between).
	startAttempts = 3
	// outputTailBytes of each child's stdout+stderr are kept for error reports.
	outputTailBytes = 16 << 10
)

var (
	// errBrokerExited is the cancellation cause when a child dies mid-run.
	errBrokerExited = errors.New("broker process exited")
	// errBrokerNotReady means the child never answered a Kafka Ping.
	errBrokerNotReady = errors.New("broker did not become ready")
)

// brokerError carries the end of the child's output alongside what went
// wrong, so the report can show the broker's own explanation once, in full,
// while summaries stay one line.
type brokerError struct {
	Err    error
	Output string // last outputTailBytes of the child's stdout+stderr
}

func (e *brokerError) Error() string { return e.Err.Error() }
func (e *brokerError) Unwrap() error { return e.Err }

// brokerSpec says how to launch one kind of broker as a child process.
type brokerSpec struct {
	name string
	// command builds the child serving Kafka on addr; dataDir is a fresh,
	// empty directory the broker may use for its state.
	command func(addr, dataDir string) *exec.Cmd
	// clientOpts are what a client needs to connect (TLS, SASL); none
	// for a PLAINTEXT listener. The readiness ping uses them too.
	clientOpts []kgo.Opt
}

// kfakeSpec re-executes this binary with the hidden serve flag.
func kfakeSpec(self string) brokerSpec {
	return brokerSpec{name: "kfake", command: func(addr, _ string) *exec.Cmd {
		return exec.Command(self, "-"+serveKfakeFlag, addr)
	}}
}

// sluiceSpec runs `sluice serve` from the binary at path.
func sluiceSpec(path string) brokerSpec {
	return brokerSpec{name: "sluice", command: func(addr, dataDir string) *exec.Cmd {
		return exec.Command(path, "serve", "--data-dir", dataDir, "--kafka-addr", addr)
	}}
}

// brokerProcess is one running child broker.
type brokerProcess struct {
	name       string
	addr       string
	dataDir    string
	clientOpts []kgo.Opt
	cmd        *exec.Cmd
	output     *tailBuffer
	exited     chan struct{} // closed once the child has been reaped
	waitErr    error         // the child's exit status; read only after exited closes
	log        *slog.Logger
}

// startBroker launches spec on a free 127.0.0.1 port with a fresh data
// directory and waits until it answers a Kafka Ping.
func startBroker(ctx context.Context, spec brokerSpec, log *slog.Logger) (*brokerProcess, error) {
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		b, err := startBrokerOnce(ctx, spec, log)
		if err == nil {
			return b, nil
		}
		lastErr = err
		// Only losing the port race is worth another try; a crash, a hang
		// or a cancelled run will not get better by repetition.
		var be *brokerError
		if !errors.As(err, &be) || !strings.Contains(be.Output, "address already in use") || ctx.Err() != nil {
			break
		}
		log.Warn("broker exited during start-up, retrying", "broker", spec.name, "attempt", attempt, "err", err)
	}
	return nil, lastErr
}

func startBrokerOnce(ctx context.Context, spec brokerSpec, log *slog.Logger) (*brokerProcess, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "sluice-bench-"+spec.name+"-")
	if err != nil {
		return nil, err
	}
	b := &brokerProcess{
		name:       spec.name,
		addr:       addr,
		dataDir:    dataDir,
		clientOpts: spec.clientOpts,
		cmd:        spec.command(addr, dataDir),
		output:     newTailBuffer(outputTailBytes),
		exited:     make(chan struct{}),
		log:        log.With("broker", spec.name),
	}
	b.cmd.Stdout = b.output
	b.cmd.Stderr = b.output
	b.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a terminal Ctrl-C reaches only the bench,
		// which then stops the broker in order and reports the interruption.
		Setpgid: true,
		// If the bench itself is killed, the kernel takes the broker down too.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := b.cmd.Start(); err != nil {
		_ = os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.exited)
	}()
	b.log.Info("broker started", "pid", b.cmd.Process.Pid, "addr", addr)

	if err := b.waitReady(ctx); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// pid is the child's process id, for /proc accounting.
func (b *brokerProcess) pid() int { return b.cmd.Process.Pid }

// waitReady pings the broker until it answers, it exits, or time runs out.
func (b *brokerProcess) waitReady(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, b.clientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()

	deadline := time.Now().Add(readyTimeout)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		pingErr := cl.Ping(pingCtx)
		cancel()
		if pingErr == nil {
			return nil
		}
		select {
		case <-b.exited:
			return b.exitError()
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return &brokerError{
				Err:    fmt.Errorf("%w within %s on %s: %v", errBrokerNotReady, readyTimeout, b.addr, pingErr),
				Output: b.output.String(),
			}
		}
	}
}

// exitError describes an exited child, including the end of its output.
func (b *brokerProcess) exitError() error {
	return &brokerError{
		Err:    fmt.Errorf("%w (%v)", errBrokerExited, b.waitErr),
		Output: b.output.String(),
	}
}

// watch returns a context that is cancelled with errBrokerExited if the
// child dies, so a phase waiting on a dead broker fails at once with the
// reason instead of stalling.
func (b *brokerProcess) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-b.exited:
			cancel(b.exitError())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// stop terminates the child (SIGTERM, then SIGKILL after stopGrace) and
// removes its data directory. It is safe to call more than once.
func (b *brokerProcess) stop() {
	select {
	case <-b.exited:
	default:
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(stopGrace):
			b.log.Warn("broker ignored SIGTERM, killing it", "grace", stopGrace)
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	}
	if err := os.RemoveAll(b.dataDir); err != nil {
		b.log.Warn("could not remove data dir", "dir", b.dataDir, "err", err)
	}
}

// freeLoopbackAddr asks the kernel for an unused 127.0.0.1 port.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}
