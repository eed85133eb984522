package plugins_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// BenchmarkShadowOverhead: mask-pii over 100-record batches of 200 B
// lines, live alone and with a mask-pii shadow (which runs after the
// live call on the same goroutine, so roughly doubles the time).
func BenchmarkShadowOverhead(b *testing.B) {
	for _, shadow := range []bool{false, true} {
		b.Run(fmt.Sprintf("shadow=%v", shadow), func(b *testing.B) {
			ctx := context.Background()
			reg, err := plugins.Open(b.TempDir(), quietLogger)
			if err != nil {
				b.Fatal(err)
			}
			defer reg.Close()
			for _, sh := range []bool{false, shadow} {
				if _, err := reg.Deploy(ctx, plugins.DeployRequest{Name: "bench", Hook: wasm.HookTransform, Topic: "t", Wasm: module(b, "mask-pii"), Shadow: sh}); err != nil {
					b.Fatal(err)
				}
			}
			batch := make([]hooks.Record, 100)
			for i := range batch {
				line := fmt.Sprintf("user %d logged in from 10.0.0.%d mail u%d@example.com ", i, i, i)
				batch[i] = hooks.Record{Value: []byte(line + strings.Repeat("x", 200-len(line))), Offset: -1}
			}
			tr := reg.Transform("t")
			b.ResetTimer()
			for range b.N {
				if _, _, err := tr.Apply(ctx, "t", 0, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
		})
	}
}
