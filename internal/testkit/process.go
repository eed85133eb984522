package testkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// This file runs a broker as a child process. It takes no test handle:
// sluice-bench launches its brokers with it too. StartProcess (below) is
// the test wrapper.

const (
	// DefaultReadyTimeout bounds how long a process may take to answer a
	// Kafka Ping (after a SIGKILL it may first recover its log).
	DefaultReadyTimeout = 60 * time.Second
	// DefaultStopTimeout is how long a SIGTERMed process gets before SIGKILL.
	DefaultStopTimeout = 15 * time.Second
	// portAttempts covers the race between picking a free port and the
	// child binding it (another process may take it in between).
	portAttempts = 3
	// errorTail is how much of the output a ProcessError carries.
	errorTail = 16 << 10
)

var (
	// ErrExited: the process exited (before serving, or while a caller
	// watched it).
	ErrExited = errors.New("broker process exited")
	// ErrNotReady: the process never answered a Kafka Ping in time.
	ErrNotReady = errors.New("broker did not become ready")
	// ErrStopTimeout: the process ignored SIGTERM for the stop timeout
	// and was killed.
	ErrStopTimeout = errors.New("broker still running after SIGTERM")
)

// ProcessError is a failure of a broker process with the end of its
// output, so a report can show the broker's own explanation.
type ProcessError struct {
	Err    error
	Output string // the last 16 KiB of the child's stdout+stderr
}

func (e *ProcessError) Error() string { return e.Err.Error() }
func (e *ProcessError) Unwrap() error { return e.Err }

// Listeners are the addresses and data directory of a process, as handed
// to ProcessConfig.Command.
type Listeners struct {
	Kafka   string // 127.0.0.1:port
	HTTP    string // 127.0.0.1:port, or "" when ProcessConfig.HTTP is false
	DataDir string
}

// ProcessConfig says how to run one broker process.
type ProcessConfig struct {
	// Name labels the process in logs and errors ("sluice" by default).
	Name string
	// Binary is the sluice executable. Empty: SluiceBinary() (the
	// SLUICE_BINARY environment variable, or cmd/sluice built once).
	Binary string
	// Args are extra `sluice serve` flags after the kit's own
	// (--data-dir, --kafka-addr, --http-addr); a flag given twice takes
	// the later value, so Args may override the kit's too. Every
	// incarnation (restarts too) gets them.
	Args []string
	// HTTP gives the process an HTTP listener (bridge and admin API) on a
	// free port; without it --http-addr is off.
	HTTP bool
	// DataDir is the broker's data directory. Empty: a fresh temporary
	// directory, removed by Close.
	DataDir string
	// Command replaces `Binary serve ...` for a broker that is not sluice
	// (the bench's kfake); it must listen on l.Kafka.
	Command func(l Listeners) *exec.Cmd
	// ClientOpts are what a client needs to connect (TLS, SASL); the
	// readiness ping uses them.
	ClientOpts []kgo.Opt
	// ReadyTimeout and StopTimeout replace the defaults when positive.
	ReadyTimeout, StopTimeout time.Duration
	// Output also receives the process's stdout and stderr (e.g. a file to
	// follow a long run); the kit keeps the newest 4 MiB in memory anyway.
	Output io.Writer
	// SharedPluginCache links the data directory's plugin compilation
	// cache to the kit's shared one (see plugincache.go); StartProcess and
	// StartCluster set it, so a module compiles once per machine, not once
	// per broker.
	SharedPluginCache bool
	// IgnoreStopError: for tests (StartProcess), an unclean exit on stop
	// does not fail the test (cluster members stopped one after another,
	// whose shutdown may race the others' leaving).
	IgnoreStopError bool
	// Logger receives the kit's events (started, signalled, killed).
	// Nil: discarded.
	Logger *slog.Logger
}

// Process is a broker child process and its later incarnations, which
// reuse its ports and data directory so clients reconnect transparently.
type Process struct {
	cfg     ProcessConfig
	l       Listeners
	ownDir  bool       // DataDir is the kit's temporary directory
	out     *logBuffer // the child's output and the kit's marker lines
	child   *logBuffer // the child's output alone, for ProcessError
	outW    io.Writer  // where markers go
	childW  io.Writer  // where the child's stdout and stderr go
	log     *slog.Logger
	binary  string
	closeMu sync.Mutex

	mu  sync.Mutex
	cur *incarnation
}

