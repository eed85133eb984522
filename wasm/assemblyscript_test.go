package wasm_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/needs"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/internal/testkit/buildcache"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// The AssemblyScript SDK (sdk/assemblyscript) and its examples
// (examples/plugins-as), built from source with the npm AssemblyScript
// compiler (scripts/install-assemblyscript.sh installs it) and run by the
// broker's runtime. The conformance-* modules implement the ABI
// conformance spec (partitioner, transform, filter) exactly.

// asExamplesDir is examples/plugins-as: its node_modules holds the
// compiler and the SDK (linked by path), its asconfig.json extends the
// SDK's.
func asExamplesDir() (string, error) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "examples", "plugins-as"), nil
}

// BuildAssemblyScript compiles the AssemblyScript plugin whose entry is
// dir/index.ts into outDir/<base of dir>.wasm and returns that path. It
// uses the compiler and the SDK installed in examples/plugins-as (npm ci
// there; scripts/install-assemblyscript.sh does it) and the SDK's build
// options, so dir may be anywhere.
func BuildAssemblyScript(dir, outDir string) (wasmPath string, err error) {
	ex, err := asExamplesDir()
	if err != nil {
		return "", err
	}
	asc := filepath.Join(ex, "node_modules", "assemblyscript", "bin", "asc.js")
	if _, err := os.Stat(asc); err != nil {
		return "", fmt.Errorf("no AssemblyScript compiler (%v): run scripts/install-assemblyscript.sh", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(outDir, filepath.Base(dir)+".wasm"))
	if err != nil {
		return "", err
	}
	build := func() error {
		cmd := exec.Command("node", asc, "index.ts",
			"--config", filepath.Join(ex, "asconfig.json"),
			"--path", filepath.Join(ex, "node_modules"),
			"-o", out)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("asc %s: %w: %s", dir, err, stderr.String())
		}
		return nil
	}
	// asc takes 5-20 s of CPU per module: the build is kept between runs
	// (package buildcache), keyed by the plugin's sources, the SDK's, the
	// build options and the installed compiler's version, like the Go
	// plugins' builds.
	key, err := buildcache.KeyFiles("asc index.ts",
		dir,
		filepath.Join(ex, "asconfig.json"),
		filepath.Join(ex, "node_modules", "@sluicemq", "plugin-sdk"),
		filepath.Join(ex, "node_modules", "assemblyscript", "package.json"))
	if err != nil {
		key = "" // Build then just builds
	} else {
		key += ".wasm"
	}
	if err := buildcache.Build(key, out, build); err != nil {
		return "", err
	}
	return out, nil
}

var (
	asOnce  sync.Once
	asPaths map[string]string
	asErr   error
)

// asModules builds every AssemblyScript example once per test binary,
// into examples/plugins-as/build (ignored by git; `npm run build` writes
// the same place).
func asModules(t testing.TB) map[string]string {
	t.Helper()
	needs.Short(t, "node and the npm AssemblyScript compiler (scripts/install-assemblyscript.sh)")
	asOnce.Do(func() {
		ex, err := asExamplesDir()
		if err != nil {
			asErr = err
			return
		}
		entries, err := os.ReadDir(ex)
		if err != nil {
			asErr = err
			return
		}
		asPaths = map[string]string{}
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			errs []error
			sem  = make(chan struct{}, 2)
		)
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(ex, e.Name(), "index.ts")); !e.IsDir() || err != nil {
				continue
			}
			name := e.Name()
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				p, err := BuildAssemblyScript(filepath.Join(ex, name), filepath.Join(ex, "build"))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				asPaths[name] = p
			}()
		}
		wg.Wait()
		asErr = errors.Join(errs...)
	})
	if asErr != nil {
		t.Fatalf("building the AssemblyScript plugins: %v", asErr)
	}
	return asPaths
}

func loadAS(t testing.TB, name string, hook wasm.Hook, config map[string]string) *wasm.Module {
	t.Helper()
	code, err := os.ReadFile(asModules(t)[name])
	if err != nil {
		t.Fatal(err)
	}
	return loadCode(t, name, hook, config, code)
}

