package kgowasm

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// BenchmarkPartition: one record per call, with the call timeout enforced
// (the default: the module instrumented, fuel.Yield checking the deadline)
// and disabled (the module as it is), for the WAT and the Go SDK page-view
// partitioners.
//
//	go test -run '^$' -bench Partition ./plugins/kgowasm
func BenchmarkPartition(b *testing.B) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	wat := filepath.Join(dir, "wat.wasm")
	if err := wasmtest.WAT(filepath.Join(root, "examples", "plugins", "wat-partitioner", "partitioner.wat"), wat); err != nil {
		b.Fatal(err)
	}
	pageview := filepath.Join(dir, "pageview.wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", "pageview-partitioner"), pageview); err != nil {
		b.Fatal(err)
	}
	rec := &kgo.Record{Key: []byte("user-12345"), Value: []byte(`{"user_id":"u12345","page":"/pricing"}`)}
	for _, path := range []string{wat, pageview} {
		for _, timeout := range []struct {
			name string
			d    time.Duration
		}{{"timeout", 0}, {"no-timeout", -1}} {
			b.Run(fmt.Sprintf("%s/%s", filepath.Base(path), timeout.name), func(b *testing.B) {
				p, err := Open(path, Options{CallTimeout: timeout.d, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				tp := p.ForTopic("t")
				b.ReportAllocs()
				for b.Loop() {
					if tp.Partition(rec, 12) < 0 {
						b.Fatal("failed")
					}
				}
			})
		}
	}
}
