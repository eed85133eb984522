package wasm

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/needs"
)

// logBatch is n 200-byte log lines, each with an e-mail address.
func logBatch(n int) []hooks.Record {
	recs := make([]hooks.Record, n)
	for i := range recs {
		line := fmt.Sprintf("2025-03-14T09:00:00.000Z INFO checkout-api req=%08x user=jane.doe%d@example.com msg=\"request served\" pad=", i, i)
		recs[i] = hooks.Record{Value: []byte(line + strings.Repeat("-", 200-len(line))), Timestamp: 1, Offset: -1}
	}
	return recs
}

// largestInstanceMemory is the memory size of the module's largest idle
// instance.
func largestInstanceMemory(m *Module) uint32 {
	var largest uint32
	for range len(m.idle) {
		inst := <-m.idle
		largest = max(largest, inst.mem.Size())
		m.idle <- inst
	}
	return largest
}

// TestGuestMemoryStaysBounded pushes ~1.6 million records in batches of
// varying size (100 to ~4,500 records, ~1 MB: kgo's default batch limit)
// through instances of Go plugins and checks guest memory stays far below
// the 64 MiB cap: mask-pii masks into one reused buffer, and "allocating"
// allocates garbage per record, which the SDK's collection after each
// call must reclaim. Calls run concurrently, as the broker makes them;
// that used to drive instances into the cap within a hundred calls.
func TestGuestMemoryStaysBounded(t *testing.T) {
	needs.Long(t, "1.6 million records through two plugins")
	const (
		workers        = 4
		callsPerWorker = 150
		bound          = 32 << 20
	)
	recs := logBatch(4500)
	for _, name := range []string{"mask-pii", "allocating"} {
		t.Run(name, func(t *testing.T) {
			m := load(t, name, HookTransform, nil, Config{PoolSize: workers})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for call := range callsPerWorker {
						n := 100 + (call*7919+w*1543)%4400
						out, _, err := m.Transform(context.Background(), "logs", 0, recs[:n])
						if err != nil {
							t.Errorf("worker %d call %d: %v", w, call, err)
							return
						}
						if len(out) != n || !strings.Contains(string(out[n-1].Value), "user=***@example.com") {
							t.Errorf("worker %d call %d: %d records out of %d, last %q", w, call, len(out), n, out[len(out)-1].Value)
							return
						}
					}
				})
			}
			wg.Wait()
			if got := largestInstanceMemory(m); got == 0 || got > bound {
				t.Fatalf("largest instance memory after %d calls: %d bytes, want (0, %d]", workers*callsPerWorker, got, bound)
			}
		})
	}
}