// incarnation is one run of the process.
type incarnation struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // exit status; read only after done closes
}

func (in *incarnation) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// LaunchProcess starts a broker process on free 127.0.0.1 ports and waits
// until it answers a Kafka Ping. Stop it with Close (or Stop). A failure
// to start is a *ProcessError carrying the process's output.
func LaunchProcess(ctx context.Context, cfg ProcessConfig) (*Process, error) {
	if cfg.Name == "" {
		cfg.Name = "sluice"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	p := &Process{cfg: cfg, out: &logBuffer{}, child: &logBuffer{limit: errorTail}, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p.log = p.log.With("broker", cfg.Name)
	p.outW = p.out
	if cfg.Output != nil {
		p.outW = io.MultiWriter(p.out, cfg.Output)
	}
	p.childW = io.MultiWriter(p.outW, p.child)
	if cfg.Command == nil {
		p.binary = cfg.Binary
		if p.binary == "" {
			bin, err := SluiceBinary()
			if err != nil {
				return nil, err
			}
			p.binary = bin
		}
	}
	p.l.DataDir = cfg.DataDir
	if p.l.DataDir == "" {
		dir, err := os.MkdirTemp("", "sluice-testkit-"+safeName(cfg.Name)+"-")
		if err != nil {
			return nil, err
		}
		p.l.DataDir, p.ownDir = dir, true
	}
	if cfg.SharedPluginCache && cfg.Command == nil {
		linkPluginCache(p.l.DataDir)
	}
	var err error
	for range portAttempts {
		if p.l.Kafka, p.l.HTTP, err = freeListeners(cfg.HTTP); err != nil {
			break
		}
		if err = p.launch(ctx); err == nil {
			return p, nil
		}
		// Only a lost race for a port is worth another try; a crash or a
		// hang will not get better by repetition.
		var pe *ProcessError
		if !errors.As(err, &pe) || !strings.Contains(pe.Output, "address already in use") || ctx.Err() != nil {
			break
		}
		p.log.Warn("broker exited during start-up, retrying on other ports", "err", err)
	}
	p.removeDir()
	return nil, err
}

// Addr is the Kafka listener's address.
func (p *Process) Addr() string { return p.l.Kafka }

// HTTPAddr is the HTTP listener's address ("" without ProcessConfig.HTTP).
func (p *Process) HTTPAddr() string { return p.l.HTTP }

// HTTPBase is "http://" + HTTPAddr ("" without an HTTP listener).
func (p *Process) HTTPBase() string {
	if p.l.HTTP == "" {
		return ""
	}
	return "http://" + p.l.HTTP
}

// DataDir is the broker's data directory.
func (p *Process) DataDir() string { return p.l.DataDir }

// Name is ProcessConfig.Name.
func (p *Process) Name() string { return p.cfg.Name }

// ClientOpts are ProcessConfig.ClientOpts.
func (p *Process) ClientOpts() []kgo.Opt { return p.cfg.ClientOpts }

// Args are the command line of the process (without the binary).
func (p *Process) Args() []string { return p.command().Args[1:] }

// PID is the process id of the current incarnation.
func (p *Process) PID() int { return p.current().cmd.Process.Pid }

// Output is the process's stdout and stderr so far (all incarnations,
// with a marker line at every start and signal; the newest 4 MiB).
func (p *Process) Output() string { return p.out.String() }

// Mark writes a marker line into the captured output, e.g. what a test is
// about to do, so a dumped log reads in order.
func (p *Process) Mark(format string, args ...any) {
	fmt.Fprintf(p.outW, "=== testkit: "+format+"\n", args...)
}

// Running reports whether the current incarnation is alive.
func (p *Process) Running() bool { return !p.current().exited() }

// Exited is closed when the current incarnation has exited.
func (p *Process) Exited() <-chan struct{} { return p.current().done }

func (p *Process) command() *exec.Cmd {
	if p.cfg.Command != nil {
		return p.cfg.Command(p.l)
	}
	http := p.l.HTTP
	if http == "" {
		http = "off"
	}
	args := append([]string{"serve", "--data-dir", p.l.DataDir, "--kafka-addr", p.l.Kafka, "--http-addr", http}, p.cfg.Args...)
	return exec.Command(p.binary, args...)
}

// launch starts an incarnation on p.l and waits until it serves.
func (p *Process) launch(ctx context.Context) error {
	cmd := p.command()
	if cmd.Env == nil {
		cmd.Env = brokerEnv()
	}
	cmd.Stdout, cmd.Stderr = p.childW, p.childW
	setProcAttr(cmd)
	p.Mark("start %s", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.cfg.Name, err)
	}
	in := &incarnation{cmd: cmd, done: make(chan struct{})}
	go func() {
		in.err = cmd.Wait()
		close(in.done)
	}()
	p.mu.Lock()
	p.cur = in
	p.mu.Unlock()
	p.log.Info("broker started", "pid", cmd.Process.Pid, "addr", p.l.Kafka)
	if err := p.waitReady(ctx, in); err != nil {
		_ = p.terminate(in) // the readiness error says more than the exit status
		return err
	}
	return nil
}

// waitReady waits until the broker answers a Ping and its HTTP listener
// (if it has one) accepts a connection, it exits, or time runs out. The
// HTTP listener opens after the Kafka one, tens of ms later on a loaded
// machine: a test that restarted a broker and read its /metrics at once
// got "connection refused".
func (p *Process) waitReady(ctx context.Context, in *incarnation) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.l.Kafka), kgo.RequestRetries(0)}, p.cfg.ClientOpts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	deadline := time.Now().Add(p.cfg.ReadyTimeout)
	for {
		attempt, cancel := context.WithTimeout(ctx, time.Second)
		notReady := cl.Ping(attempt)
		if notReady == nil && p.l.HTTP != "" {
			var c net.Conn
			if c, notReady = (&net.Dialer{}).DialContext(attempt, "tcp", p.l.HTTP); notReady == nil {
				c.Close()
			}
		}
		cancel()
		if notReady == nil {
			return nil
		}
		select {
		case <-in.done:
			return p.exitError(in)
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return &ProcessError{
				Err:    fmt.Errorf("%w within %s on %s: %v", ErrNotReady, p.cfg.ReadyTimeout, p.l.Kafka, notReady),
				Output: p.child.String(),
			}
		}
	}
}

