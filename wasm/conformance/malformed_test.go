package conformance_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/sluicemq/sluice/wasm/abi"
)

// TestConformanceMalformedInput drives every module's exports directly
// (wazero, no broker in between, which never sends such batches) with
// inputs the broker must never send and checks each SDK answers them all
// the same way: a refusal (status 1) with the same message, never a trap
// or an OK answer, so a host or SDK bug shows as a clear error in every
// language alike.
func TestConformanceMalformedInput(t *testing.T) {
	codes := built(t)
	le := binary.LittleEndian
	header := func(version uint32, count uint32, strs ...string) []byte {
		b := le.AppendUint32(nil, version)
		b = le.AppendUint32(b, ^uint32(0)) // partition -1
		b = le.AppendUint32(b, 3)          // partitions
		b = le.AppendUint32(b, count)
		for i := 0; i < 4; i++ {
			n := 0
			if i < len(strs) {
				n = len(strs[i])
			}
			b = le.AppendUint32(b, uint32(n))
		}
		for _, s := range strs {
			b = append(b, s...)
		}
		return b
	}
	record := func(key []byte, headers int) []byte {
		var r []byte
		r = abi.AppendRecord(r, 5, -1, key, []byte("v"), headers, func(int) ([]byte, []byte) { return []byte("h"), nil })
		return r
	}
	good := record([]byte("k"), 1)
	patch := func(b []byte, at int, v uint32) []byte {
		c := append([]byte(nil), b...)
		le.PutUint32(c[at:], v)
		return c
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	const malformed = "sdk: abi: malformed batch"
	const version = "sdk: abi: unsupported ABI version (rebuild the plugin with the broker's SDK)"
	cases := []struct {
		name   string
		in     []byte
		offset int    // the hook is called this far past the buffer sluice_alloc returned
		want   string // refusal message; "" = OK
	}{
		{"empty batch", header(2, 0, "t"), 0, ""},
		{"one good record", cat(header(2, 1, "t"), good), 0, ""},
		{"version 1", cat(header(1, 1, "t"), good), 0, version},
		{"version 3", header(3, 0), 0, version},
		{"truncated header", header(2, 0)[:10], 0, malformed},
		{"string past the end", patch(header(2, 0, "t"), 16, 100), 0, malformed},
		{"count past the records", cat(header(2, 2, "t"), good, make([]byte, 40)), 0, malformed},
		{"count over what fits", cat(header(2, 1<<30, "t"), good), 0, malformed},
		{"body longer than the batch", cat(header(2, 1), patch(good, 0, uint32(len(good)+10))), 0, malformed},
		{"body shorter than its fields", cat(header(2, 1), patch(good, 0, uint32(len(good)-6)), make([]byte, 2)), 0, malformed},
		{"key length -2", cat(header(2, 1), patch(good, 20, 0xfffffffe)), 0, malformed},
		{"header count too large", cat(header(2, 1), patch(good, len(good)-1-4-4-4, 1000)), 0, malformed},
		{"not the allocated buffer", cat(header(2, 0, "t"), []byte{0, 0, 0, 0}), 4, malformed},
	}
	ctx := context.Background()
	// The shared compilation cache (see compileCache): the modules are
	// compiled once, not once per run.
	cache, err := wazero.NewCompilationCacheWithDir(compileCache(t))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close(ctx)
	for i, m := range modules {
		t.Run(m.Lang+"/"+string(m.Hook), func(t *testing.T) {
			if codes[i] == nil {
				t.Skip("-short without this language's toolchain")
			}
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
			defer rt.Close(ctx)
			wasi_snapshot_preview1.MustInstantiate(ctx, rt)
			_, err := rt.NewHostModuleBuilder("sluice").NewFunctionBuilder().
				WithGoFunction(api.GoFunc(func(ctx context.Context, stack []uint64) { stack[0] = uint64(uint32(0xffffffff)) }),
					[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
				Export("config_get").Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			mod, err := rt.InstantiateWithConfig(ctx, codes[i], wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
			if err != nil {
				t.Fatal(err)
			}
			exports := map[hookName]string{"partitioner": "sluice_partition", "transform": "sluice_transform", "filter": "sluice_filter"}
			hook := mod.ExportedFunction(exports[hookName(m.Hook)])
			alloc := mod.ExportedFunction("sluice_alloc")
			for _, c := range cases {
				res, err := alloc.Call(ctx, uint64(len(c.in)))
				if err != nil {
					t.Fatalf("%s: alloc: %v", c.name, err)
				}
				ptr := uint32(res[0])
				if !mod.Memory().Write(ptr, c.in) {
					t.Fatalf("%s: alloc returned %#x", c.name, ptr)
				}
				res, err = hook.Call(ctx, uint64(ptr)+uint64(c.offset), uint64(len(c.in)-c.offset))
				if err != nil {
					t.Fatalf("%s: the module trapped: %v", c.name, err)
				}
				out, ok := mod.Memory().Read(uint32(res[0]>>32), uint32(res[0]))
				if !ok {
					t.Fatalf("%s: answer outside memory", c.name)
				}
				got := describe(out)
				want := "status 0"
				if c.want != "" {
					want = fmt.Sprintf("status 1 %q", c.want)
				}
				if got != want {
					t.Errorf("%s: got %s, want %s", c.name, got, want)
				}
			}
		})
	}
}

type hookName string

// describe is an answer's status and, for refusals, its message.
func describe(out []byte) string {
	r := abi.NewReader(out)
	status := r.Uint32()
	if r.Err() != nil {
		return "empty answer"
	}
	if status == abi.StatusOK {
		return "status 0"
	}
	return fmt.Sprintf("status %d %q", status, r.String())
}
