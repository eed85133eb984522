package kafka

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// readerFilter hides every record from readers and remembers who asked.
type readerFilter struct {
	mu      sync.Mutex
	readers []hooks.Reader
}

func (f *readerFilter) Apply(_ context.Context, _ string, _ int32, r hooks.Reader, _ []hooks.Record) ([]hooks.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = append(f.readers, r)
	return nil, nil
}

// readOnly lets outside clients only read and describe topics: the
// in-process client below must be allowed everything else (creating the
// topic, producing) by being trusted, not by the authorizer.
type readOnly struct{}

func (readOnly) Authorize(_ auth.Identity, op auth.Operation, rt auth.ResourceType, _ string) bool {
	return rt == auth.ResTopic && (op == auth.OpRead || op == auth.OpDescribe)
}

type filterOnly struct{ f hooks.Filter }

func (filterOnly) Partitioner(string) hooks.Partitioner { return nil }
func (filterOnly) Transform(string) hooks.Transform     { return nil }
func (r filterOnly) Filter(string) hooks.Filter         { return r.f }

// TestInProcessConnections: a TCP client reaches filters as its principal
// (User:ANONYMOUS, whatever client.id it claims) and sees what the filter
// lets through (nothing); an in-process connection is trusted: no
// filter, authorized for everything.
func TestInProcessConnections(t *testing.T) {
	// One partition of __consumer_offsets, not 50: no group here, and
	// each partition is files and fsyncs at open.
	b, err := localbroker.Open(broker.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	ln := listenAdvertised(t, b)
	addr := ln.Addr().String()
	f := &readerFilter{}
	s := New(b, Config{Logger: b.Config().Logger, Hooks: filterOnly{f}, Authorizer: readOnly{}})
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		b.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	inproc := mustClient(t, kgo.SeedBrokers(addr), kgo.Dialer(s.InProcessDialer(nil, addr)), kgo.ProducerLinger(0),
		kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if _, err := kadm.NewClient(inproc).CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	if err := inproc.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("a")}, &kgo.Record{Topic: "t", Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		fs := inproc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("in-process fetch got %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got[0] != "a" || got[1] != "b" {
		t.Fatalf("in-process read %v", got)
	}
	f.mu.Lock()
	if len(f.readers) != 0 {
		t.Fatalf("filter ran for the in-process reader: %+v", f.readers)
	}
	f.mu.Unlock()

	// A TCP client claiming to be "acme": anonymous to the filter.
	tcp := mustClient(t, kgo.SeedBrokers(addr), kgo.ClientID("acme"), kgo.ConsumeTopics("t"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	deadline := time.Now().Add(10 * time.Second)
	for {
		fctx, fcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := tcp.PollFetches(fctx)
		fcancel()
		if n := len(fs.Records()); n != 0 {
			t.Fatalf("filtered TCP reader got %d records", n)
		}
		f.mu.Lock()
		readers := append([]hooks.Reader(nil), f.readers...)
		f.mu.Unlock()
		if len(readers) > 0 {
			if r := readers[0]; r.Principal != string(auth.Anonymous) || r.ClientID != "acme" {
				t.Fatalf("filter saw reader %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("filter never ran for the TCP reader")
		}
	}

	// The dialer reaches other addresses over TCP (untrusted).
	other := s.InProcessDialer(nil, "127.0.0.1:1")
	c, err := other(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s.mu.Lock()
	trusted := 0
	for cn := range s.conns {
		if !cn.trusted && cn.authorized(auth.OpAlter, auth.ResCluster, auth.ClusterResource) {
			t.Error("a TCP connection passed the read-only authorizer")
		}
		if cn.trusted {
			trusted++
			if cn.principal != InProcessPrincipal || !cn.authorized(auth.OpAlter, auth.ResCluster, auth.ClusterResource) {
				t.Errorf("in-process conn principal %s not authorized", cn.principal)
			}
		}
	}
	s.mu.Unlock()
	if trusted == 0 {
		t.Fatal("no in-process connection registered")
	}
}

// BenchmarkConsumeTCPvsInProcess reads the same 1 KiB records over TCP
// (sendfile) and over an in-process socket pair (copied), as the bridge
// does.
func BenchmarkConsumeTCPvsInProcess(b *testing.B) {
	br, err := localbroker.Open(broker.Config{DataDir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		b.Fatal(err)
	}
	ln := listenAdvertised(b, br)
	addr := ln.Addr().String()
	s := New(br, Config{Logger: br.Config().Logger})
	go s.Serve(ln)
	defer func() { s.Close(); br.Close() }()
	ctx := context.Background()
	const n = 20000
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	val := make([]byte, 1024)
	for i := 0; i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: val}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	for _, mode := range []string{"tcp", "in-process"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(n * 1024)
			for b.Loop() {
				opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
				if mode == "in-process" {
					opts = append(opts, kgo.Dialer(s.InProcessDialer(nil, addr)))
				}
				c, err := kgo.NewClient(opts...)
				if err != nil {
					b.Fatal(err)
				}
				got := 0
				for got < n {
					got += len(c.PollFetches(ctx).Records())
				}
				c.Close()
			}
		})
	}
}