func loadCode(t testing.TB, name string, hook wasm.Hook, config map[string]string, code []byte) *wasm.Module {
	t.Helper()
	e, err := wasm.NewEngine(wasm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Load(context.Background(), wasm.Spec{Name: name, Hook: hook, Config: config, Wasm: code})
	if err != nil {
		e.Close()
		t.Fatalf("load %s as %s: %v", name, hook, err)
	}
	t.Cleanup(func() {
		m.Close()
		e.Close()
	})
	return m
}

// murmur2 is Kafka's Utils.murmur2, written from its definition.
func murmur2(b []byte) uint32 {
	const m = 0x5bd1e995
	h := uint32(0x9747b28c) ^ uint32(len(b))
	n := len(b) &^ 3
	for i := 0; i < n; i += 4 {
		k := uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) & 3 {
	case 3:
		h ^= uint32(b[n+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[n+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[n])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

func kafkaPartition(key []byte, n int32) int32 { return int32(murmur2(key)&0x7fffffff) % n }

func hdr(k, v string) hooks.Header { return hooks.Header{Key: k, Value: []byte(v)} }

func TestAssemblyScriptConformancePartitioner(t *testing.T) {
	m := loadAS(t, "conformance-partitioner", wasm.HookPartitioner, nil)
	ctx := context.Background()
	recs := []hooks.Record{
		{Key: []byte("alice"), Value: []byte("v"), Offset: -1},
		{Key: nil, Value: []byte("12345678901"), Offset: -1},
		{Key: []byte(""), Value: []byte("x"), Offset: -1, Headers: []hooks.Header{hdr("h", "1"), {Key: "null"}}},
		{Key: nil, Value: nil, Offset: -1},
		{Key: nil, Value: []byte{}, Offset: -1, Headers: []hooks.Header{hdr("a", "b")}},
		{Key: []byte("ünïcødé-κλειδί"), Value: nil, Timestamp: 1700000000000, Offset: -1},
		{Key: []byte("abc"), Value: []byte("v"), Offset: -1},
		{Key: []byte("abcdefg"), Value: []byte("v"), Offset: -1},
	}
	const n = 7
	want := []int32{kafkaPartition([]byte("alice"), n), 11 % n, kafkaPartition(nil, n), 0, 0,
		kafkaPartition([]byte("ünïcødé-κλειδί"), n), kafkaPartition([]byte("abc"), n), kafkaPartition([]byte("abcdefg"), n)}
	got, err := m.Partition(ctx, "t", recs, n)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions %v, want %v", got, want)
	}
	// An empty batch answers an empty batch (what the deploy probe sends).
	if got, err := m.Partition(ctx, "t", nil, n); err != nil || len(got) != 0 {
		t.Fatalf("empty batch: %v %v", got, err)
	}

	for _, tc := range []struct {
		key    string
		sentry error
		policy bool
	}{{"reject", hooks.ErrRejected, false}, {"policy", hooks.ErrPolicy, true}} {
		batch := append(append([]hooks.Record{}, recs[:2]...), hooks.Record{Key: []byte(tc.key), Value: []byte("v"), Offset: -1})
		_, err := m.Partition(ctx, "t", batch, n)
		var refusal *wasm.RefusalError
		if !errors.Is(err, tc.sentry) || !errors.As(err, &refusal) || refusal.Policy != tc.policy {
			t.Fatalf("key %q: err %v, want a refusal wrapping %v", tc.key, err, tc.sentry)
		}
		if refusal.Message != "record 2: "+tc.key {
			t.Fatalf("key %q: message %q", tc.key, refusal.Message)
		}
	}
	// The module still answers after refusals.
	if got, err := m.Partition(ctx, "t", recs[:1], n); err != nil || !reflect.DeepEqual(got, want[:1]) {
		t.Fatalf("after refusals: %v %v", got, err)
	}
}

func TestAssemblyScriptConformanceTransform(t *testing.T) {
	ctx := context.Background()
	in := []hooks.Record{
		{Key: []byte("plain"), Value: []byte("v0"), Timestamp: 10, Offset: -1, Headers: []hooks.Header{hdr("a", "1")}},
		{Key: []byte("drop"), Value: []byte("gone"), Timestamp: 11, Offset: -1},
		{Key: []byte("dup"), Value: []byte("twice"), Timestamp: 12, Offset: -1, Headers: []hooks.Header{hdr("h1", "x"), {Key: "h2"}}},
		{Key: []byte("upper"), Value: []byte("Hello, wörld 42!"), Timestamp: 13, Offset: -1, Headers: []hooks.Header{hdr("keep", "me")}},
		{Key: []byte("emit"), Value: []byte("to-emits"), Timestamp: 14, Offset: -1, Headers: []hooks.Header{hdr("e", "1")}},
		{Key: nil, Value: []byte("no key"), Timestamp: 15, Offset: -1},
		{Key: []byte("empty"), Value: []byte{}, Timestamp: 16, Offset: -1},
		{Key: nil, Value: nil, Timestamp: 17, Offset: -1},
		{Key: []byte("upper"), Value: nil, Timestamp: 18, Offset: -1},
		{Key: []byte("dup"), Value: []byte{}, Timestamp: 19, Offset: -1},
	}
	wantOut := []hooks.Record{
		in[0],
		in[2],
		{Key: []byte("dup-copy"), Value: []byte("twice"), Timestamp: 12, Offset: -1, Headers: []hooks.Header{hdr("h1", "x"), {Key: "h2"}}},
		{Key: []byte("upper"), Value: []byte("HELLO, WöRLD 42!"), Timestamp: 13, Offset: -1, Headers: []hooks.Header{hdr("keep", "me"), hdr("x-upper", "1")}},
		in[4],
		in[5],
		in[6],
		in[7],
		{Key: []byte("upper"), Value: nil, Timestamp: 18, Offset: -1, Headers: []hooks.Header{hdr("x-upper", "1")}},
		in[9],
		{Key: []byte("dup-copy"), Value: []byte{}, Timestamp: 19, Offset: -1},
	}
	for _, tc := range []struct {
		config map[string]string
		topic  string
	}{
		{nil, "conformance-emits"},
		{map[string]string{"emit_topic": "elsewhere"}, "elsewhere"},
		// Longer than the SDK's first buffer: config_get is asked again.
		{map[string]string{"emit_topic": strings.Repeat("long-topic.", 40)}, strings.Repeat("long-topic.", 40)},
	} {
		m := loadAS(t, "conformance-transform", wasm.HookTransform, tc.config)
		// Twice: the second call reuses the module's buffers.
		for round := 0; round < 2; round++ {
			out, emits, err := m.Transform(ctx, "src", 3, in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out, wantOut) {
				t.Fatalf("out:\n got %s\nwant %s", dumpRecs(out), dumpRecs(wantOut))
			}
			wantEmits := []hooks.Emit{{Topic: tc.topic, Record: in[4]}}
			if !reflect.DeepEqual(emits, wantEmits) {
				t.Fatalf("emits %+v, want %+v", emits, wantEmits)
			}
		}

		// Everything dropped: an empty output, no error.
		out, emits, err := m.Transform(ctx, "src", 0, []hooks.Record{in[1], in[1]})
		if err != nil || len(out) != 0 || len(emits) != 0 {
			t.Fatalf("all dropped: out %v emits %v err %v", out, emits, err)
		}
		for _, rc := range []struct {
			key    string
			sentry error
		}{{"reject", hooks.ErrRejected}, {"policy", hooks.ErrPolicy}} {
			batch := []hooks.Record{in[0], in[4], {Key: []byte(rc.key), Value: []byte("v"), Offset: -1}, in[2]}
			_, _, err := m.Transform(ctx, "src", 0, batch)
			var refusal *wasm.RefusalError
			if !errors.Is(err, rc.sentry) || !errors.As(err, &refusal) || refusal.Message != "record 2: "+rc.key {
				t.Fatalf("key %q: err %v, want a refusal %q wrapping %v", rc.key, err, "record 2: "+rc.key, rc.sentry)
			}
		}
	}
}

func TestAssemblyScriptConformanceFilter(t *testing.T) {
	m := loadAS(t, "conformance-filter", wasm.HookFilter, nil)
	in := []hooks.Record{
		{Key: []byte("a"), Value: []byte("plain"), Timestamp: 1, Offset: 100},
		{Key: []byte("b"), Value: []byte("hidden"), Timestamp: 2, Offset: 101, Headers: []hooks.Header{{Key: "hide"}}},
		{Key: []byte("mask"), Value: []byte("secret"), Timestamp: 3, Offset: 102, Headers: []hooks.Header{hdr("x", "y")}},
		{Key: nil, Value: []byte("acme's"), Timestamp: 4, Offset: 103, Headers: []hooks.Header{hdr("tenant", "User:acme")}},
		{Key: nil, Value: []byte("globex's"), Timestamp: 5, Offset: 104, Headers: []hooks.Header{hdr("tenant", "User:globex")}},
		{Key: []byte("e"), Value: []byte{}, Timestamp: 6, Offset: 105},
		{Key: []byte("n"), Value: nil, Timestamp: 7, Offset: 106, Headers: []hooks.Header{{Key: "tenant"}}},
		{Key: []byte("mask"), Value: nil, Timestamp: 8, Offset: 107, Headers: []hooks.Header{hdr("hide", "1")}},
	}
	masked := hooks.Record{Key: []byte("mask"), Value: []byte("***"), Timestamp: 3, Offset: 102, Headers: []hooks.Header{hdr("x", "y")}}
	for _, tc := range []struct {
		principal string
		want      []hooks.Record
	}{
		{"", []hooks.Record{in[0], masked, in[3], in[4], in[5], in[6]}},
		{"User:acme", []hooks.Record{in[0], masked, in[3], in[5]}},
		{"User:globex", []hooks.Record{in[0], masked, in[4], in[5]}},
	} {
		got, err := m.Filter(context.Background(), "t", 0, hooks.Reader{GroupID: "g", ClientID: "User:acme", Principal: tc.principal}, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("principal %q:\n got %s\nwant %s", tc.principal, dumpRecs(got), dumpRecs(tc.want))
		}
	}
	if got, err := m.Filter(context.Background(), "t", 0, hooks.Reader{}, in[1:2]); err != nil || len(got) != 0 {
		t.Fatalf("all hidden: %v %v", got, err)
	}
}

// The key-hash example places 10,000 keys where Kafka's default
// partitioner does: franz-go's (murmur2, as the Java client) and the
// murmur2 written here.
func TestAssemblyScriptKeyHashAgreesWithKafka(t *testing.T) {
	m := loadAS(t, "keyhash-partitioner", wasm.HookPartitioner, nil)
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int32{1, 3, 16, 100} {
		recs := make([]hooks.Record, 10000)
		want := make([]int32, len(recs))
		for i := range recs {
			key := []byte(fmt.Sprintf("user-%d-%s", i, strings.Repeat("k", i%9)))
			recs[i] = hooks.Record{Key: key, Value: []byte("v"), Offset: -1}
			want[i] = kafkaPartition(key, n)
			if k := int32(kp.Partition(&kgo.Record{Key: key}, int(n))); k != want[i] {
				t.Fatalf("key %q: franz-go says %d, murmur2 here %d", key, k, want[i])
			}
		}
		got, err := m.Partition(context.Background(), "t", recs, n)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%d partitions: key %q -> %d, Kafka %d", n, recs[i].Key, got[i], want[i])
				}
			}
			t.Fatalf("%d partitions: %d answers for %d records", n, len(got), len(want))
		}
	}
	got, err := m.Partition(context.Background(), "t", []hooks.Record{{Value: []byte("unkeyed")}}, 16)
	if err != nil || !reflect.DeepEqual(got, []int32{kafkaPartition(nil, 16)}) {
		t.Fatalf("unkeyed: %v %v", got, err)
	}
}

func TestAssemblyScriptMaskEmail(t *testing.T) {
	m := loadAS(t, "mask-email", wasm.HookTransform, nil)
	long := strings.Repeat("x", 600) + " bob@example.org " + strings.Repeat("y", 600)
	in := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for jane.doe@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1,
			Headers: []hooks.Header{hdr("app", "web")}},
		{Key: []byte("b"), Value: []byte("two: a+b@x.io, c_d@sub.example.co.uk."), Timestamp: 1001, Offset: -1},
		{Key: []byte("c"), Value: []byte("nothing @ here; not@an-address; user@host.c1"), Timestamp: 1002, Offset: -1},
		{Key: []byte("d"), Value: nil, Timestamp: 1003, Offset: -1},
		{Key: []byte("e"), Value: []byte{}, Timestamp: 1004, Offset: -1},
		{Key: []byte("f"), Value: []byte(long), Timestamp: 1005, Offset: -1},
	}
	want := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for ***@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1,
			Headers: []hooks.Header{hdr("app", "web")}},
		{Key: []byte("b"), Value: []byte("two: ***@x.io, ***@sub.example.co.uk."), Timestamp: 1001, Offset: -1},
		in[2], in[3], in[4],
		{Key: []byte("f"), Value: []byte(strings.ReplaceAll(long, "bob@", "***@")), Timestamp: 1005, Offset: -1},
	}
	for round := 0; round < 2; round++ {
		out, emits, err := m.Transform(context.Background(), "logs", 0, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, want) || len(emits) != 0 {
			t.Fatalf("got %s, want %s (emits %v)", dumpRecs(out), dumpRecs(want), emits)
		}
	}
}

