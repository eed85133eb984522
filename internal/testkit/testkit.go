// Package testkit starts an in-process Sluice node for tests and gives the
// few helpers nearly every end-to-end test needs around it: a franz-go
// client, topic creation, a plugin deploy through the admin API and a
// consume-until-N loop.
//
// Why a package: the same ~30 lines (run node.RunWith in a goroutine, wait
// for its addresses with a timeout, cancel and wait on cleanup, create
// topics, POST a plugin, poll until N records) were copied into a dozen
// test files, each with small drifts (timeouts, whether a stop error
// fails the test, whether logs show). One copy keeps those choices the same
// everywhere and lets a test read as what it checks.
//
// It starts brokers three ways: in-process (StartNode, unit-test speed),
// as the built binary (StartProcess, for crash and signal tests; and
// LaunchProcess, which sluice-bench uses), and as a ZooKeeper cluster of
// either kind (StartCluster). It does not import "testing" (test
// functions take the TB interface), so a plain binary can use it.
package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/node"
)

// Timeouts a test would otherwise pick by hand. Start and stop are
// generous because the machine running the tests may be shared and
// loaded; a node that is merely slow must not fail a test.
const (
	DefaultStartTimeout = 30 * time.Second
	stopTimeout         = 30 * time.Second
	adminTimeout        = 60 * time.Second
)

// Node is a running in-process node: broker, Kafka listener, plugin
// registry and HTTP listener (bridge and admin API). It stops when the
// test ends.
type Node struct {
	// Addrs are the bound listener addresses (HTTP is empty when the
	// HTTP listener is off).
	Addrs node.Addrs
	// HTTPBase is "http://" + Addrs.HTTP, the base URL of the bridge and
	// admin API ("" when the HTTP listener is off).
	HTTPBase string
	// DataDir is the broker's data directory (a t.TempDir()).
	DataDir string

	run      *running
	stopErr  func(error)
	stopOnce sync.Once
}

type settings struct {
	cfg          node.Config
	opts         node.Options
	startTimeout time.Duration
	capture      *slog.Level
	ignoreStop   bool
	ownCache     bool
}

// Option changes how StartNode configures the node.
type Option func(*settings)

// WithConfig lets a test change the node.Config (broker id, ZooKeeper,
// durability, logger, ...) after the kit's defaults are set; a test
// normally leaves DataDir and the listener addresses alone.
func WithConfig(f func(*node.Config)) Option {
	return func(s *settings) { f(&s.cfg) }
}

// WithOptions sets the node.Options (bridge config, authorizer, admin
// tokens, Kafka security, plugin limits): the parts tests vary most.
func WithOptions(o node.Options) Option {
	return func(s *settings) { s.opts = o }
}

// WithLogger sends the node's log to l instead of the kit's default.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.cfg.Logger = l; s.capture = nil }
}

// WithoutHTTP turns the HTTP listener off (serve --http-addr off), for
// tests of the Kafka port alone.
func WithoutHTTP() Option {
	return func(s *settings) { s.cfg.HTTPAddr = "off" }
}

// WithLogCapture keeps the node's log from level up in memory and prints
// it only if the test fails: a failing end-to-end test then says what the
// broker saw, a passing one stays quiet.
func WithLogCapture(level slog.Level) Option {
	return func(s *settings) { s.capture = &level }
}

// WithStopErrorIgnored keeps an error returned by the node on shutdown
// from failing the test (it must still stop within the stop timeout). For
// members of a ZooKeeper cluster stopped one after another, whose
// shutdown may race the other members' leaving; such tests check the data,
// not the shutdown.
func WithStopErrorIgnored() Option {
	return func(s *settings) { s.ignoreStop = true }
}

// WithOwnPluginCache keeps the node's plugin compilation cache in its own
// data directory instead of the kit's shared one (see plugincache.go), for
// a test about that cache.
func WithOwnPluginCache() Option {
	return func(s *settings) { s.ownCache = true }
}

// WithStartTimeout replaces DefaultStartTimeout (a ZooKeeper cluster
// member may take longer to join).
func WithStartTimeout(d time.Duration) Option {
	return func(s *settings) { s.startTimeout = d }
}

