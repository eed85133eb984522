// Package cluster_test runs Sluice clusters: a real ZooKeeper server
// (Debian's package, started on a free loopback port) and three `sluice
// serve --zookeeper` processes, and checks replication, failover and
// leader election with real clients.
package cluster_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/testkit"
)

// zkServer is the package's shared ZooKeeper server (nil under -short,
// where every test skips).
var zkServer *zktest.Server

func TestMain(m *testing.M) {
	// The kit builds the sluice binary on first use (never under -short:
	// every test here needs ZooKeeper and skips) and removes it after.
	defer testkit.RemoveBuilt()
	zktest.RunMain(m, func(s *zktest.Server) { zkServer = s })
}

// node is one broker process of a test cluster: the kit's member with the
// names these tests use.
type node struct {
	t    *testing.T
	id   int32
	addr string
	http string // HTTP bridge / admin listener
	dir  string
	logs output
	proc *testkit.Proc
}

// output reads a process's captured stdout and stderr.
type output struct{ p *testkit.Proc }

func (o output) String() string { return o.p.Output() }

// testCluster is n brokers sharing a ZooKeeper chroot.
type testCluster struct {
	t     *testing.T
	kit   *testkit.Cluster
	nodes []*node
}

// sessionTimeout is short so a paused broker loses its registration fast.
const sessionTimeout = testkit.ClusterSessionTimeout

func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	return startClusterWith(t, n, nil, extra...)
}

// startClusterWith is startCluster for brokers whose listeners need the
// client options clientOpts (SASL, TLS).
func startClusterWith(t *testing.T, n int, clientOpts []kgo.Opt, extra ...string) *testCluster {
	t.Helper()
	cfg := testkit.ClusterConfig{ZK: zktest.Need(t, zkServer), Processes: n, Args: extra, ClientOpts: clientOpts, HTTP: true}
	if dir := os.Getenv("CLUSTER_LOG_DIR"); dir != "" {
		// Also to a file, to follow a long run (make chaos) as it goes.
		cfg.Output = func(id int32) io.Writer {
			f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("broker-%d.log", id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return io.Discard
			}
			t.Cleanup(func() { f.Close() })
			return f
		}
	}
	kc := testkit.StartCluster(t, cfg)
	c := &testCluster{t: t, kit: kc}
	for _, m := range kc.Members {
		c.nodes = append(c.nodes, &node{t: t, id: m.ID, addr: m.Addr, http: m.HTTP, dir: m.Proc.DataDir(), logs: output{m.Proc}, proc: m.Proc})
	}
	return c
}

// start starts a stopped or killed broker again (same ports and data) and
// waits until it serves.
func (nd *node) start() { nd.proc.Start() }

func (nd *node) signal(sig syscall.Signal) { _ = nd.proc.Signal(sig) }

// running reports whether the broker process is alive.
func (nd *node) running() bool { return nd.proc.Running() }

// kill SIGKILLs the broker and waits for it to die.
func (nd *node) kill() { nd.proc.Kill() }

func (c *testCluster) seeds() []string { return c.kit.Seeds() }

func (c *testCluster) node(id int32) *node {
	for _, nd := range c.nodes {
		if nd.id == id {
			return nd
		}
	}
	c.t.Fatalf("no broker %d", id)
	return nil
}
