package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// startBroker runs a broker and protocol server in-process on a free
// loopback port.
func startBroker(t *testing.T, dir string) (addr string, stop func()) {
	t.Helper()
	b, err := localbroker.Open(broker.Config{
		DataDir:                    dir,
		Logger:                     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		OffsetsTopicPartitions:     4,
		GroupInitialRebalanceDelay: -1,
		GroupMinSessionTimeout:     500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ta := ln.Addr().(*net.TCPAddr)
	b.SetAdvertised("127.0.0.1", int32(ta.Port))
	s := New(b, Config{Logger: b.Config().Logger})
	go s.Serve(ln)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			s.Close()
			if err := b.Close(); err != nil {
				t.Errorf("broker close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// TestGroupConsumesEveryRecordOnce: three kgo group members share six
// partitions; every record is consumed exactly once across them, offsets
// are committed, and a later member of the same group reads only records
// produced after the others closed.
func TestGroupConsumesEveryRecordOnce(t *testing.T) {
	for _, balancer := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"eager-range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(balancer.name, func(t *testing.T) {
			addr, _ := startBroker(t, t.TempDir())
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			const topic, n = "orders", 6000
			adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(addr)))
			if _, err := adm.CreateTopic(ctx, 6, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produce(t, ctx, addr, topic, 0, n)

			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			members := make([]*kgo.Client, 3)
			for i := range members {
				members[i] = mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics(topic),
					kgo.Balancers(balancer.b), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(300*time.Millisecond))
			}
			total := 0
			done := make(chan struct{})
			pollCtx, stopPolling := context.WithCancel(ctx)
			defer stopPolling()
			for _, m := range members {
				wg.Add(1)
				go func(m *kgo.Client) {
					defer wg.Done()
					for {
						fs := m.PollFetches(pollCtx)
						if pollCtx.Err() != nil {
							return
						}
						fs.EachRecord(func(r *kgo.Record) {
							mu.Lock()
							seen[string(r.Value)]++
							total++
							if total == n {
								close(done)
								stopPolling()
							}
							mu.Unlock()
						})
						if err := m.CommitUncommittedOffsets(ctx); err != nil && pollCtx.Err() == nil {
							t.Errorf("commit: %v", err)
						}
					}
				}(m)
			}
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatalf("consumed %d of %d records", total, n)
			}
			wg.Wait()
			for _, m := range members {
				if err := m.CommitUncommittedOffsets(context.Background()); err != nil {
					t.Errorf("final commit: %v", err)
				}
				m.Close()
			}
			if len(seen) != n {
				t.Fatalf("saw %d distinct records, want %d", len(seen), n)
			}
			for v, c := range seen {
				if c != 1 {
					t.Fatalf("record %s consumed %d times", v, c)
				}
			}
			// Records produced now are the only ones a new member reads.
			produce(t, ctx, addr, topic, n, 60)
			late := mustClient(t, kgo.SeedBrokers(addr), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics(topic), kgo.Balancers(balancer.b))
			got := 0
			for got < 60 {
				fs := late.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("late member read %d of 60", got)
				}
				fs.EachRecord(func(r *kgo.Record) {
					var i int
					fmt.Sscanf(string(r.Value), "r%d", &i)
					if i < n {
						t.Fatalf("late member re-read %s", r.Value)
					}
					got++
				})
			}
		})
	}
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	c, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t *testing.T, ctx context.Context, addr, topic string, from, n int) {
	t.Helper()
	p := mustClient(t, kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic))
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 97)), Value: []byte(fmt.Sprintf("r%d", i))})
	}
	if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
