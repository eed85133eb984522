package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicemq/sluice/internal/testkit"
)

const (
	// readyTimeout bounds a start, including log recovery after SIGKILL.
	readyTimeout = 90 * time.Second
	// stopTimeout is how long a SIGTERMed broker gets before SIGKILL.
	stopTimeout = 30 * time.Second
)

// broker runs `sluice serve` and its successors on one data dir and the
// same ports, so clients reconnect to the same addresses after restarts.
// The process itself is a testkit.Process, the launcher the tests and
// sluice-bench use (free ports, readiness ping, SIGTERM then SIGKILL);
// this type adds the soak's counting of restarts, slow stops and crashes.
type broker struct {
	proc     *testkit.Process
	addr     string // Kafka listener
	httpAddr string // HTTP bridge
	log      *slog.Logger
	out      *os.File // logPath, every incarnation's output
	logPath  string

	mu  sync.Mutex
	cur *incarnation

	// Counted by the soak.
	sigterms, sigkills, slowStops, crashes int
}

// incarnation is one run of the process, so an exit can be told apart as
// expected (the soak signalled it) or a crash.
type incarnation struct {
	done     <-chan struct{}
	expected bool // we signalled it: its exit is not a crash
}

func newBroker(bin, dir string, extra []string, log *slog.Logger) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "bridge.json")
	// No per-IP rate limit: the soak's beacon producer is one IP.
	if err := os.WriteFile(cfg, []byte(`{"rate_limit_per_second": -1}`), 0o600); err != nil {
		return nil, err
	}
	// The log file keeps every incarnation's output for the report (and
	// for TestSoakShort to show on failure); the kit keeps a tail too.
	logPath := filepath.Join(dir, "broker.log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	b := &broker{log: log, out: out, logPath: logPath}
	b.proc, err = testkit.LaunchProcess(context.Background(), testkit.ProcessConfig{
		Name: "sluice", Binary: bin, DataDir: filepath.Join(dir, "data"), HTTP: true,
		Args:         append([]string{"--bridge-config", cfg}, extra...),
		ReadyTimeout: readyTimeout, StopTimeout: stopTimeout, Output: out, Logger: log,
	})
	if err != nil {
		out.Close()
		return nil, err
	}
	b.addr, b.httpAddr = b.proc.Addr(), b.proc.HTTPAddr()
	b.watch()
	return b, nil
}

// watch counts the current incarnation's exit as a crash unless the soak
// signalled it first.
func (b *broker) watch() {
	in := &incarnation{done: b.proc.Exited()}
	b.mu.Lock()
	b.cur = in
	b.mu.Unlock()
	go func() {
		<-in.done
		b.mu.Lock()
		if !in.expected {
			b.crashes++
		}
		b.mu.Unlock()
	}()
}

// expect marks the current incarnation's coming exit as the soak's doing.
func (b *broker) expect() {
	b.mu.Lock()
	if b.cur != nil {
		b.cur.expected = true
	}
	b.mu.Unlock()
}

// start launches a new incarnation on the same dir and ports.
func (b *broker) start() error {
	if err := b.proc.Start(context.Background()); err != nil {
		return err
	}
	b.watch()
	return nil
}

// Pid is the running incarnation's pid, 0 if none.
func (b *broker) Pid() int {
	if !b.proc.Running() {
		return 0
	}
	return b.proc.PID()
}

// stop signals the running incarnation and waits; a SIGTERM escalates to
// SIGKILL after stopTimeout (counted as a slow stop). It returns why a
// SIGTERMed broker's exit was not clean.
func (b *broker) stop(sig syscall.Signal) error {
	b.expect()
	if sig == syscall.SIGKILL {
		b.proc.Kill()
		return nil
	}
	err := b.proc.Stop()
	if errors.Is(err, testkit.ErrStopTimeout) {
		b.mu.Lock()
		b.slowStops++
		b.mu.Unlock()
	}
	return err
}

// Restart stops the broker with sig and starts it again on the same dir
// and ports. A broker that died by itself (a crash) is just started.
// stopErr says why a SIGTERMed broker's exit was not clean; err is the
// start's failure.
func (b *broker) Restart(sig syscall.Signal) (stopErr, err error) {
	b.mu.Lock()
	if sig == syscall.SIGKILL {
		b.sigkills++
	} else {
		b.sigterms++
	}
	b.mu.Unlock()
	if stopErr = b.stop(sig); stopErr != nil {
		b.log.Warn("broker exited uncleanly on SIGTERM", "err", stopErr)
	}
	return stopErr, b.start()
}

// EnsureUp restarts a broker that exited without being told to.
func (b *broker) EnsureUp() (restarted bool, err error) {
	if b.proc.Running() {
		return false, nil
	}
	b.log.Error("broker is not running: restarting it", "exit", b.proc.ExitError(), "log_tail", b.logTail(2000))
	return true, b.start()
}

// Stop shuts the broker down with SIGTERM; it says whether the exit was clean.
func (b *broker) Stop() error {
	if !b.proc.Running() {
		return fmt.Errorf("broker had already exited: %w", b.proc.ExitError())
	}
	return b.stop(syscall.SIGTERM)
}

// Close kills a broker still running (the soak's deferred cleanup after
// Stop or a failure) and closes its log file.
func (b *broker) Close() {
	if b.proc.Running() {
		_ = b.stop(syscall.SIGKILL)
	}
	b.out.Close()
}

func (b *broker) counts() (sigterms, sigkills, slowStops, crashes int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sigterms, b.sigkills, b.slowStops, b.crashes
}

// logTail is the last n bytes of the broker's output.
func (b *broker) logTail(n int) string {
	out := b.proc.Output()
	return out[max(len(out)-n, 0):]
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
