package wasm

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
)

const benchBatch = 1000

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// perRecord reports the batch cost per record: wall time (ns/record, the
// figure the targets name) and the process's CPU time (cpu-ns/record,
// which a loaded machine disturbs far less).
func perRecord(b *testing.B, cpuStart time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/record")
	b.ReportMetric(float64((cpuTime()-cpuStart).Nanoseconds())/float64(b.N*benchBatch), "cpu-ns/record")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRecords(value func(i int) []byte) []hooks.Record {
	recs := make([]hooks.Record, benchBatch)
	for i := range recs {
		recs[i] = hooks.Record{Key: []byte(fmt.Sprintf("user-%06d", i)), Value: value(i), Timestamp: int64(i), Offset: -1}
	}
	return recs
}

// BenchmarkPartitioner measures a partitioner's cost per record, batched
// (1000 records per call): the hand-written WAT module (pure ABI cost),
// the Go SDK key hash and the JSON page-view example.
func BenchmarkPartitioner(b *testing.B) {
	recs := benchRecords(func(i int) []byte { return []byte(fmt.Sprintf(`{"user_id":"u%d","page":"/p"}`, i%97)) })
	for _, name := range []string{"wat-partitioner", "keyhash", "pageview-partitioner"} {
		b.Run(name, func(b *testing.B) {
			m := load(b, name, HookPartitioner, nil, Config{})
			ctx := context.Background()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := m.Partition(ctx, "t", recs, 12); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, cpu)
		})
	}
}

// BenchmarkTransform measures the masking transform per record, batched,
// with half of the records needing a rewrite.
func BenchmarkTransform(b *testing.B) {
	recs := benchRecords(func(i int) []byte {
		if i%2 == 0 {
			return []byte(fmt.Sprintf("user %d logged in as user%d@example.com", i, i))
		}
		return []byte(fmt.Sprintf("user %d viewed page /items/%d", i, i))
	})
	m := load(b, "mask-pii", HookTransform, nil, Config{})
	ctx := context.Background()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Transform(ctx, "t", 0, recs); err != nil {
			b.Fatal(err)
		}
	}
	perRecord(b, cpu)
}