// StartNode runs a node on 127.0.0.1 with free ports (Kafka and HTTP) and
// a data directory under t.TempDir(), and waits until it serves. The log
// is discarded unless the test runs with -v (then warnings and errors go
// to t.Log) or WithLogCapture/WithLogger says otherwise. When the test
// ends the node is cancelled and the test fails if it does not stop
// cleanly within 30 s. A node that fails to start fails the test.
func StartNode(t TB, opts ...Option) *Node {
	t.Helper()
	n, err := TryStartNode(t, opts...)
	if err != nil {
		t.Fatalf("node did not start: %v", err)
	}
	return n
}

// TryStartNode is StartNode for a test that expects a node may refuse to
// start (a bad setting): it returns the node's error instead of failing.
func TryStartNode(t TB, opts ...Option) (*Node, error) {
	t.Helper()
	// The data dir is created before the stop cleanup is registered, so
	// (cleanups run last-in first-out) it is removed after the node stops.
	dataDir := t.TempDir()
	s := settings{
		cfg: node.Config{Config: broker.Config{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
			KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"},
		startTimeout: DefaultStartTimeout,
	}
	if verbose() {
		s.cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if Short() {
		// No initial rebalance delay (Kafka's 3 s wait for more members
		// of a new group) under -short: a test's first group join waited
		// it out each time. Full runs keep the default; a test that sets
		// its own delay keeps it.
		s.cfg.GroupInitialRebalanceDelay = -1
	}
	for _, o := range append(defaultNodeOptions(), opts...) {
		o(&s)
	}
	var logs *logBuffer
	if s.capture != nil {
		logs = &logBuffer{}
		s.cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: *s.capture}))
	}
	if !s.ownCache {
		linkPluginCache(s.cfg.DataDir)
		if s.opts.Plugins.Shared == nil && len(s.opts.Plugins.CompileCommand) == 0 {
			s.opts.Plugins.Shared = SharedWasmCache()
		}
	}
	r, err := launchNode(context.Background(), s.cfg, s.opts, s.startTimeout)
	if err != nil {
		if logs != nil && t.Failed() {
			t.Logf("broker log:\n%s", logs)
		}
		return nil, err
	}
	n := &Node{Addrs: r.addrs, DataDir: s.cfg.DataDir, run: r}
	if r.addrs.HTTP != "" {
		n.HTTPBase = "http://" + r.addrs.HTTP
	}
	n.stopErr = func(err error) {
		if err != nil && !s.ignoreStop {
			t.Errorf("node: %v", err)
		}
	}
	t.Cleanup(func() {
		n.Stop()
		if logs != nil && t.Failed() {
			t.Logf("broker log:\n%s", logs)
		}
	})
	return n, nil
}

// Stop cancels the node and waits for it (in a cluster test, a broker
// failing); an error on the way out fails the test unless
// WithStopErrorIgnored. Stopping a stopped node does nothing; the test's
// end stops it anyway.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { n.stopErr(n.run.stop()) })
}

// running is an in-process node started by launchNode.
type running struct {
	addrs  node.Addrs
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// launchNode runs node.RunWith until it reports its listeners (or fails,
// or startTimeout passes). It takes no test handle: LaunchNode is its
// exported form for plain binaries.
func launchNode(parent context.Context, cfg node.Config, opts node.Options, startTimeout time.Duration) (*running, error) {
	ctx, cancel := context.WithCancel(parent)
	ready := make(chan node.Addrs, 1)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() {
		// A panic in the broker fails the caller instead of killing the
		// whole (test) binary.
		defer func() {
			if p := recover(); p != nil {
				r.done <- fmt.Errorf("node panicked: %v", p)
			}
		}()
		r.done <- node.RunWith(ctx, cfg, opts, func(a node.Addrs) { ready <- a })
	}()
	select {
	case r.addrs = <-ready:
		return r, nil
	case err := <-r.done:
		cancel()
		if err == nil {
			err = errors.New("node stopped before serving")
		}
		return nil, err
	case <-time.After(startTimeout):
		cancel()
		return nil, fmt.Errorf("node did not start in %s", startTimeout)
	}
}

// stop cancels the node and waits up to stopTimeout; idempotent.
func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(stopTimeout):
			r.err = fmt.Errorf("node did not stop in %s", stopTimeout)
		}
	})
	return r.err
}

// NodeHandle is an in-process node started by LaunchNode.
type NodeHandle struct {
	// Addrs are the bound listener addresses.
	Addrs node.Addrs
	r     *running
}

// Stop cancels the node and waits for it (30 s at most); it returns the
// node's error, if any. It is safe to call more than once.
func (h *NodeHandle) Stop() error { return h.r.stop() }