func (p *Process) exitError(in *incarnation) error {
	return &ProcessError{Err: fmt.Errorf("%w (%v)", ErrExited, in.err), Output: p.child.String()}
}

// ExitError describes the exited current incarnation (nil while it runs).
func (p *Process) ExitError() error {
	in := p.current()
	if !in.exited() {
		return nil
	}
	return p.exitError(in)
}

// Watch returns a context cancelled with an ErrExited *ProcessError as
// soon as the current incarnation dies, so a caller waiting on a dead
// broker fails at once with the reason instead of stalling.
func (p *Process) Watch(ctx context.Context) (context.Context, context.CancelFunc) {
	in := p.current()
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-in.done:
			cancel(p.exitError(in))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Signal sends sig to the current incarnation (e.g. SIGSTOP to pause it).
func (p *Process) Signal(sig os.Signal) error {
	in := p.current()
	if in.exited() {
		return p.exitError(in)
	}
	p.Mark("%v", sig)
	return in.cmd.Process.Signal(sig)
}

// Kill SIGKILLs the current incarnation and waits until it is reaped: a
// crash, with no flush and no clean-shutdown marker. Killing an exited
// process is a no-op.
func (p *Process) Kill() {
	in := p.current()
	if in.exited() {
		return
	}
	p.Mark("SIGKILL")
	_ = in.cmd.Process.Kill()
	<-in.done
}

// Stop shuts the current incarnation down with SIGTERM (after a SIGCONT,
// in case it was paused), escalating to SIGKILL after the stop timeout.
// It returns why the exit was not clean, if it was not. Stopping an exited
// process returns nil.
func (p *Process) Stop() error {
	in := p.current()
	if in.exited() {
		return nil
	}
	return p.terminate(in)
}

func (p *Process) terminate(in *incarnation) error {
	_ = in.cmd.Process.Signal(syscall.SIGCONT)
	p.Mark("SIGTERM")
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.done:
		return in.err
	case <-time.After(p.cfg.StopTimeout):
		p.log.Warn("broker ignored SIGTERM, killing it", "grace", p.cfg.StopTimeout)
		p.Mark("SIGKILL after %v", p.cfg.StopTimeout)
		_ = in.cmd.Process.Kill()
		<-in.done
		return fmt.Errorf("%s: %w (%v)", p.cfg.Name, ErrStopTimeout, p.cfg.StopTimeout)
	}
}

