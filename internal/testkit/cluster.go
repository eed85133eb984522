package testkit

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/node"
)

// Cluster timings a test cluster runs with unless told otherwise: short,
// so a failed broker loses its registration and leadership moves in
// seconds, not the production defaults' tens of seconds.
const (
	ClusterSessionTimeout = 2 * time.Second
	clusterReplicaLag     = 3 * time.Second
)

// ClusterArgs are the `sluice serve` flags every process member gets
// before ClusterConfig.Args (which may override them): ZooKeeper session
// and replica lag short, three offsets partitions, no initial rebalance
// delay, consumer sessions from 1 s, and leaders left where failover put
// them (no preferred-leader election).
var ClusterArgs = []string{
	"--zookeeper-session-timeout", ClusterSessionTimeout.String(),
	"--replica-lag-time-max", clusterReplicaLag.String(),
	"--offsets-topic-partitions", "3",
	"--group-initial-rebalance-delay", "0s",
	"--group-min-session-timeout", "1s",
	"--preferred-leader-interval", "-1s",
}

// clusterConfig is ClusterArgs for an in-process member.
func clusterConfig(c *node.Config) {
	c.ZooKeeperSessionTimeout = ClusterSessionTimeout
	c.ReplicaLagMax = clusterReplicaLag
	c.OffsetsTopicPartitions = 3
	c.GroupInitialRebalanceDelay = 0
	c.GroupMinSessionTimeout = time.Second
	c.PreferredLeaderInterval = -time.Second
}

// ClusterConfig says what cluster StartCluster starts.
type ClusterConfig struct {
	// ZK is a ZooKeeper server shared by the package's tests (from
	// zktest.RunMain). Nil: the kit starts one for this test.
	ZK *zktest.Server
	// Chroot is the cluster's ZooKeeper path; default "/" + the test's
	// name, so tests sharing a server do not see each other.
	Chroot string
	// Processes members run the sluice binary (ids 1..Processes), then
	// InProcess members run in this process (the next ids).
	Processes, InProcess int
	// Args are more `sluice serve` flags for process members, after
	// ClusterArgs.
	Args []string
	// NodeOptions are StartNode options for in-process members, after
	// the cluster's settings.
	NodeOptions []Option
	// ClientOpts are what a client needs to connect (SASL, TLS).
	ClientOpts []kgo.Opt
	// HTTP gives process members an HTTP listener (in-process members
	// always have one unless NodeOptions say WithoutHTTP).
	HTTP bool
	// Output, if set, also receives process member id's output (e.g. a
	// file to follow a long run).
	Output func(id int32) io.Writer
}

// Member is one broker of a Cluster: a process (Proc set) or in-process
// (Node set).
type Member struct {
	ID   int32
	Addr string // Kafka listener
	HTTP string // HTTP listener address, "" if off
	Proc *Proc
	Node *Node
}

// HTTPBase is "http://" + HTTP.
func (m *Member) HTTPBase() string { return "http://" + m.HTTP }

// Cluster is brokers sharing a ZooKeeper chroot.
type Cluster struct {
	ZK *zktest.Server
	// Connect is the members' --zookeeper: ZK.Addr + Chroot.
	Connect string
	Members []*Member

	cfg ClusterConfig
}

