package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// readyTimeout bounds a start, including log recovery after SIGKILL.
	readyTimeout = 90 * time.Second
	// stopTimeout is how long a SIGTERMed broker gets before SIGKILL.
	stopTimeout = 30 * time.Second
)

// broker runs `sluice serve` and its successors on one data dir and the
// same ports, so clients reconnect to the same addresses after restarts.
type broker struct {
	bin       string
	dataDir   string
	addr      string // Kafka listener
	httpAddr  string // HTTP bridge
	logPath   string
	extraArgs []string
	log       *slog.Logger

	mu   sync.Mutex
	proc *process

	// Counted by the soak.
	sigterms, sigkills, slowStops, crashes int
}

type process struct {
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	expected bool // we signalled it: its exit is not a crash
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func newBroker(bin, dir string, extra []string, log *slog.Logger) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &broker{bin: bin, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "broker.log"),
		extraArgs: extra, log: log}
	cfg := filepath.Join(dir, "bridge.json")
	// No per-IP rate limit: the soak's beacon producer is one IP.
	if err := os.WriteFile(cfg, []byte(`{"rate_limit_per_second": -1}`), 0o600); err != nil {
		return nil, err
	}
	b.extraArgs = append([]string{"--bridge-config", cfg}, b.extraArgs...)
	var err error
	for range 3 { // a picked port can be taken before the broker binds it
		if b.addr, err = freeAddr(); err != nil {
			return nil, err
		}
		if b.httpAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		if err = b.launch(); err == nil {
			return b, nil
		}
		if !strings.Contains(b.logTail(4096), "address already in use") {
			break
		}
	}
	return nil, err
}

func (b *broker) args() []string {
	return append([]string{"serve", "--data-dir", b.dataDir, "--kafka-addr", b.addr, "--http-addr", b.httpAddr}, b.extraArgs...)
}

// launch starts an incarnation and waits until a client's Ping succeeds.
func (b *broker) launch() error {
	out, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=== soak %s: starting %s\n", time.Now().Format(time.RFC3339), strings.Join(b.args(), " "))
	cmd := exec.Command(b.bin, b.args()...)
	cmd.Env = brokerEnv()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start sluice: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		b.mu.Lock()
		if !p.expected {
			b.crashes++
		}
		b.mu.Unlock()
		close(p.done)
	}()
	b.mu.Lock()
	b.proc = p
	b.mu.Unlock()
	if err := b.waitReady(p); err != nil {
		b.stopProc(p, syscall.SIGKILL)
		return err
	}
	return nil
}

func (b *broker) waitReady(p *process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.RequestRetries(0))
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
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// brokerEnv drops SLUICE_* variables so the soak runs on defaults.
func brokerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return env
}

func (b *broker) current() *process {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.proc
}

// Pid is the running incarnation's pid, 0 if none.
func (b *broker) Pid() int {
	p := b.current()
	if p == nil || p.exited() {
		return 0
	}
	return p.cmd.Process.Pid
}

// stopProc signals p and waits; a SIGTERM escalates to SIGKILL after
// stopTimeout (counted as a slow stop).
func (b *broker) stopProc(p *process, sig syscall.Signal) {
	b.mu.Lock()
	p.expected = true
	b.mu.Unlock()
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	b.mu.Lock()
	b.slowStops++
	b.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Restart stops the broker with sig and starts it again on the same dir
// and ports. A broker that died by itself (a crash) is just started.
func (b *broker) Restart(sig syscall.Signal) error {
	p := b.current()
	b.mu.Lock()
	if sig == syscall.SIGKILL {
		b.sigkills++
	} else {
		b.sigterms++
	}
	b.mu.Unlock()
	b.stopProc(p, sig)
	if sig == syscall.SIGTERM && p.err != nil {
		b.log.Warn("broker exited uncleanly on SIGTERM", "err", p.err)
	}
	return b.launch()
}

// EnsureUp restarts a broker that exited without being told to.
func (b *broker) EnsureUp() (restarted bool, err error) {
	p := b.current()
	if p != nil && !p.exited() {
		return false, nil
	}
	b.log.Error("broker is not running: restarting it", "exit", p.err, "log_tail", b.logTail(2000))
	return true, b.launch()
}

// Stop shuts the broker down with SIGTERM; it says whether the exit was clean.
func (b *broker) Stop() error {
	p := b.current()
	if p == nil {
		return nil
	}
	if p.exited() {
		return fmt.Errorf("broker had already exited: %v", p.err)
	}
	b.stopProc(p, syscall.SIGTERM)
	return p.err
}

func (b *broker) counts() (sigterms, sigkills, slowStops, crashes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sigterms, b.sigkills, b.slowStops, b.crashes
}

// logTail is the last n bytes of the broker's log.
func (b *broker) logTail(n int64) string {
	f, err := os.Open(b.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return string(buf)
}

// procSample is one reading of the broker's memory and fds.
type procSample struct {
	rssKB, hwmKB int64
	fds          int
}

var errNoProc = errors.New("no broker process")

func sampleProc(pid int) (procSample, error) {
	if pid == 0 {
		return procSample{}, errNoProc
	}
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKB, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			s.hwmKB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(ents)
	return s, nil
}
