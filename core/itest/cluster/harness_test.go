// Package cluster_test runs Sluice clusters: a real ZooKeeper server
// (Debian's package, started on a free loopback port) and three `sluice
// serve --zookeeper` processes, and checks replication, failover and
// leader election with real clients.
package cluster_test

import (
	"context"
	"flag"
	"fmt"
	"io"
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

	"github.com/sluicemq/sluice/core/meta/zktest"
)

var (
	sluiceBinary string
	zkServer     *zktest.Server
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test runs brokers against ZooKeeper and skips (through
		// startCluster's zktest.Need): no binary to build.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sluice-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBinary = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBinary, "github.com/sluicemq/sluice/cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.Exit(1)
	}
	code := 0
	zktest.RunMain(m, func(s *zktest.Server) { zkServer = s })
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one broker process of a test cluster.
type node struct {
	t      *testing.T
	id     int32
	addr   string
	http   string // HTTP bridge / admin listener
	dir    string
	args   []string
	logs   *syncBuffer
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}

	// clientOpts log the harness's readiness probe in (SASL, TLS).
	clientOpts []kgo.Opt
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePorts returns n distinct free loopback addresses. The listeners
// stay open until all n are chosen: closing each at once let the kernel
// hand the same port out twice (a broker's HTTP port was another's Kafka
// port, and one failed with "address already in use").
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// testCluster is n brokers sharing a ZooKeeper chroot.
type testCluster struct {
	t     *testing.T
	nodes []*node
}

// sessionTimeout is short so a paused broker loses its registration fast.
const sessionTimeout = 2 * time.Second

func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	return startClusterWith(t, n, nil, extra...)
}

// startClusterWith is startCluster for brokers whose listeners need the
// client options clientOpts (SASL, TLS).
func startClusterWith(t *testing.T, n int, clientOpts []kgo.Opt, extra ...string) *testCluster {
	t.Helper()
	zk := zktest.Need(t, zkServer)
	chroot := "/" + strings.ReplaceAll(t.Name(), "/", "_")
	c := &testCluster{t: t}
	ports := freePorts(t, 2*n)
	for i := 0; i < n; i++ {
		nd := &node{t: t, id: int32(i + 1), addr: ports[2*i], http: ports[2*i+1], dir: t.TempDir(), logs: &syncBuffer{}, clientOpts: clientOpts}
		nd.args = append([]string{"serve",
			"--broker-id", strconv.Itoa(int(nd.id)),
			"--data-dir", nd.dir,
			"--kafka-addr", nd.addr,
			"--http-addr", nd.http,
			"--zookeeper", zk.Addr + chroot,
			"--zookeeper-session-timeout", sessionTimeout.String(),
			"--replica-lag-time-max", "3s",
			"--offsets-topic-partitions", "3",
			"--group-initial-rebalance-delay", "0s",
			"--group-min-session-timeout", "1s",
			"--preferred-leader-interval", "-1s",
		}, extra...)
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.stop()
		}
		if t.Failed() {
			for _, nd := range c.nodes {
				t.Logf("broker %d log:\n%s", nd.id, nd.logs.String())
			}
		}
	})
	for _, nd := range c.nodes {
		nd.start()
	}
	for _, nd := range c.nodes {
		nd.waitReady()
	}
	return c
}

func (nd *node) start() {
	nd.t.Helper()
	cmd := exec.Command(sluiceBinary, nd.args...)
	cmd.Stdout, cmd.Stderr = nd.logs, nd.logs
	if dir := os.Getenv("CLUSTER_LOG_DIR"); dir != "" {
		// Also to a file, to follow a long run (make chaos) as it goes.
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("broker-%d.log", nd.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			w := io.MultiWriter(nd.logs, f)
			cmd.Stdout, cmd.Stderr = w, w
		}
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	fmt.Fprintf(nd.logs, "=== start broker %d\n", nd.id)
	if err := cmd.Start(); err != nil {
		nd.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	nd.mu.Lock()
	nd.cmd, nd.exited = cmd, exited
	nd.mu.Unlock()
}

func (nd *node) waitReady() {
	nd.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(nd.addr)}, nd.clientOpts...)...)
	if err != nil {
		nd.t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := cl.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			nd.t.Fatalf("broker %d not ready: %v", nd.id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (nd *node) signal(sig syscall.Signal) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil && nd.cmd.Process != nil {
		fmt.Fprintf(nd.logs, "=== %v broker %d\n", sig, nd.id)
		nd.cmd.Process.Signal(sig)
	}
}

// running reports whether the broker process is alive.
func (nd *node) running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.exited == nil {
		return false
	}
	select {
	case <-nd.exited:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the broker and waits for it to die.
func (nd *node) kill() {
	nd.signal(syscall.SIGKILL)
	nd.mu.Lock()
	ch := nd.exited
	nd.mu.Unlock()
	<-ch
}

func (nd *node) stop() {
	nd.mu.Lock()
	cmd, ch := nd.cmd, nd.exited
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-ch:
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-ch
	}
}

func (c *testCluster) seeds() []string {
	var out []string
	for _, nd := range c.nodes {
		out = append(out, nd.addr)
	}
	return out
}

func (c *testCluster) node(id int32) *node {
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	c.t.Fatalf("no broker %d", id)
	return nil
}