// StartCluster starts a ZooKeeper cluster: the server (unless cfg.ZK),
// then cfg.Processes process members and cfg.InProcess in-process members
// on free loopback ports, and waits until every member serves and the
// metadata lists them all. Under -short the test is skipped: ZooKeeper
// needs a JVM. Members stop when the test ends; their stop errors do not
// fail it (a member leaving may race the others' shutdown), and a failed
// test shows every member's log.
func StartCluster(t TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	SkipShort(t, "needs ZooKeeper")
	c := &Cluster{ZK: cfg.ZK, cfg: cfg}
	if c.ZK == nil {
		dir := t.TempDir()
		zk, err := zktest.Launch(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := zk.Stop(); err != nil {
				t.Errorf("zookeeper: stop: %v", err)
			}
		})
		c.ZK = zk
	}
	if cfg.Chroot == "" {
		cfg.Chroot = "/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	}
	c.Connect = c.ZK.Addr + cfg.Chroot

	// Process members start together: each waits for its own Ping, so
	// the JVM-free part of the start overlaps.
	procs := make([]*Process, cfg.Processes)
	errs := make([]error, cfg.Processes)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			procs[i], errs[i] = LaunchProcess(context.Background(), c.processConfig(t, int32(i+1)))
		}()
	}
	wg.Wait()
	for i, p := range procs {
		if p != nil {
			c.Members = append(c.Members, c.adoptProcess(t, int32(i+1), p))
		}
	}
	for i, err := range errs {
		if err != nil {
			failStart(t, fmt.Sprintf("broker %d", i+1), err)
		}
	}
	for i := range cfg.InProcess {
		c.AddNode(t, int32(cfg.Processes+i+1))
	}
	c.WaitBrokers(t, len(c.Members))
	return c
}

func (c *Cluster) processConfig(t TB, id int32, extra ...string) ProcessConfig {
	args := append([]string{"--broker-id", strconv.Itoa(int(id)), "--zookeeper", c.Connect}, ClusterArgs...)
	args = append(append(args, c.cfg.Args...), extra...)
	pc := ProcessConfig{Name: fmt.Sprintf("broker %d", id), Args: args, HTTP: c.cfg.HTTP,
		DataDir: t.TempDir(), ClientOpts: c.cfg.ClientOpts, IgnoreStopError: true, SharedPluginCache: true}
	if c.cfg.Output != nil {
		pc.Output = c.cfg.Output(id)
	}
	return pc
}

func (c *Cluster) adoptProcess(t TB, id int32, p *Process) *Member {
	pr := adopt(t, p)
	return &Member{ID: id, Addr: p.Addr(), HTTP: p.HTTPAddr(), Proc: pr}
}

// AddProcess starts one more process member with broker id and extra
// serve flags (after the cluster's).
func (c *Cluster) AddProcess(t TB, id int32, extra ...string) *Member {
	t.Helper()
	m := &Member{ID: id}
	m.Proc = StartProcess(t, c.processConfig(t, id, extra...))
	m.Addr, m.HTTP = m.Proc.Addr(), m.Proc.HTTPAddr()
	c.Members = append(c.Members, m)
	return m
}

// AddNode starts one more in-process member with broker id; opts come
// after the cluster's settings and NodeOptions.
func (c *Cluster) AddNode(t TB, id int32, opts ...Option) *Member {
	t.Helper()
	all := append([]Option{
		WithConfig(func(b *node.Config) {
			b.BrokerID, b.ZooKeeper = id, c.Connect
			clusterConfig(b)
		}),
		WithStopErrorIgnored(),
		WithStartTimeout(2 * DefaultStartTimeout),
	}, c.cfg.NodeOptions...)
	n := StartNode(t, append(all, opts...)...)
	m := &Member{ID: id, Addr: n.Addrs.Kafka, HTTP: n.Addrs.HTTP, Node: n}
	c.Members = append(c.Members, m)
	return m
}

// Seeds are the members' Kafka addresses.
func (c *Cluster) Seeds() []string {
	var out []string
	for _, m := range c.Members {
		out = append(out, m.Addr)
	}
	return out
}

// Member returns the member with broker id, failing t if there is none.
func (c *Cluster) Member(t TB, id int32) *Member {
	t.Helper()
	for _, m := range c.Members {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no broker %d", id)
	return nil
}

// Client returns a client seeded with every member, closed when the test
// ends.
func (c *Cluster) Client(t TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, append(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, c.cfg.ClientOpts...), opts...))
}

// CreateTopic creates a topic with partitions partitions and replicas
// replicas; any error fails the test.
func (c *Cluster) CreateTopic(t TB, name string, partitions int32, replicas int16) {
	t.Helper()
	createTopics(t, append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, c.cfg.ClientOpts...), partitions, replicas, name)
}