// Start starts a new incarnation of a stopped or killed process on the
// same ports and data directory and waits until it serves.
func (p *Process) Start(ctx context.Context) error {
	if p.Running() {
		return fmt.Errorf("%s is running", p.cfg.Name)
	}
	return p.launch(ctx)
}

// Restart stops the process cleanly (unless it has exited already, e.g.
// after Kill) and starts it again; see Start.
func (p *Process) Restart(ctx context.Context) error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.launch(ctx)
}

// Close stops the process and removes its data directory if the kit
// made it. It is safe to call more than once.
func (p *Process) Close() error {
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	err := p.Stop()
	p.removeDir()
	return err
}

func (p *Process) removeDir() {
	if !p.ownDir {
		return
	}
	if err := os.RemoveAll(p.l.DataDir); err != nil {
		p.log.Warn("could not remove data dir", "dir", p.l.DataDir, "err", err)
	}
	p.ownDir = false
}

func (p *Process) current() *incarnation {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
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

// freeListeners picks a free Kafka port and, if http, a second one. The
// first listener stays open while the second is picked, so the kernel
// cannot hand the same port out twice.
func freeListeners(http bool) (kafka, httpAddr string, err error) {
	addrs, err := FreeAddrs(1 + btoi(http))
	if err != nil {
		return "", "", err
	}
	if http {
		httpAddr = addrs[1]
	}
	return addrs[0], httpAddr, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FreeAddrs returns n distinct 127.0.0.1 addresses whose ports were free a
// moment ago. The listeners stay open until all n are chosen: closing each
// at once lets the kernel hand the same port out twice.
//
// The ports come from below the kernel's ephemeral range when it leaves
// room: a broker restarted on its old ports (Process.Start) must find
// them still free, and any outbound connection (a client, a ZooKeeper
// session, a replica fetcher) takes its local port from the ephemeral
// range, so a port picked there could be in use by the time the broker
// comes back ("bind: address already in use").
func FreeAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := range addrs {
		ln, err := listenFreePort()
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		addrs[i] = ln.Addr().String()
	}
	return addrs, nil
}

// handedOut are the ports FreeAddrs gave out in this process. A port is
// free only until its broker binds it, and members start concurrently:
// two random picks of the same port (seen in CI: two brokers of one
// cluster given the same HTTP port) would both look free. Never handing a
// port out twice per process rules that out; a test binary uses a few
// hundred of the range's 12,000.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// listenFreePort listens on a random free 127.0.0.1 port below the
// ephemeral range not handed out before, falling back to any free port.
func listenFreePort() (net.Listener, error) {
	lo, hi := listenPortRange()
	if hi-lo >= 1000 {
		handedOut.Lock()
		defer handedOut.Unlock()
		for range 64 {
			port := lo + rand.IntN(hi-lo)
			if handedOut.ports[port] {
				continue
			}
			if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
				handedOut.ports[port] = true
				return ln, nil
			}
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// listenPortRange is [lo, hi): up to 12,000 ports ending where the kernel's
// ephemeral range starts (32768 on Linux unless configured otherwise), and
// never below 10000 (well-known and registered services).
func listenPortRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				hi = v
			}
		}
	}
	lo = max(hi-12000, 10000)
	return lo, hi
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
