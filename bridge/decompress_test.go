package bridge_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/bridge"
)

// TestStreamSkipsBatchOverDecompressionBudget: a zstd batch that inflates
// past the bridge's budget (256 KiB of zeros, a few hundred bytes on the
// wire) is skipped by an event stream, which goes on with the next record
// and says where it is in its ids.
func TestStreamSkipsBatchOverDecompressionBudget(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxDecompressedBatchBytes: 64 << 10, SSEHeartbeat: bridge.Duration(time.Minute)})
	n.createTopic(t, "bomb", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafka), kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		kgo.DefaultProduceTopic("bomb"), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	zeros := bytes.Repeat([]byte{0}, 64<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var bomb []*kgo.Record
	for range 4 {
		bomb = append(bomb, &kgo.Record{Value: zeros})
	}
	if err := cl.ProduceSync(ctx, bomb...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if bomb[0].Offset != 0 || bomb[3].Offset != 3 {
		t.Fatalf("bomb offsets %d..%d", bomb[0].Offset, bomb[3].Offset)
	}
	produceJSON(t, n, "bomb", `{"value":"after"}`)

	s := openStream(t, n.base+"/topics/bomb/events?from=earliest")
	if ev := s.next(t); ev.event != "ready" || ev.id != "0:0" {
		t.Fatalf("ready %+v", ev)
	}
	ev := s.next(t)
	if ev.id != "0:5" || !strings.HasSuffix(ev.data, `"value":"after"}`) {
		t.Fatalf("event after the skipped batch: %+v", ev)
	}
}

// TestZstdBodyBombIs413: a zstd body inflating to 64 MiB is cut at the
// decoded limit with 413, quickly.
func TestZstdBodyBombIs413(t *testing.T) {
	t.Parallel()
	n := startNode(t, bridge.Config{MaxBodyBytes: 4096})
	n.createTopic(t, "logs", 1)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := enc.EncodeAll(bytes.Repeat([]byte{' '}, 64<<20), nil)
	t.Logf("bomb: %d bytes on the wire", len(bomb))
	start := time.Now()
	status, body, _ := do(t, "POST", n.base+"/topics/logs/ndjson", "application/x-ndjson", bytes.NewReader(bomb), "Content-Encoding", "zstd")
	if status != 413 || body != `{"error_code":41301,"message":"Request body exceeds the limit of 4096 bytes."}` {
		t.Fatalf("%d %s", status, body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	if got := n.totalRecords(t, "logs"); got != 0 {
		t.Fatalf("%d records stored", got)
	}
}
