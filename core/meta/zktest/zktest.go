// Package zktest runs a real Apache ZooKeeper server for tests: a
// standalone server (Debian's `zookeeper` package, which
// scripts/install-zk-test-deps.sh installs) started as a child process with
// its data in a temporary directory, listening on a free 127.0.0.1 port,
// with the admin HTTP server and four-letter-word commands off.
//
// The JVM takes about a second to start, so a test package usually shares
// one server: call RunMain from TestMain and give each test its own chroot.
package zktest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
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

	"github.com/go-zookeeper/zk"
)

const (
	// TickTime is the server's tick. Session timeouts are clamped to
	// [MinSessionTimeout, MaxSessionTimeout] and expired sessions are
	// reaped about once per tick.
	TickTime          = 200 * time.Millisecond
	MinSessionTimeout = 2 * TickTime
	MaxSessionTimeout = 30 * time.Second

	startTimeout = 60 * time.Second
	stopTimeout  = 10 * time.Second
	bindAttempts = 3
)

// Server is a running ZooKeeper server.
type Server struct {
	// Addr is the client address, 127.0.0.1:port.
	Addr string

	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited closes

	stopOnce sync.Once
	stopErr  error
}

// Start starts a server for one test, in t.TempDir(), stopped by t.Cleanup.
// A server that cannot start fails the test: tests never skip for a
// missing tool, except under -short, where every ZooKeeper test skips (a
// quick loop needs no JVM).
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb)
}

// StartWith is Start with extra zoo.cfg lines ("key=value"), e.g.
// "enforce.auth.enabled=true" for a server that requires authentication.
func StartWith(tb testing.TB, extraConfig ...string) *Server {
	tb.Helper()
	SkipShort(tb)
	s, err := LaunchWith(tb.TempDir(), extraConfig...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("zktest: stop: %v", err)
		}
	})
	return s
}

// SkipShort skips tb under -short: ZooKeeper needs a JVM, which
// `go test -short` does not ask for.
func SkipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs ZooKeeper (skipped by -short)")
	}
}

// Need returns s, the package's server handed over by RunMain. Under -short
// RunMain starts none and Need skips tb; every test reaching the shared
// server goes through it.
func Need(tb testing.TB, s *Server) *Server {
	tb.Helper()
	SkipShort(tb)
	if s == nil {
		tb.Fatal("zktest: no shared server (call RunMain from TestMain)")
	}
	return s
}

// RunMain starts one server for a whole test package, hands it to set,
// runs the tests, stops the server and exits. Call it from TestMain. If the
// server cannot start, every test of the package fails. Under -short no
// server starts and set is not called: tests reach the server through
// Need, which skips them.
func RunMain(m *testing.M, set func(*Server)) {
	os.Exit(runMain(m, set))
}

