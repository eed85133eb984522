package wasm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/threadcpu"
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

// logLine is a 200-byte application log line with one e-mail address,
// the shape `make bench` produces (cmd/sluice-bench newLogLines).
func logLine(i int) []byte {
	line := fmt.Sprintf("2025-03-14T09:%02d:%02d.%03dZ INFO checkout-api req=%08x action=login status=%d client=198.51.100.%d user=jane.doe%d@example.com msg=\"request served\" pad=",
		i/60%60, i%60, i%1000, uint32(i)*2654435761, 200+i%3, i%250, i)
	return []byte(line + strings.Repeat("-", 200-len(line)))
}

// BenchmarkTransform measures the masking transform per record, batched,
// on 200-byte log lines: "mask-pii" with an address in every line (every
// record rewritten, as in `make bench`), "mask-pii-clean" with none (every
// record kept by index), and SDK transforms doing no work of their own.
func BenchmarkTransform(b *testing.B) {
	clean := func(i int) []byte { return bytes.ReplaceAll(logLine(i), []byte("@"), []byte("#")) }
	for _, bc := range []struct {
		name, plugin string
		value        func(i int) []byte
	}{
		{"mask-pii", "mask-pii", logLine},
		{"mask-pii-clean", "mask-pii", clean},
		// The SDK's own floor: keep every record, rewrite every record.
		{"sdk-keep", "sdkkeep", logLine},
		{"sdk-write", "sdkwrite", logLine},
	} {
		b.Run(bc.name, func(b *testing.B) {
			recs := benchRecords(bc.value)
			m := load(b, bc.plugin, HookTransform, nil, Config{})
			ctx := context.Background()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.Transform(ctx, "t", 0, recs); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, cpu)
		})
	}
}

// BenchmarkTransformSameRun compares the transforms of BenchmarkTransform
// on a loaded machine: each round calls every variant once, in turn, and
// times each call by its thread's CPU time; each variant reports its
// median over the rounds (<variant>-ns/record). Machine load shifts every
// variant alike, so the differences (the SDK's floor, the scan, the
// rewrite) stay readable where separate benchmarks drift by tens of
// percent between runs.
func BenchmarkTransformSameRun(b *testing.B) {
	clean := func(i int) []byte { return bytes.ReplaceAll(logLine(i), []byte("@"), []byte("#")) }
	variants := []struct {
		name, plugin string
		recs         []hooks.Record
		m            *Module
		ns           []float64
	}{
		{name: "sdk-keep", plugin: "sdkkeep", recs: benchRecords(logLine)},
		{name: "sdk-write", plugin: "sdkwrite", recs: benchRecords(logLine)},
		{name: "mask-pii-clean", plugin: "mask-pii", recs: benchRecords(clean)},
		{name: "mask-pii", plugin: "mask-pii", recs: benchRecords(logLine)},
	}
	// SLUICE_BENCH_MODULES=name=path.wasm,... adds variants (on the log
	// lines with addresses; without any when the name says "clean") from
	// other builds, e.g. an SDK change's before
	// and after, to compare them in one run.
	var extra []string
	if env := os.Getenv("SLUICE_BENCH_MODULES"); env != "" {
		extra = strings.Split(env, ",")
	}
	for _, kv := range extra {
		name, path, ok := strings.Cut(kv, "=")
		if !ok {
			b.Fatalf("SLUICE_BENCH_MODULES: %q is not name=path", kv)
		}
		pluginPaths[name] = path
		recs := benchRecords(logLine)
		if strings.Contains(name, "clean") {
			recs = benchRecords(clean)
		}
		variants = append(variants, struct {
			name, plugin string
			recs         []hooks.Record
			m            *Module
			ns           []float64
		}{name: name, plugin: name, recs: recs})
	}
	for i := range variants {
		variants[i].m = load(b, variants[i].plugin, HookTransform, nil, Config{})
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range variants {
			v := &variants[j]
			start := threadcpu.Now()
			if _, _, err := v.m.Transform(ctx, "t", 0, v.recs); err != nil {
				b.Fatal(err)
			}
			v.ns = append(v.ns, float64(threadcpu.Now()-start)/float64(len(v.recs)))
		}
	}
	for _, v := range variants {
		slices.Sort(v.ns)
		b.ReportMetric(v.ns[len(v.ns)/2], v.name+"-ns/record")
	}
}

// BenchmarkFilter measures the tenant filter keeping every record (none
// is tagged, show_untagged=true), the consume side of `make bench`, in
// batches of 1,000 and of 50 (a fetch of small producer batches: the
// per-call cost shows).
func BenchmarkFilter(b *testing.B) {
	for _, size := range []int{benchBatch, 50, 1} {
		b.Run(fmt.Sprintf("batch-%d", size), func(b *testing.B) {
			recs := benchRecords(logLine)[:size]
			m := load(b, "tenant-filter", HookFilter, map[string]string{"show_untagged": "true"}, Config{})
			ctx := context.Background()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				out, err := m.Filter(ctx, "t", 0, hooks.Reader{Principal: "User:acme"}, recs)
				if err != nil || len(out) != len(recs) {
					b.Fatal(len(out), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/record")
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N*size), "cpu-ns/record")
		})
	}
}
