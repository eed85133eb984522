package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// startServer runs a broker and protocol server with the given configs.
func startServer(t *testing.T, bc broker.Config, sc Config) string {
	t.Helper()
	bc.DataDir = t.TempDir()
	bc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	bc.OffsetsTopicPartitions = 1
	b, err := localbroker.Open(bc)
	if err != nil {
		t.Fatal(err)
	}
	ln := listenAdvertised(t, b)
	sc.Logger = bc.Logger
	s := New(b, sc)
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		b.Close()
	})
	return ln.Addr().String()
}

// rawRequest writes req as one frame on nc.
func rawRequest(t *testing.T, nc net.Conn, req kmsg.Request) {
	t.Helper()
	frame := []byte{0, 0, 0, 0}
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, 1)
	frame = binary.BigEndian.AppendUint16(frame, 1)
	frame = append(frame, 'x')
	if req.IsFlexible() {
		frame = append(frame, 0)
	}
	frame = req.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
}

// answered reports whether nc gets a response (true) or is closed.
func answered(t *testing.T, nc net.Conn) bool {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	_, err := io.ReadFull(nc, size[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("waiting for a response: %v", err)
	}
	return err == nil
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func apiVersions() kmsg.Request {
	r := kmsg.NewApiVersionsRequest()
	r.SetVersion(0)
	return &r
}

func counterValue(t *testing.T, api string) float64 {
	t.Helper()
	var m dto.Metric
	if err := handlerPanics.WithLabelValues(api).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestHandlerPanicClosesOnlyThatConnection: a panicking handler closes
// its connection, is counted, and the broker keeps serving others.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	addr := startServer(t, broker.Config{}, Config{})
	orig := apis[12]
	apis[12] = api{key: 12, min: orig.min, max: orig.max, handle: func(*conn, *header, kmsg.Request) *reply {
		panic("injected handler bug")
	}}
	t.Cleanup(func() { apis[12] = orig })
	before := counterValue(t, "Heartbeat")

	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	victim, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	hb := kmsg.NewHeartbeatRequest()
	hb.SetVersion(0)
	rawRequest(t, victim, &hb)
	if answered(t, victim) {
		t.Fatal("the panicking request was answered; want the connection closed")
	}
	if got := counterValue(t, "Heartbeat") - before; got != 1 {
		t.Fatalf("panic counter rose by %v, want 1", got)
	}
	rawRequest(t, other, apiVersions())
	if !answered(t, other) {
		t.Fatal("another connection was closed too")
	}
}

// TestConnectionsPerIP: past max.connections.per.ip new connections are
// closed on accept; once one closes, a new one is served.
func TestConnectionsPerIP(t *testing.T) {
	addr := startServer(t, broker.Config{}, Config{MaxConnectionsPerIP: 3})
	var open []net.Conn
	for range 3 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rawRequest(t, nc, apiVersions())
		if !answered(t, nc) {
			t.Fatal("a connection within the limit was closed")
		}
		open = append(open, nc)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if answered(t, extra) {
		t.Fatal("the fourth connection from one IP was served")
	}
	open[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rawRequest(t, nc, apiVersions())
		ok := answered(t, nc)
		nc.Close()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection served after one closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMemBudget(t *testing.T) {
	m := newMemBudget(100)
	ctx := context.Background()
	if !m.acquire(ctx, 60) {
		t.Fatal("first acquire")
	}
	got := make(chan bool)
	go func() { got <- m.acquire(ctx, 50) }()
	select {
	case <-got:
		t.Fatal("acquire past the budget did not wait")
	case <-time.After(100 * time.Millisecond):
	}
	m.release(60)
	if !<-got || m.inUse() != 50 {
		t.Fatalf("after release: in use %d", m.inUse())
	}
	// Larger than the whole budget: waits until alone.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if m.acquire(cctx, 1000) {
		t.Fatal("oversized acquire did not wait for the others")
	}
	m.release(50)
	if !m.acquire(ctx, 1000) {
		t.Fatal("oversized acquire alone")
	}
}

// TestPartitionLimit: CreateTopics and CreatePartitions asking for 2^31-1
// partitions (validate_only too) get INVALID_PARTITIONS without the broker
// allocating for them.
func TestPartitionLimit(t *testing.T) {
	addr := startServer(t, broker.Config{MaxPartitions: 20}, Config{})
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, validateOnly := range []bool{true, false} {
		req := kmsg.NewCreateTopicsRequest()
		req.ValidateOnly = validateOnly
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "huge", math.MaxInt32, 1
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].ErrorCode; code != kerr.InvalidPartitions.Code {
			t.Fatalf("validate_only=%v: code %d, want INVALID_PARTITIONS", validateOnly, code)
		}
	}
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 10, 1, nil, "fits"); err != nil {
		t.Fatal(err)
	}
	// 1 (__consumer_offsets) + 10 + 10 > 20.
	if _, err := adm.CreateTopic(ctx, 10, 1, nil, "over"); !errors.Is(err, kerr.InvalidPartitions) {
		t.Fatalf("topic past the limit: %v", err)
	}
	req := kmsg.NewCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "fits", math.MaxInt32
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != kerr.InvalidPartitions.Code {
		t.Fatalf("CreatePartitions to 2^31-1: code %d", code)
	}
}