// WaitBrokers waits (60 s at most) until the cluster's metadata lists
// want brokers.
func (c *Cluster) WaitBrokers(t TB, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), DefaultReadyTimeout)
	defer cancel()
	if err := WaitForBrokers(ctx, append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, c.cfg.ClientOpts...), want); err != nil {
		t.Fatalf("%v\n%s", err, c.registrationReport())
	}
}

// registrationReport says what ZooKeeper holds under the chroot's
// /brokers/ids and which brokers each member's own metadata lists: when
// a cluster does not assemble, it tells a registration that never
// reached ZooKeeper from a member whose view of it is stale.
func (c *Cluster) registrationReport() string {
	var b strings.Builder
	chroot := strings.TrimPrefix(c.Connect, c.ZK.Addr)
	conn, _, err := zk.Connect([]string{c.ZK.Addr}, 5*time.Second, zk.WithLogInfo(false), zk.WithLogger(discardZKLog{}))
	if err != nil {
		fmt.Fprintf(&b, "zookeeper: connect: %v\n", err)
	} else {
		defer conn.Close()
		ids, stat, err := conn.Children(chroot + "/brokers/ids")
		if err != nil {
			fmt.Fprintf(&b, "zookeeper: list %s/brokers/ids: %v\n", chroot, err)
		} else {
			fmt.Fprintf(&b, "zookeeper %s/brokers/ids (cversion %d): %v\n", chroot, stat.Cversion, ids)
			for _, id := range ids {
				data, st, err := conn.Get(chroot + "/brokers/ids/" + id)
				if err != nil {
					fmt.Fprintf(&b, "  %s: %v\n", id, err)
					continue
				}
				fmt.Fprintf(&b, "  %s: owner 0x%x czxid %d: %s\n", id, st.EphemeralOwner, st.Czxid, data)
			}
		}
	}
	for _, m := range c.Members {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(m.Addr)}, c.cfg.ClientOpts...)...)
		if err != nil {
			fmt.Fprintf(&b, "member %d: client: %v\n", m.ID, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl.SeedBrokers()[0])
		cancel()
		cl.Close()
		if err != nil {
			fmt.Fprintf(&b, "member %d: metadata: %v\n", m.ID, err)
			continue
		}
		var listed []int32
		for _, mb := range resp.Brokers {
			listed = append(listed, mb.NodeID)
		}
		fmt.Fprintf(&b, "member %d lists brokers %v, controller %d\n", m.ID, listed, resp.ControllerID)
	}
	return b.String()
}

type discardZKLog struct{}

func (discardZKLog) Printf(string, ...any) {}

// WaitForBrokers polls until every seed broker of a client made of
// clientOpts lists want brokers in its own metadata: every member answers
// Ping once it serves, but a topic can only get N replicas once N brokers
// are registered, and a member whose view lags refuses replicas.
//
// It asks each seed directly with an uncached request. kadm's
// BrokerMetadata answers from the client's broker list, which a fetch
// without topics does not refresh: a first answer given while the third
// broker was still registering kept a loop on it at "2 of 3" for the
// metadata max age (5 minutes), while ZooKeeper and every member had
// listed all three for most of that time.
func WaitForBrokers(ctx context.Context, clientOpts []kgo.Opt, want int) error {
	cl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	var last string
	for {
		ok := true
		var views []string
		for _, b := range cl.SeedBrokers() {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, b)
			cancel()
			if err != nil {
				ok = false
				views = append(views, err.Error())
				continue
			}
			if len(resp.Brokers) != want {
				ok = false
			}
			views = append(views, fmt.Sprintf("%d brokers", len(resp.Brokers)))
		}
		if ok {
			return nil
		}
		last = strings.Join(views, ", ")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: want %d brokers registered; the seeds answer: %s: %w", ErrNotReady, want, last, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
