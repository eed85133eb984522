package kgowasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// The client-side partitioner must pick, for every record, the partition
// the broker picks with the same module: 10,000 keys through kgowasm one
// record at a time, and through the broker's wasm.Module.Partition in
// batches of 1,000, for the WAT example and the Go SDK page-view example
// (JSON user_id, else the key, else partition 0), also configured as at
// deploy (field=page).
func TestAgreesWithTheBrokerFor10000Keys(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go plugin")
	}
	dir := t.TempDir()
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	wat := filepath.Join(dir, "wat.wasm")
	if err := wasmtest.WAT(filepath.Join(root, "examples", "plugins", "wat-partitioner", "partitioner.wat"), wat); err != nil {
		t.Fatal(err)
	}
	pageview := filepath.Join(dir, "pageview.wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", "pageview-partitioner"), pageview); err != nil {
		t.Fatal(err)
	}
	const n, partitions = 10_000, 13
	recs := make([]*kgo.Record, n)
	for i := range recs {
		r := &kgo.Record{Key: fmt.Appendf(nil, "user-%d", i)}
		switch i % 4 {
		case 0:
			r.Value = fmt.Appendf(nil, `{"user_id":"u%d","page":"/p/%d"}`, i%977, i)
		case 1:
			r.Value = []byte(`{"page":"/no-user"}`)
		case 2:
			r.Key = nil // no key, no user: partition 0 for both plugins
		}
		recs[i] = r
	}
	for _, c := range []struct {
		name, path string
		config     map[string]string
	}{
		{"wat", wat, nil},
		{"pageview", pageview, nil},
		{"pageview field=page", pageview, map[string]string{"field": "page"}},
	} {
		path := c.path
		t.Run(c.name, func(t *testing.T) {
			p, err := Open(path, Options{Logger: quiet, Config: c.config})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			engine, err := wasm.NewEngine(wasm.Config{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer engine.Close()
			code := mustRead(t, path)
			broker, err := engine.Load(context.Background(), wasm.Spec{Name: "broker", Hook: wasm.HookPartitioner, Config: c.config, Wasm: code})
			if err != nil {
				t.Fatal(err)
			}
			defer broker.Close()

			tp := p.ForTopic("t")
			used := map[int32]bool{}
			for start := 0; start < n; start += 1000 {
				batch := make([]hooks.Record, 0, 1000)
				for _, r := range recs[start : start+1000] {
					batch = append(batch, hookRecord(r))
				}
				want, err := broker.Partition(context.Background(), "t", batch, partitions)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range recs[start : start+1000] {
					if got := tp.Partition(r, partitions); int32(got) != want[i] {
						t.Fatalf("record %d (key %q): client partition %d, broker %d", start+i, r.Key, got, want[i])
					}
					used[want[i]] = true
				}
			}
			if len(used) != partitions {
				t.Fatalf("only %d of %d partitions used: the comparison would prove little", len(used), partitions)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hookRecord is r as the broker presents it to a partitioner.
func hookRecord(r *kgo.Record) hooks.Record {
	rec := hooks.Record{Key: r.Key, Value: r.Value, Offset: -1}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, hooks.Header{Key: h.Key, Value: h.Value})
	}
	return rec
}

// A Go SDK plugin's panic fails the record with the panic's message (the
// stack goes to the log), and the partitioner keeps working; an SDK
// module that registers a transform is refused at Open as the broker
// refuses it at deploy.
func TestGoPluginPanicAndWrongHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go plugins")
	}
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gopanic, sdkkeep := filepath.Join(dir, "gopanic.wasm"), filepath.Join(dir, "sdkkeep.wasm")
	for src, out := range map[string]string{"gopanic": gopanic, "sdkkeep": sdkkeep} {
		if err := wasmtest.GoPlugin(filepath.Join(root, "wasm", "testdata", src), out); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Open(gopanic, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := 0; i < 2; i++ {
		_, err = p.PartitionRecord("orders", &kgo.Record{Key: []byte("boom")}, 3)
		if want := `kgowasm: partitioner failed on a record of topic "orders": panic: bad key boom; `; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %v, want one starting %q", err, want)
		}
		if got, err := p.PartitionRecord("orders", &kgo.Record{Key: []byte("fine")}, 3); got != 0 || err != nil {
			t.Fatalf("after the panic: partition %d, %v", got, err)
		}
	}
	if _, err := Open(sdkkeep, Options{Logger: quiet}); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "registers no partitioner") {
		t.Fatalf("Open(sdkkeep): %v, want ErrInvalidModule naming the missing partitioner", err)
	}
}
