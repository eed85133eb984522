package bridge_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// BenchmarkBeaconHandler: POST /beacon/{topic} through the router,
// middleware and pipeline, without the network (page-cache durability).
func BenchmarkBeaconHandler(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	br, err := localbroker.Open(broker.Config{DataDir: b.TempDir(), Logger: logger, OffsetsTopicPartitions: 1, Durability: broker.DurabilityPageCache})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	if _, err := br.CreateTopic(broker.TopicSpec{Name: "beacons", Partitions: 8, ReplicationFactor: 1}, false); err != nil {
		b.Fatal(err)
	}
	pl := pipeline.New(pipeline.Config{Broker: br, Logger: logger})
	defer pl.Close()
	bg, err := bridge.New(bridge.Config{Brokers: []string{"127.0.0.1:1"}, Logger: logger, Pipeline: pl,
		PublicTopics: []string{"beacons"}, RateLimitPerSecond: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer bg.Close()
	r := chi.NewRouter()
	bg.Routes(r)
	body := `{"type":"page_view","url":"/products/42","ref":"https://example.com/","ts":1700000000000}`
	b.ReportAllocs()
	// 64 concurrent requests, as the make bench wrk run has connections.
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	cpu0 := cpuTime()
	defer func() {
		// Process CPU per request: steadier than ns/op on a shared machine.
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequestWithContext(context.Background(), "POST", "/beacon/beacons", strings.NewReader(body))
			req.Header.Set("Content-Type", "text/plain")
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
