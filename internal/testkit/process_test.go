package testkit_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Exit(m) }

// TestStartProcessKillRestart: a process broker serves; after SIGKILL it
// is down, and Start brings it back on the same port and data directory
// with the acknowledged records still there.
func TestStartProcessKillRestart(t *testing.T) {
	t.Parallel()
	p := testkit.StartProcess(t, testkit.ProcessConfig{HTTP: true, Args: []string{"--flush-messages", "1"}})
	if !strings.HasPrefix(p.HTTPBase(), "http://127.0.0.1:") || p.Addr() == p.HTTPAddr() {
		t.Fatalf("addrs %s %s", p.Addr(), p.HTTPAddr())
	}
	p.CreateTopics(t, 1, "crash")
	ctx := testkit.Context(t, 60*time.Second)
	cl := p.Client(t, kgo.ProducerLinger(0))
	for _, v := range []string{"a", "b"} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "crash", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	addr, pid := p.Addr(), p.PID()
	p.Kill()
	if p.Running() {
		t.Fatal("running after Kill")
	}
	var pe *testkit.ProcessError
	if err := p.ExitError(); !errors.As(err, &pe) || !errors.Is(err, testkit.ErrExited) {
		t.Fatalf("ExitError = %v", err)
	}
	p.Start()
	if p.Addr() != addr || p.PID() == pid {
		t.Fatalf("after restart: addr %s (was %s), pid %d (was %d)", p.Addr(), addr, p.PID(), pid)
	}
	var got []string
	for _, r := range p.Consume(t, ctx, "crash", 2) {
		got = append(got, string(r.Value))
	}
	if strings.Join(got, ",") != "a,b" {
		t.Fatalf("after crash: %q", got)
	}
	if out := p.Output(); !strings.Contains(out, "=== testkit: SIGKILL") || strings.Count(out, "=== testkit: start ") != 2 {
		t.Fatalf("output markers missing:\n%s", out)
	}
}

// TestLaunchProcessBadFlag: a process that exits at start-up is an
// ErrExited *ProcessError carrying its own explanation.
func TestLaunchProcessBadFlag(t *testing.T) {
	t.Parallel()
	bin, err := testkit.SluiceBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = testkit.LaunchProcess(context.Background(), testkit.ProcessConfig{Binary: bin, Args: []string{"--no-such-flag"}})
	var pe *testkit.ProcessError
	if !errors.As(err, &pe) || !errors.Is(err, testkit.ErrExited) || !strings.Contains(pe.Output, "no-such-flag") {
		t.Fatalf("err = %v, output %q", err, pe)
	}
}

// TestWatchSignal: Watch's context ends with ErrExited when the process
// dies from a signal; Stop after that is a no-op.
func TestWatchSignal(t *testing.T) {
	t.Parallel()
	p := testkit.StartProcess(t, testkit.ProcessConfig{})
	ctx, cancel := p.Watch(context.Background())
	defer cancel()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not fire")
	}
	if !errors.Is(context.Cause(ctx), testkit.ErrExited) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	p.Stop()
}

// TestClusterMixed: two process members and one in-process member share
// a real ZooKeeper; a topic replicated to all three takes records and a
// killed process member comes back into the cluster.
func TestClusterMixed(t *testing.T) {
	t.Parallel()
	c := testkit.StartCluster(t, testkit.ClusterConfig{Processes: 2, InProcess: 1})
	if len(c.Members) != 3 || c.Members[2].Node == nil || c.Members[0].Proc == nil {
		t.Fatalf("members %+v", c.Members)
	}
	c.CreateTopic(t, "r3", 1, 3)
	ctx := testkit.Context(t, 90*time.Second)
	cl := c.Client(t, kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "r3", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	m := c.Member(t, 1)
	m.Proc.Kill()
	m.Proc.Start()
	c.WaitBrokers(t, 3)
}

// TestFreeAddrsNeverRepeat: members of a cluster pick their ports
// concurrently and bind them only later, so a port handed out once must
// not be handed out again in the same process (two brokers of one CI
// cluster once got the same HTTP port). 1,000 random picks from the
// 12,000-port range would repeat dozens of times without that.
func TestFreeAddrsNeverRepeat(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs, err := testkit.FreeAddrs(2)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, a := range addrs {
				if seen[a] {
					t.Errorf("%s handed out twice", a)
				}
				seen[a] = true
			}
		}()
	}
	wg.Wait()
	if len(seen) != 1000 {
		t.Fatalf("%d distinct addresses, want 1000", len(seen))
	}
}