func runMain(m *testing.M, set func(*Server)) int {
	// testing.Short needs the flags parsed; m.Run would parse them later.
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "zktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "zktest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	s, err := Launch(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	set(s)
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "zktest: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Launch starts a server keeping its config, data and log in dir and waits
// until it accepts sessions. Stop it with Stop.
func Launch(dir string) (*Server, error) { return LaunchWith(dir) }

// LaunchWith is Launch with extra zoo.cfg lines.
func LaunchWith(dir string, extraConfig ...string) (*Server, error) {
	inst, err := locate()
	if err != nil {
		return nil, err
	}
	var lastErr error
	// The free port is found by binding and releasing it, so another process
	// can grab it before ZooKeeper binds; then try another.
	for attempt := 0; attempt < bindAttempts; attempt++ {
		s, err := launchOnce(inst, filepath.Join(dir, "zk"+strconv.Itoa(attempt)), extraConfig)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("zktest: port taken")

func launchOnce(inst install, dir string, extraConfig []string) (*Server, error) {
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:     dir,
		logPath: filepath.Join(dir, "zookeeper.log"),
		exited:  make(chan struct{}),
	}
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(zooCfg(dataDir, port, extraConfig)), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(inst.java,
		// A small, quick-starting JVM: tests need neither a big heap nor
		// the optimizing JIT.
		"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.admin.enableServer=false",
		"-Dzookeeper.4lw.commands.whitelist=",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-cp", inst.classpath,
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
	s.cmd.Dir = dir
	s.cmd.Stdout = logFile
	s.cmd.Stderr = logFile
	s.cmd.SysProcAttr = childAttrs()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("zktest: start %s: %w", inst.java, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.awaitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// zooCfg is a standalone server's configuration. forceSync=no skips the
// fsync per transaction (tests need no durability across power loss) and a
// small preAllocSize keeps the transaction log from reserving 64 MB.
func zooCfg(dataDir string, port int, extra []string) string {
	lines := []string{
		"tickTime=" + strconv.Itoa(int(TickTime/time.Millisecond)),
		"dataDir=" + dataDir,
		"clientPort=" + strconv.Itoa(port),
		"clientPortAddress=127.0.0.1",
		"maxClientCnxns=0",
		"minSessionTimeout=" + strconv.Itoa(int(MinSessionTimeout/time.Millisecond)),
		"maxSessionTimeout=" + strconv.Itoa(int(MaxSessionTimeout/time.Millisecond)),
		"admin.enableServer=false",
		"4lw.commands.whitelist=",
		"forceSync=no",
		"preAllocSize=1024",
		"autopurge.purgeInterval=0",
	}
	lines = append(lines, extra...)
	return strings.Join(lines, "\n") + "\n"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// awaitReady waits until the server grants a session (the real test of
// "up"), or fails early if the process exits.
func (s *Server) awaitReady() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			tail := s.LogTail(4096)
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%w: %s", errPortTaken, s.Addr)
			}
			return fmt.Errorf("zktest: zookeeper exited during start (%v); log:\n%s", s.waitErr, tail)
		default:
		}
		if err := s.ping(2 * time.Second); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("zktest: zookeeper on %s not ready after %v; log:\n%s", s.Addr, startTimeout, s.LogTail(4096))
}

// ping opens a session and closes it.
func (s *Server) ping(timeout time.Duration) error {
	conn, events, err := connect(s.Addr, MinSessionTimeout*5)
	if err != nil {
		return err
	}
	defer conn.Close()
	return awaitSession(events, timeout)
}

func connect(addr string, sessionTimeout time.Duration) (*zk.Conn, <-chan zk.Event, error) {
	return zk.Connect([]string{addr}, sessionTimeout,
		zk.WithLogger(log.New(io.Discard, "", 0)), zk.WithLogInfo(false))
}

func awaitSession(events <-chan zk.Event, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("zktest: connection closed")
			}
			if ev.State == zk.StateHasSession {
				return nil
			}
		case <-t.C:
			return errors.New("zktest: no session")
		}
	}
}

// Client returns a raw ZooKeeper client with an established session, closed
// by t.Cleanup, for tests that inspect or change znodes directly.
func (s *Server) Client(tb testing.TB) *zk.Conn {
	tb.Helper()
	conn, events, err := connect(s.Addr, 10*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(conn.Close)
	if err := awaitSession(events, 10*time.Second); err != nil {
		tb.Fatal(err)
	}
	go func() { // keep the event channel drained
		for range events {
		}
	}()
	return conn
}

// LogTail returns up to the last n bytes of the server's log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Stop terminates the server (SIGTERM, then SIGKILL after a grace period)
// and waits for it to exit. Calling it again returns the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.exited:
			return // already gone
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.stopErr = err
		}
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("zktest: zookeeper ignored SIGTERM for %v; killed", stopTimeout)
		}
	})
	return s.stopErr
}

// CLI runs ZooKeeper's own command-line client (zkCli.sh's
// org.apache.zookeeper.ZooKeeperMain) against the server, feeding it
// script (one command per line) on stdin, and returns its output. Tests
// use it to check procedures the docs tell operators to run.
func (s *Server) CLI(script string) (string, error) {
	inst, err := locate()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(inst.java, "-Xms16m", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", inst.classpath, "org.apache.zookeeper.ZooKeeperMain", "-server", s.Addr)
	cmd.Stdin = strings.NewReader(script + "\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("zktest: zkCli: %w", err)
	}
	return string(out), nil
}
