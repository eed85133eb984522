package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/meta/zktest"
)

// zkServer is the package's one ZooKeeper server; each test works in its
// own chroot on it.
var zkServer *zktest.Server

func TestMain(m *testing.M) {
	zktest.RunMain(m, func(s *zktest.Server) { zkServer = s })
}

const zkTestWait = 15 * time.Second

var chrootSeq atomic.Int64

// testConnect returns a connect string with a chroot unique to this test.
func testConnect(t *testing.T) string {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("%s/sluice-test/%s-%d", zktest.Need(t, zkServer).Addr, name, chrootSeq.Add(1))
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", t.Name())
}

func testBroker(id int32) Broker {
	return Broker{ID: id, Host: "127.0.0.1", Port: 9000 + id}
}

// openTestZK opens a store for broker id, closed at the end of the test.
func openTestZK(t *testing.T, connect string, id int32, opts ZKOptions) *ZK {
	t.Helper()
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 6 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	z, err := OpenZK(connect, testBroker(id), opts)
	if err != nil {
		t.Fatalf("OpenZK broker %d: %v", id, err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}

// waitUntil waits for cond on z's cache, re-checking on every change.
func waitUntil(t *testing.T, z *ZK, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(zkTestWait)
	defer deadline.Stop()
	for {
		ch := z.Changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("broker %d: timed out waiting for %s", z.Self().ID, what)
		}
	}
}

func brokerIDs(bs []Broker) []int32 {
	ids := make([]int32, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	return ids
}

// campaignResult is what a background Campaign returned.
type campaignResult struct {
	z     *ZK
	epoch int32
	err   error
}

func campaignAsync(ctx context.Context, z *ZK, out chan<- campaignResult) {
	go func() {
		epoch, err := z.Campaign(ctx)
		out <- campaignResult{z, epoch, err}
	}()
}

func nextResult(t *testing.T, results <-chan campaignResult) campaignResult {
	t.Helper()
	select {
	case r := <-results:
		if r.err != nil {
			t.Fatalf("Campaign of broker %d: %v", r.z.Self().ID, r.err)
		}
		return r
	case <-time.After(zkTestWait):
		t.Fatal("no broker won the controller election")
	}
	return campaignResult{}
}

// cutDialer connects to ZooKeeper until Cut, which drops every connection
// and refuses new ones until Heal: to the server the client looks like a
// paused (SIGSTOPped) process, its session alive until it times out.
type cutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

var errNetworkCut = errors.New("test: network cut")

func (d *cutDialer) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, errNetworkCut
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *cutDialer) Cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func (d *cutDialer) Heal() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = false
}

// nextSessionEvent returns the next event or fails the test.
func nextSessionEvent(t *testing.T, events <-chan SessionEvent) SessionEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("session events closed")
		}
		return ev
	case <-time.After(zkTestWait):
		t.Fatal("timed out waiting for a session event")
	}
	return SessionEvent{}
}