func TestAssemblyScriptTenantFilter(t *testing.T) {
	in := []hooks.Record{
		{Value: []byte("a1"), Offset: 10, Headers: []hooks.Header{hdr("tenant", "acme")}},
		{Value: []byte("g1"), Offset: 11, Headers: []hooks.Header{hdr("tenant", "globex")}},
		{Value: []byte("none"), Offset: 12},
		{Value: []byte("a2"), Offset: 13, Headers: []hooks.Header{{Key: "x"}, hdr("tenant", "acme")}},
	}
	m := loadAS(t, "filter", wasm.HookFilter, nil)
	for _, tc := range []struct {
		principal, client string
		want              []hooks.Record
	}{
		{"User:acme", "whatever", []hooks.Record{in[0], in[3]}},
		{"User:globex", "acme", []hooks.Record{in[1]}},
		{"User:initech", "globex", []hooks.Record{}},
		{"User:ANONYMOUS", "acme", []hooks.Record{}},
		{"", "acme", []hooks.Record{}},
	} {
		got, err := m.Filter(context.Background(), "events", 0, hooks.Reader{ClientID: tc.client, GroupID: "g", Principal: tc.principal}, in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %s, want %s", tc.principal, dumpRecs(got), dumpRecs(tc.want))
		}
	}
	// Configured at deploy: another header, untagged records shown.
	m = loadAS(t, "filter", wasm.HookFilter, map[string]string{"header": "x", "show_untagged": "true"})
	got, err := m.Filter(context.Background(), "events", 0, hooks.Reader{Principal: "User:acme"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hooks.Record{in[0], in[1], in[2]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("configured: got %s, want %s", dumpRecs(got), dumpRecs(want))
	}
}

// Deploy-time checks take AssemblyScript modules as they take Go ones: each
// loads as its own hook and is refused as another, naming its own.
func TestAssemblyScriptModulesDeployAsTheirHookOnly(t *testing.T) {
	mods := asModules(t)
	for name, hook := range map[string]wasm.Hook{
		"conformance-partitioner": wasm.HookPartitioner, "conformance-transform": wasm.HookTransform,
		"conformance-filter": wasm.HookFilter, "keyhash-partitioner": wasm.HookPartitioner,
		"mask-email": wasm.HookTransform, "filter": wasm.HookFilter,
	} {
		code, err := os.ReadFile(mods[name])
		if err != nil {
			t.Fatal(err)
		}
		loadCode(t, name, hook, nil, code)
		for _, other := range []wasm.Hook{wasm.HookPartitioner, wasm.HookTransform, wasm.HookFilter} {
			if other == hook {
				continue
			}
			e, err := wasm.NewEngine(wasm.Config{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.Load(context.Background(), wasm.Spec{Name: name, Hook: other, Wasm: code})
			if err == nil {
				m.Close()
				e.Close()
				t.Fatalf("%s (a %s) loaded as a %s", name, hook, other)
			}
			e.Close()
			// The SDK's noPartitioner/noTransform/noFilter, re-exported
			// under the other hooks' names, let the deploy check name the
			// hook the module implements.
			want := fmt.Sprintf("the module registers a %s, deployed as %s: deploy it with --hook %s", hook, other, hook)
			if !errors.Is(err, wasm.ErrInvalidModule) || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s as %s: %v, want ErrInvalidModule with %q", name, other, err, want)
			}
		}
		// Nothing but the broker's imports, and the exports of the ABI.
		if imports := moduleImports(t, code); len(imports) == 0 {
			t.Fatalf("%s: no imports found", name)
		} else {
			for _, imp := range imports {
				if !strings.HasPrefix(imp, "sluice.") && !strings.HasPrefix(imp, "wasi_snapshot_preview1.") {
					t.Fatalf("%s imports %s: the broker offers only sluice.* and wasi_snapshot_preview1.*", name, imp)
				}
			}
		}
	}
}

// A trap in the plugin (here: AssemblyScript's abort, through the SDK's
// replacement) is a plugin failure whose error starts with the plugin's
// own "panic: ..." line; the next call gets a fresh instance.
func TestAssemblyScriptAbortIsAPanicLine(t *testing.T) {
	asModules(t) // the compiler is there
	dir := t.TempDir()
	src := filepath.Join(dir, "aborter")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(src, "index.ts"), []byte(`
import { Record, runPartitioner, text } from "@sluicemq/plugin-sdk";
export { sluice_alloc } from "@sluicemq/plugin-sdk";
function part(r: Record, n: i32): i32 {
  if (text(r.key) == "boom") throw new Error("bad key " + text(r.key));
  return 0;
}
export function sluice_partition(ptr: usize, len: u32): u64 { return runPartitioner(ptr, len, part); }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	path, err := BuildAssemblyScript(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := loadCode(t, "aborter", wasm.HookPartitioner, nil, code)
	_, err = m.Partition(context.Background(), "t", []hooks.Record{{Key: []byte("ok")}, {Key: []byte("boom")}}, 3)
	var ce *wasm.CallError
	if !errors.As(err, &ce) || !errors.Is(err, wasm.ErrTrap) || !strings.HasPrefix(ce.Detail, "panic: bad key boom; ") {
		t.Fatalf("err %v, want a trap starting with the panic line", err)
	}
	if got, err := m.Partition(context.Background(), "t", []hooks.Record{{Key: []byte("ok")}}, 3); err != nil || !reflect.DeepEqual(got, []int32{0}) {
		t.Fatalf("after the trap: %v %v", got, err)
	}
}

// AssemblyScript plugins deployed to a real broker through the admin API:
// the conformance partitioner on beacons, the conformance transform on
// produce (kgo; drops, a duplicate, a rewrite and an emit, stored exactly)
// and mask-email, then the conformance filter on fetch.
func TestAssemblyScriptE2EOnBroker(t *testing.T) {
	mods := asModules(t)
	n := testkit.StartNode(t, testkit.WithSmallOffsetsTopic())
	cl := n.Client(t, kgo.ProducerLinger(0))
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	n.CreateTopics(t, 1, "src", "emits", "logs", "tenants")
	deploy := func(name, hook, topic, module string, config ...string) {
		t.Helper()
		code, err := os.ReadFile(mods[module])
		if err != nil {
			t.Fatal(err)
		}
		n.Deploy(t, name, hook, topic, code, config...)
	}
	n.CreateTopic(t, "beacons", 7)
	deploy("conf-partitioner", "partitioner", "beacons", "conformance-partitioner")
	deploy("conf-transform", "transform", "src", "conformance-transform", "emit_topic=emits")
	deploy("mask", "transform", "logs", "mask-email")
	deploy("conf-filter", "filter", "tenants", "conformance-filter")

	rec := func(topic, key, value string, headers ...kgo.RecordHeader) *kgo.Record {
		return &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(value), Headers: headers}
	}
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	if err := cl.ProduceSync(tctx,
		rec("src", "plain", "p", h("a", "1")), rec("src", "drop", "d"), rec("src", "dup", "twice"),
		rec("src", "upper", "shout", h("k", "v")), rec("src", "emit", "out"),
		rec("logs", "", "mail jane@example.com now"), rec("logs", "", "no address"),
		rec("tenants", "a", "shown"), rec("tenants", "b", "hidden", h("hide", "")),
		rec("tenants", "mask", "secret"), rec("tenants", "c", "acme's", h("tenant", "User:acme")),
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	type kv struct{ key, value, headers string }
	consume := func(topic string, want int) []kv {
		t.Helper()
		var got []kv
		for _, r := range n.Consume(t, tctx, topic, want) {
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, h.Key+"="+string(h.Value))
			}
			got = append(got, kv{string(r.Key), string(r.Value), strings.Join(hs, ",")})
		}
		return got
	}
	for _, tc := range []struct {
		topic string
		want  []kv
	}{
		{"src", []kv{{"plain", "p", "a=1"}, {"dup", "twice", ""}, {"dup-copy", "twice", ""}, {"upper", "SHOUT", "k=v,x-upper=1"}, {"emit", "out", ""}}},
		{"emits", []kv{{"emit", "out", ""}}},
		{"logs", []kv{{"", "mail ***@example.com now", ""}, {"", "no address", ""}}},
		// An unauthenticated reader is User:ANONYMOUS: the tenant record
		// is not its own.
		{"tenants", []kv{{"a", "shown", ""}, {"mask", "***", ""}}},
	} {
		if got := consume(tc.topic, len(tc.want)); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: got %v, want %v", tc.topic, got, tc.want)
		}
	}

	// Beacons have no partition: the partitioner places them (unkeyed by
	// the value's length, keyed by murmur2).
	wantPart := map[string]int32{"a": 1, "bb": 2, "cccc": 4, "keyed": kafkaPartition([]byte("alice"), 7)}
	for _, v := range []string{"a", "bb", "cccc", "keyed"} {
		u := n.HTTPBase + "/beacon/beacons"
		if v == "keyed" {
			u += "?key=alice"
		}
		resp, err := http.Post(u, "text/plain", strings.NewReader(v))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("beacon %q: %d %s", v, resp.StatusCode, body)
		}
	}
	gotPart := map[string]int32{}
	for _, r := range n.Consume(t, tctx, "beacons", len(wantPart)) {
		gotPart[string(r.Value)] = r.Partition
	}
	if !reflect.DeepEqual(gotPart, wantPart) {
		t.Fatalf("beacon partitions %v, want %v", gotPart, wantPart)
	}

	// A refusal reaches the producer as INVALID_RECORD with the plugin's
	// message; nothing of the batch is stored.
	err := cl.ProduceSync(tctx, rec("src", "plain", "p2"), rec("src", "reject", "r")).FirstErr()
	if err == nil || !strings.Contains(err.Error(), "INVALID_RECORD") {
		t.Fatalf("reject: %v, want INVALID_RECORD", err)
	}
}

// TestAssemblyScriptMemoryStaysBounded pushes batches of varying size
// (100 to 4,500 records of 200 bytes, up to ~1 MB) through AssemblyScript
// transforms under a 16 MiB memory cap: mask-email (one reused buffer, a
// view per masked record) and the conformance transform (new arrays and
// records per record). The SDK's reused buffers and the incremental
// collector must keep every call under the cap.
func TestAssemblyScriptMemoryStaysBounded(t *testing.T) {
	needs.Long(t, "600 batches through two plugins")
	recs := make([]hooks.Record, 4500)
	keys := [][]byte{[]byte("upper"), []byte("dup"), []byte("plain"), []byte("drop")}
	for i := range recs {
		recs[i] = hooks.Record{Key: keys[i%len(keys)], Value: asLogLine(i), Timestamp: 1, Offset: -1, Headers: []hooks.Header{hdr("h", "v")}}
	}
	for _, name := range []string{"mask-email", "conformance-transform"} {
		t.Run(name, func(t *testing.T) {
			code, err := os.ReadFile(asModules(t)[name])
			if err != nil {
				t.Fatal(err)
			}
			e, err := wasm.NewEngine(wasm.Config{MemoryLimitPages: 256, PoolSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			m, err := e.Load(context.Background(), wasm.Spec{Name: name, Hook: wasm.HookTransform, Wasm: code})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for call := range 300 {
				n := 100 + (call*7919)%4400
				out, _, err := m.Transform(context.Background(), "logs", 0, recs[:n])
				if err != nil {
					t.Fatalf("call %d (%d records): %v", call, n, err)
				}
				if name == "mask-email" && (len(out) != n || !bytes.Contains(out[n-1].Value, []byte("***@example.com"))) {
					t.Fatalf("call %d: %d records out of %d", call, len(out), n)
				}
			}
			if used := e.BudgetUsed(); used <= 0 || used > 16<<20 {
				t.Fatalf("instance memory after 300 calls: %d bytes", used)
			}
		})
	}
}

// The SDK refuses batches it cannot read (status 1, "sdk: abi: ...")
// rather than answering from garbage: another ABI version (what the deploy
// probe turns into "rebuild it with the current SDK"), a record count the
// bytes cannot hold, a truncated record, a batch not where sluice_alloc put
// it. The broker never sends these; the module runs here on bare wazero.
func TestAssemblyScriptSDKRefusesMalformedBatches(t *testing.T) {
	code, err := os.ReadFile(asModules(t)["conformance-partitioner"])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.InstantiateWithConfig(ctx, code, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	header := func(version, count uint32, topic string) []byte {
		b := le.AppendUint32(nil, version)
		b = le.AppendUint32(b, 0xffffffff) // partition -1
		b = le.AppendUint32(b, 4)          // partitions
		b = le.AppendUint32(b, count)
		b = le.AppendUint32(b, uint32(len(topic)))
		b = append(b, make([]byte, 12)...)
		return append(b, topic...)
	}
	record := func(key string, keyLen int32) []byte {
		body := make([]byte, 16) // timestamp, offset
		body = le.AppendUint32(body, uint32(keyLen))
		body = append(body, key...)
		body = le.AppendUint32(body, 0xffffffff) // null value
		body = le.AppendUint32(body, 0)          // no headers
		return append(le.AppendUint32(nil, uint32(len(body))), body...)
	}
	call := func(in []byte, offsetPtr uint32) (uint32, string) {
		t.Helper()
		res, err := mod.ExportedFunction("sluice_alloc").Call(ctx, uint64(len(in)))
		if err != nil {
			t.Fatal(err)
		}
		ptr := uint32(res[0])
		if !mod.Memory().Write(ptr, in) {
			t.Fatal("alloc outside memory")
		}
		res, err = mod.ExportedFunction("sluice_partition").Call(ctx, uint64(ptr+offsetPtr), uint64(len(in)))
		if err != nil {
			t.Fatal(err)
		}
		out, ok := mod.Memory().Read(uint32(res[0]>>32), uint32(res[0]))
		if !ok || len(out) < 4 {
			t.Fatalf("answer %#x outside memory", res[0])
		}
		status := le.Uint32(out)
		if status == 0 {
			return 0, fmt.Sprint(out[4:])
		}
		n := le.Uint32(out[4:])
		return status, string(out[8 : 8+n])
	}
	if status, body := call(append(header(2, 1, "t"), record("k", 1)...), 0); status != 0 {
		t.Fatalf("valid batch: status %d %s", status, body)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		off  uint32
		want string
	}{
		{"version 1", append(header(1, 1, "t"), record("k", 1)...), 0, "sdk: abi: unsupported ABI version (rebuild the plugin with the broker's SDK)"},
		{"version 3", header(3, 0, "t"), 0, "sdk: abi: unsupported ABI version (rebuild the plugin with the broker's SDK)"},
		{"count beyond the bytes", append(header(2, 5, "t"), record("k", 1)...), 0, "sdk: abi: malformed batch"},
		{"missing records", append(header(2, 2, "t"), record("k", 1)...), 0, "sdk: abi: malformed batch"},
		{"key past its record", append(header(2, 1, "t"), record("k", 40)...), 0, "sdk: abi: malformed batch"},
		{"trailing bytes", append(append(header(2, 1, "t"), record("k", 1)...), 0, 0, 0, 0), 0, "sdk: abi: malformed batch"},
		{"not at the allocation", append(header(2, 1, "t"), record("k", 1)...), 4, "sdk: abi: malformed batch"},
	} {
		status, msg := call(tc.in, tc.off)
		if status != 1 || msg != tc.want {
			t.Errorf("%s: status %d %q, want 1 %q", tc.name, status, msg, tc.want)
		}
	}
}

// moduleImports lists "module.name" of each import of a wasm binary.
func moduleImports(t testing.TB, code []byte) []string {
	t.Helper()
	r := bytes.NewReader(code[8:])
	uleb := func() uint64 {
		var v uint64
		for shift := 0; ; shift += 7 {
			b, err := r.ReadByte()
			if err != nil {
				t.Fatal("truncated module")
			}
			v |= uint64(b&0x7f) << shift
			if b < 0x80 {
				return v
			}
		}
	}
	name := func() string {
		b := make([]byte, uleb())
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var out []string
	for r.Len() > 0 {
		id, _ := r.ReadByte()
		size := int(uleb())
		if id != 2 {
			r.Seek(int64(size), 1)
			continue
		}
		for n := uleb(); n > 0; n-- {
			mod, field := name(), name()
			out = append(out, mod+"."+field)
			switch kind, _ := r.ReadByte(); kind {
			case 0: // func: type index
				uleb()
			case 1: // table: elem type, limits
				r.ReadByte()
				if flags := uleb(); flags&1 != 0 {
					uleb()
					uleb()
				} else {
					uleb()
				}
			case 2: // memory: limits
				if flags := uleb(); flags&1 != 0 {
					uleb()
					uleb()
				} else {
					uleb()
				}
			case 3: // global: type, mutability
				r.ReadByte()
				r.ReadByte()
			}
		}
		break
	}
	return out
}

func dumpRecs(recs []hooks.Record) string {
	s := "["
	for _, r := range recs {
		s += fmt.Sprintf("{key=%q value=%q ts=%d off=%d headers=%v} ", r.Key, r.Value, r.Timestamp, r.Offset, r.Headers)
	}
	return s + "]"
}

// asLogLine is the 200-byte log line of the Go SDK's transform benchmark
// (bench_test.go logLine), one e-mail address in each.
func asLogLine(i int) []byte {
	line := fmt.Sprintf("2025-03-14T09:%02d:%02d.%03dZ INFO checkout-api req=%08x action=login status=%d client=198.51.100.%d user=jane.doe%d@example.com msg=\"request served\" pad=",
		i/60%60, i%60, i%1000, uint32(i)*2654435761, 200+i%3, i%250, i)
	return []byte(line + strings.Repeat("-", 200-len(line)))
}

// BenchmarkAssemblyScript measures the AssemblyScript examples per record
// in batches of 1,000, on the inputs of BenchmarkPartitioner and
// BenchmarkTransform (run them together to compare with the Go SDK:
// -bench 'Partitioner/keyhash|Transform/mask-pii|AssemblyScript').
func BenchmarkAssemblyScript(b *testing.B) {
	const batch = 1000
	recs := make([]hooks.Record, batch)
	for i := range recs {
		recs[i] = hooks.Record{Key: []byte(fmt.Sprintf("user-%06d", i)), Timestamp: int64(i), Offset: -1}
	}
	withValues := func(value func(i int) []byte) []hooks.Record {
		out := append([]hooks.Record(nil), recs...)
		for i := range out {
			out[i].Value = value(i)
		}
		return out
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
		b.ReportMetric(float64(len(mustReadAS(b, b.Name())))/1024, "module-KiB")
	}
	b.Run("keyhash-partitioner", func(b *testing.B) {
		in := withValues(func(i int) []byte { return []byte(fmt.Sprintf(`{"user_id":"u%d","page":"/p"}`, i%97)) })
		m := loadAS(b, "keyhash-partitioner", wasm.HookPartitioner, nil)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := m.Partition(context.Background(), "t", in, 12); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	for _, bc := range []struct {
		name  string
		value func(i int) []byte
	}{
		{"mask-email", asLogLine},
		{"mask-email-clean", func(i int) []byte { return bytes.ReplaceAll(asLogLine(i), []byte("@"), []byte("#")) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := withValues(bc.value)
			m := loadAS(b, "mask-email", wasm.HookTransform, nil)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := m.Transform(context.Background(), "t", 0, in); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
}

// mustReadAS reads the module a benchmark named NAME/sub runs.
func mustReadAS(b *testing.B, name string) []byte {
	sub := name[strings.LastIndex(name, "/")+1:]
	if sub == "mask-email-clean" {
		sub = "mask-email"
	}
	code, err := os.ReadFile(asModules(b)[sub])
	if err != nil {
		b.Fatal(err)
	}
	return code
}
