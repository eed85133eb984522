package conformance_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// TestKeyhashExamplesAgree loads the keyhash-partitioner example of each
// language (Go, Rust, AssemblyScript) through the broker's runtime and
// checks that for 10,000 keys (plus an unkeyed record, hashed as the empty
// key) each places every record exactly where Kafka's default partitioner
// (franz-go's, murmur2) puts that key, for several partition counts: one
// partitioner artifact in any language, and the producers' own default,
// agree.
func TestKeyhashExamplesAgree(t *testing.T) {
	examples := []struct {
		lang  string
		build func() (string, error)
	}{
		{"go", func() (string, error) { return plugbuild.GoPlugin("examples/plugins/keyhash-partitioner") }},
		{"rust", func() (string, error) { return plugbuild.RustPlugin("examples/plugins-rust", "keyhash-partitioner") }},
		{"assemblyscript", func() (string, error) {
			return plugbuild.AssemblyScriptPlugin("examples/plugins-as/keyhash-partitioner")
		}},
	}
	recs := make([]hooks.Record, 0, 10001)
	for i := 0; i < 10000; i++ {
		recs = append(recs, hooks.Record{Key: []byte("user-" + strconv.Itoa(i*2654435761%1000003)), Value: []byte("v")})
	}
	recs = append(recs, hooks.Record{Value: []byte("unkeyed")})
	e := newEngine(t)
	for _, ex := range examples {
		t.Run(ex.lang, func(t *testing.T) {
			path, err := ex.build()
			if missingToolchain(err) && testing.Short() {
				t.Skipf("-short: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			code, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			m := load(t, e, "keyhash-"+ex.lang, wasm.HookPartitioner, code, nil)
			for _, n := range []int32{1, 3, 7, 64} {
				got, err := m.Partition(context.Background(), "t", recs, n)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(recs) {
					t.Fatalf("%d partitions: %d answers for %d records", n, len(got), len(recs))
				}
				for i, p := range got {
					key := recs[i].Key
					if key == nil {
						key = []byte{}
					}
					if want := int32(kafkaDefault.Partition(&kgo.Record{Key: key}, int(n))); p != want {
						t.Fatalf("%d partitions, record %d key %q: partition %d, Kafka's default %d", n, i, key, p, want)
					}
				}
			}
		})
	}
}
