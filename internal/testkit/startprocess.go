package testkit

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Proc is a broker process owned by a test: LaunchProcess's Process whose
// Stop, Start and Restart fail the test instead of returning an error.
type Proc struct {
	*Process
	t TB
}

// StartProcess runs the sluice binary (built once per test binary, see
// SluiceBinary) as `serve` on free 127.0.0.1 ports with its data in a
// t.TempDir() (unless cfg says otherwise), and waits until it answers a
// Kafka Ping. Its plugin compilation cache is the kit's shared one. When
// the test ends the process gets SIGTERM (SIGKILL after
// the stop timeout) and the test fails if it did not exit cleanly; a
// failed test shows the process's output.
func StartProcess(t TB, cfg ProcessConfig) *Proc {
	t.Helper()
	if cfg.DataDir == "" {
		// Made before the stop cleanup is registered, so (cleanups run
		// last-in first-out) it is removed after the process stops.
		cfg.DataDir = t.TempDir()
	}
	cfg.SharedPluginCache = true
	p, err := LaunchProcess(context.Background(), cfg)
	if err != nil {
		failStart(t, cfg.Name, err)
	}
	return adopt(t, p)
}

// failStart fails t with a start error and the output it carries.
func failStart(t TB, name string, err error) {
	t.Helper()
	if name == "" {
		name = "sluice"
	}
	var pe *ProcessError
	if errors.As(err, &pe) {
		t.Fatalf("%s did not start: %v; its output ends:\n%s", name, err, pe.Output)
	}
	t.Fatalf("%s did not start: %v", name, err)
}

// adopt ties a launched process to t: closed when the test ends, its
// output shown if the test failed.
func adopt(t TB, p *Process) *Proc {
	t.Cleanup(func() {
		if err := p.Close(); err != nil && !p.cfg.IgnoreStopError {
			t.Errorf("%s (%s) did not shut down cleanly: %v", p.Name(), p.Addr(), err)
		}
		if t.Failed() {
			t.Logf("%s (%s) output:\n%s", p.Name(), p.Addr(), p.Output())
		}
	})
	return &Proc{Process: p, t: t}
}

// Stop shuts the process down cleanly (SIGTERM); an unclean exit fails the
// test. Stopping an exited process does nothing.
func (p *Proc) Stop() {
	p.t.Helper()
	if err := p.Process.Stop(); err != nil && !p.cfg.IgnoreStopError {
		p.t.Errorf("%s (%s) did not shut down cleanly: %v", p.Name(), p.Addr(), err)
	}
}

// Start starts a stopped or killed process again on the same ports and
// data directory and waits until it serves; failing that fails the test.
func (p *Proc) Start() {
	p.t.Helper()
	if err := p.Process.Start(context.Background()); err != nil {
		p.t.Fatalf("restart %s: %v", p.Name(), err)
	}
}

// Restart is Stop then Start.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}

// Client returns a franz-go client seeded with the process's Kafka
// address, its ClientOpts and opts, closed when the test ends.
func (p *Proc) Client(t TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, append(append([]kgo.Opt{kgo.SeedBrokers(p.Addr())}, p.ClientOpts()...), opts...))
}

// CreateTopics creates topics of partitions partitions (replication 1);
// any error, a topic's own code included, fails the test.
func (p *Proc) CreateTopics(t TB, partitions int32, names ...string) {
	t.Helper()
	createTopics(t, append([]kgo.Opt{kgo.SeedBrokers(p.Addr())}, p.ClientOpts()...), partitions, 1, names...)
}

// Consume reads topic from the start with a new client until it has at
// least want records; see the package-level Consume.
func (p *Proc) Consume(t TB, ctx context.Context, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	return consumeTopic(t, ctx, append([]kgo.Opt{kgo.SeedBrokers(p.Addr())}, p.ClientOpts()...), topic, want, opts)
}

// Context is a context ending after d or when the test ends, so no client
// call can hang a test until its -timeout.
func Context(t TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