// LaunchNode runs an in-process node with cfg and opts (the caller sets
// the addresses and data directory) until ctx ends or Stop, for a plain
// binary such as sluice-bench; tests use StartNode.
func LaunchNode(ctx context.Context, cfg node.Config, opts node.Options) (*NodeHandle, error) {
	r, err := launchNode(ctx, cfg, opts, DefaultStartTimeout)
	if err != nil {
		return nil, err
	}
	return &NodeHandle{Addrs: r.addrs, r: r}, nil
}

// Client returns a franz-go client seeded with the node's Kafka address
// plus opts, closed when the test ends. The kit adds no other defaults
// so what a test's client does is all in its call.
func (n *Node) Client(t TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, append([]kgo.Opt{kgo.SeedBrokers(n.Addrs.Kafka)}, opts...))
}

// CreateTopic creates a topic with partitions partitions (replication 1)
// through the Kafka admin API and fails the test on any error, the
// topic's own error code included.
func (n *Node) CreateTopic(t TB, name string, partitions int32) {
	t.Helper()
	n.CreateTopics(t, partitions, name)
}

// CreateTopics is CreateTopic for several topics of the same size in one
// request.
func (n *Node) CreateTopics(t TB, partitions int32, names ...string) {
	t.Helper()
	createTopics(t, []kgo.Opt{kgo.SeedBrokers(n.Addrs.Kafka)}, partitions, 1, names...)
}

func newClient(t TB, opts []kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopics(t TB, clientOpts []kgo.Opt, partitions int32, replicas int16, names ...string) {
	t.Helper()
	cl, err := kgo.NewClient(clientOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, replicas, nil, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create topics %v: %v", names, err)
	}
}

// DeployStatus posts a plugin module to the admin API
// (POST /admin/plugins?name=&hook=&topic=&config=) and returns the HTTP
// status and body, for tests that check a refusal.
func (n *Node) DeployStatus(t TB, name, hook, topic string, wasm []byte, config ...string) (int, string) {
	t.Helper()
	q := url.Values{"name": {name}, "hook": {hook}, "topic": {topic}, "config": config}
	resp, err := http.Post(n.HTTPBase+"/admin/plugins?"+q.Encode(), "application/wasm", bytes.NewReader(wasm))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Deploy is DeployStatus for a deploy that must succeed: anything but
// 201 Created fails the test with the status and body.
func (n *Node) Deploy(t TB, name, hook, topic string, wasm []byte, config ...string) {
	t.Helper()
	if code, body := n.DeployStatus(t, name, hook, topic, wasm, config...); code != http.StatusCreated {
		t.Fatalf("deploy %s: %d %s", name, code, body)
	}
}

// Consume polls cl until it has at least want records or ctx ends (which
// fails the test, as does a fetch error). It returns every record fetched
// in the order fetched (offset order within a partition), so a caller that
// compares exact contents also sees extras that came in the last fetch.
func Consume(t TB, ctx context.Context, cl *kgo.Client, want int) []*kgo.Record {
	t.Helper()
	var got []*kgo.Record
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before %v", len(got), want, ctx.Err())
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fs.Records()...)
	}
	return got
}

// Consume reads topic from the start with a new client (opts added) until
// it has at least want records; see the package-level Consume.
func (n *Node) Consume(t TB, ctx context.Context, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return consumeTopic(t, ctx, []kgo.Opt{kgo.SeedBrokers(n.Addrs.Kafka)}, topic, want, opts)
}

func consumeTopic(t TB, ctx context.Context, base []kgo.Opt, topic string, want int, opts []kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(append(base, kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return Consume(t, ctx, cl, want)
}

// tWriter sends log lines to t.Log (with -v).
type tWriter struct{ t TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// logBuffer is a bytes.Buffer safe for the node's goroutines, bounded so
// a long test at debug level cannot grow it without limit: past maxLog
// it keeps the newest half.
type logBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int // 0: maxLog, keeping the newest half past it; else a strict tail of limit bytes
}

const maxLog = 4 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if b.limit > 0 {
		if over := len(b.buf) - b.limit; over > 0 {
			// Shift rather than reslice so the array never grows past 2x limit.
			b.buf = b.buf[:copy(b.buf, b.buf[over:])]
		}
	} else if len(b.buf) > maxLog {
		b.buf = append([]byte("[... older log dropped ...]\n"), b.buf[len(b.buf)-maxLog/2:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
