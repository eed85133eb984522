package conformance_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// module is one SDK's conformance module for one hook. Adding a language
// is adding its three entries here (the build returns the .wasm path;
// plugbuild caches builds by the content of their sources).
type module struct {
	Lang  string
	Hook  wasm.Hook
	Build func() (string, error)
}

var modules = []module{
	{"go", wasm.HookPartitioner, goModule("partitioner")},
	{"go", wasm.HookTransform, goModule("transform")},
	{"go", wasm.HookFilter, goModule("filter")},
	{"rust", wasm.HookPartitioner, rustModule("partitioner")},
	{"rust", wasm.HookTransform, rustModule("transform")},
	{"rust", wasm.HookFilter, rustModule("filter")},
	{"assemblyscript", wasm.HookPartitioner, asModule("partitioner")},
	{"assemblyscript", wasm.HookTransform, asModule("transform")},
	{"assemblyscript", wasm.HookFilter, asModule("filter")},
}

func goModule(hook string) func() (string, error) {
	return func() (string, error) { return plugbuild.GoPlugin("wasm/conformance/testdata/go/" + hook) }
}

func rustModule(hook string) func() (string, error) {
	return func() (string, error) { return plugbuild.RustPlugin("sdk/rust/conformance", "conformance-"+hook) }
}

func asModule(hook string) func() (string, error) {
	return func() (string, error) {
		return plugbuild.AssemblyScriptPlugin("examples/plugins-as/conformance-" + hook)
	}
}

// missingToolchain: the module's language toolchain is not installed.
func missingToolchain(err error) bool {
	return errors.Is(err, plugbuild.ErrNoRust) || errors.Is(err, plugbuild.ErrNoAssemblyScript)
}

// built builds every module once, concurrently (Go SDK builds take about
// a minute each on a loaded machine), and returns the code by index. Under
// -short a module whose toolchain is not installed is left out (nil);
// otherwise a missing toolchain fails the test.
func built(t *testing.T) [][]byte {
	t.Helper()
	codes := make([][]byte, len(modules))
	errs := make([]error, len(modules))
	var wg sync.WaitGroup
	for i, m := range modules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, err := m.Build()
			if err == nil {
				codes[i], err = os.ReadFile(path)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if missingToolchain(err) && testing.Short() {
			t.Logf("-short: leaving out %s %s: %v", modules[i].Lang, modules[i].Hook, err)
			continue
		}
		if err != nil {
			t.Fatalf("building %s %s: %v", modules[i].Lang, modules[i].Hook, err)
		}
	}
	return codes
}

// compileCache is the directory of wazero's compilation cache for the
// tests' engines: the repository's shared test cache (package wasmcache,
// kept between runs and test binaries), so each module compiles once per
// machine rather than once per test and run: seconds apiece for the Go
// modules. No test here is about the cache.
func compileCache(t *testing.T) string {
	if dir := wasmcache.Dir(); dir != "" {
		return dir
	}
	return t.TempDir()
}

func newEngine(t *testing.T) *wasm.Engine {
	t.Helper()
	e, err := wasm.NewEngine(wasm.Config{CacheDir: compileCache(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func load(t *testing.T, e *wasm.Engine, name string, hook wasm.Hook, code []byte, config map[string]string) *wasm.Module {
	t.Helper()
	m, err := e.Load(context.Background(), wasm.Spec{Name: name, Hook: hook, Config: config, Wasm: code})
	if err != nil {
		t.Fatalf("load %s as %s: %v", name, hook, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// outcome is a call's result in a canonical form: nil and empty keys,
// values and header values are told apart, everything else compared
// exactly.
type outcome struct {
	Partitions []int32
	Records    []hooks.Record
	Emits      []hooks.Emit
	Err        error // a *refusal, or a plugin failure
}

type refusal struct {
	Policy bool
	Msg    string
}

func (r *refusal) Error() string { return fmt.Sprintf("refusal(policy=%v) %q", r.Policy, r.Msg) }

// failure is a plugin failure (a panic); Msg is the plugin's own reason
// that heads the error (its panic line), the rest (trap or exit details)
// differs by language.
type failure struct{ Msg string }

func (f *failure) Error() string { return fmt.Sprintf("failure %q", f.Msg) }

func nb(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%q", b)
}

func dumpRecord(r hooks.Record) string {
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, fmt.Sprintf("%q=%s", h.Key, nb(h.Value)))
	}
	return fmt.Sprintf("{key=%s value=%s ts=%d off=%d headers=[%s]}", nb(r.Key), nb(r.Value), r.Timestamp, r.Offset, strings.Join(hs, " "))
}

func (o outcome) String() string {
	var b strings.Builder
	if o.Err != nil {
		fmt.Fprintf(&b, "error: %v\n", o.Err)
		return b.String()
	}
	if o.Partitions != nil {
		fmt.Fprintf(&b, "partitions: %v\n", o.Partitions)
	}
	for i, r := range o.Records {
		fmt.Fprintf(&b, "record %d: %s\n", i, dumpRecord(r))
	}
	for i, e := range o.Emits {
		fmt.Fprintf(&b, "emit %d to %q: %s\n", i, e.Topic, dumpRecord(e.Record))
	}
	return b.String()
}

// asOutcome turns a call's error into the canonical form: refusals keep
// their kind and the plugin's own message.
func asOutcome(o outcome, err error) outcome {
	var re *wasm.RefusalError
	var ce *wasm.CallError
	switch {
	case err == nil && o.Err != nil: // the model's own refusals
		return outcome{Err: o.Err}
	case err == nil:
		if o.Partitions == nil && o.Records == nil && o.Emits == nil {
			return outcome{} // "nothing" is nothing, however it was built
		}
		return o
	case errors.As(err, &re):
		return outcome{Err: &refusal{Policy: re.Policy, Msg: re.Message}}
	case errors.As(err, &ce):
		msg, _, _ := strings.Cut(ce.Detail, "; ")
		return outcome{Err: &failure{Msg: msg}}
	default:
		return outcome{Err: err}
	}
}

// The reference model of README.md's specification, hook by hook.

var kafkaDefault = kgo.StickyKeyPartitioner(nil).ForTopic("conformance")

func modelPartition(recs []hooks.Record, n int32) outcome {
	parts := make([]int32, len(recs))
	for i, r := range recs {
		if r.Key == nil {
			parts[i] = int32(len(r.Value) % int(n))
			continue
		}
		parts[i] = int32(kafkaDefault.Partition(&kgo.Record{Key: r.Key}, int(n)))
	}
	return outcome{Partitions: parts}
}

func asciiUpper(v []byte) []byte {
	if v == nil {
		return nil
	}
	out := make([]byte, len(v))
	for i, c := range v {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func modelTransform(recs []hooks.Record, emitTopic string) outcome {
	var o outcome
	for i, r := range recs {
		switch string(r.Key) {
		case "drop":
			if r.Key != nil {
				continue
			}
		case "dup":
			dup := r
			dup.Key = []byte("dup-copy")
			dup.Offset = -1
			o.Records = append(o.Records, r, dup)
			continue
		case "upper":
			up := r
			up.Value = asciiUpper(r.Value)
			up.Headers = append(append([]hooks.Header(nil), r.Headers...), hooks.Header{Key: "x-upper", Value: []byte("1")})
			o.Records = append(o.Records, up)
			continue
		case "emit":
			o.Records = append(o.Records, r)
			o.Emits = append(o.Emits, hooks.Emit{Topic: emitTopic, Record: r})
			continue
		case "reject":
			return outcome{Err: &refusal{Msg: fmt.Sprintf("record %d: reject", i)}}
		case "policy":
			return outcome{Err: &refusal{Policy: true, Msg: fmt.Sprintf("record %d: policy", i)}}
		case "panic":
			return outcome{Err: &failure{Msg: "panic: panic"}}
		}
		o.Records = append(o.Records, r)
	}
	return o
}

func header(r hooks.Record, key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

func modelFilter(recs []hooks.Record, reader hooks.Reader) outcome {
	var o outcome
	for _, r := range recs {
		if _, ok := header(r, "hide"); ok {
			continue
		}
		if t, ok := header(r, "tenant"); ok && reader.Principal != "" && (t == nil || string(t) != reader.Principal) {
			continue
		}
		if r.Key != nil && string(r.Key) == "mask" {
			r.Value = []byte("***")
		}
		o.Records = append(o.Records, r)
	}
	return o
}

// A case: the input and, where written out by hand, the exact expected
// outcome (the model's answer must equal it, so the model is checked
// too); every case is also checked against the model.
type tcase struct {
	name       string
	hook       wasm.Hook
	config     map[string]string
	partitions int32
	reader     hooks.Reader
	in         []hooks.Record
	want       *outcome
}

func (c *tcase) model() outcome {
	switch c.hook {
	case wasm.HookPartitioner:
		return modelPartition(c.in, c.partitions)
	case wasm.HookTransform:
		topic := "conformance-emits"
		if t, ok := c.config["emit_topic"]; ok {
			topic = t
		}
		return asOutcome(modelTransform(c.in, topic), nil)
	default:
		return asOutcome(modelFilter(c.in, c.reader), nil)
	}
}

func (c *tcase) run(m *wasm.Module) outcome {
	ctx := context.Background()
	switch c.hook {
	case wasm.HookPartitioner:
		p, err := m.Partition(ctx, "conformance", c.in, c.partitions)
		return asOutcome(outcome{Partitions: p}, err)
	case wasm.HookTransform:
		out, emits, err := m.Transform(ctx, "conformance", 3, c.in)
		return asOutcome(outcome{Records: out, Emits: emits}, err)
	default:
		out, err := m.Filter(ctx, "conformance", 3, c.reader, c.in)
		return asOutcome(outcome{Records: out}, err)
	}
}

func b(s string) []byte { return []byte(s) }

func hdr(kv ...string) []hooks.Header {
	var hs []hooks.Header
	for i := 0; i < len(kv); i += 2 {
		var v []byte
		if kv[i+1] != "\x00null" {
			v = []byte(kv[i+1])
		}
		hs = append(hs, hooks.Header{Key: kv[i], Value: v})
	}
	return hs
}

const null = "\x00null"

func rec(key, value []byte, headers ...hooks.Header) hooks.Record {
	return hooks.Record{Key: key, Value: value, Headers: headers, Timestamp: 1_700_000_000_000, Offset: -1}
}

func cases() []tcase {
	P, T, F := wasm.HookPartitioner, wasm.HookTransform, wasm.HookFilter
	var batch100P, batch100T, batch100F []hooks.Record
	ops := []string{"keep", "drop", "dup", "upper", "emit", ""}
	for i := 0; i < 100; i++ {
		var key []byte
		if i%10 != 3 {
			key = b(fmt.Sprintf("key-%d", i))
		}
		batch100P = append(batch100P, hooks.Record{Key: key, Value: bytes.Repeat(b("v"), i), Timestamp: int64(i), Offset: -1})
		var tk []byte
		if op := ops[i%len(ops)]; op != "" {
			tk = b(op)
		}
		var hs []hooks.Header
		if i%4 == 0 {
			hs = hdr("n", fmt.Sprint(i), "null", null)
		}
		batch100T = append(batch100T, hooks.Record{Key: tk, Value: b(fmt.Sprintf("value %d ü", i)), Headers: hs, Timestamp: int64(1000 + i), Offset: -1})
		fr := hooks.Record{Key: b(fmt.Sprintf("k%d", i)), Value: b(fmt.Sprint(i)), Timestamp: int64(i), Offset: int64(5000 + i)}
		switch i % 5 {
		case 1:
			fr.Headers = hdr("hide", null)
		case 2:
			fr.Headers = hdr("tenant", "User:acme")
		case 3:
			fr.Headers = hdr("tenant", "User:globex")
		case 4:
			fr.Key = b("mask")
		}
		batch100F = append(batch100F, fr)
	}
	acme := hooks.Reader{GroupID: "g", ClientID: "c", Principal: "User:acme"}
	withOff := func(r hooks.Record, off int64) hooks.Record { r.Offset = off; return r }
	mixed := []hooks.Record{
		rec(b("plain"), b("p"), hdr("h", "1")...),
		rec(b("drop"), b("d")),
		rec(b("dup"), b("twice"), hdr("h", "2", "n", null)...),
		rec(b("upper"), b("Hello, wörld 1"), hdr("h", "3")...),
		rec(b("emit"), b("out")),
		rec(nil, nil),
	}
	return []tcase{
		// Partitioners.
		{name: "keyed", hook: P, partitions: 7, in: []hooks.Record{rec(b("a"), b("v"))},
			want: &outcome{Partitions: []int32{int32(kafkaDefault.Partition(&kgo.Record{Key: b("a")}, 7))}}},
		{name: "null key uses value length", hook: P, partitions: 4, in: []hooks.Record{rec(nil, b("hello")), rec(nil, nil), rec(nil, b(""))},
			want: &outcome{Partitions: []int32{1, 0, 0}}},
		{name: "empty key is a key", hook: P, partitions: 12, in: []hooks.Record{rec(b(""), b("xyz"))}},
		{name: "headers ignored", hook: P, partitions: 5, in: []hooks.Record{rec(b("k"), b("v"), hdr("a", "1", "b", null)...), rec(b("k"), nil)}},
		{name: "one partition", hook: P, partitions: 1, in: []hooks.Record{rec(b("x"), b("y")), rec(nil, b("zz"))}, want: &outcome{Partitions: []int32{0, 0}}},
		{name: "batch of 3", hook: P, partitions: 16, in: []hooks.Record{rec(b("alpha"), nil), rec(b("beta"), b("")), rec(b("gamma-longer-key"), b("v"))}},
		{name: "batch of 100", hook: P, partitions: 12, in: batch100P},

		// Transforms.
		{name: "keep one", hook: T, in: []hooks.Record{rec(b("x"), b("plain"))}},
		{name: "null key, null value, empty value", hook: T, in: []hooks.Record{rec(nil, nil), rec(nil, b("")), rec(b(""), b(""))}},
		{name: "headers kept", hook: T, in: []hooks.Record{rec(b("x"), b("v"), hdr("a", "1", "empty", "", "null", null, "a", "dup")...)}},
		{name: "drop all", hook: T, in: []hooks.Record{rec(b("drop"), b("1")), rec(b("drop"), nil)}, want: &outcome{}},
		{name: "dup", hook: T, in: []hooks.Record{rec(b("dup"), b("twice"), hdr("h", "v")...)},
			want: &outcome{Records: []hooks.Record{rec(b("dup"), b("twice"), hdr("h", "v")...), rec(b("dup-copy"), b("twice"), hdr("h", "v")...)}}},
		{name: "upper", hook: T, in: []hooks.Record{rec(b("upper"), b("Hello, wörld"), hdr("a", "1")...), rec(b("upper"), nil)},
			want: &outcome{Records: []hooks.Record{
				rec(b("upper"), b("HELLO, WöRLD"), hdr("a", "1", "x-upper", "1")...),
				rec(b("upper"), nil, hdr("x-upper", "1")...),
			}}},
		{name: "emit default topic", hook: T, in: []hooks.Record{rec(b("emit"), b("e"), hdr("h", "1")...)},
			want: &outcome{Records: []hooks.Record{rec(b("emit"), b("e"), hdr("h", "1")...)},
				Emits: []hooks.Emit{{Topic: "conformance-emits", Record: rec(b("emit"), b("e"), hdr("h", "1")...)}}}},
		{name: "emit configured topic", hook: T, config: map[string]string{"emit_topic": "audit"}, in: []hooks.Record{rec(b("emit"), nil), rec(b("emit"), b(""))}},
		{name: "mixed batch", hook: T, in: mixed, want: &outcome{
			Records: []hooks.Record{mixed[0], mixed[2], rec(b("dup-copy"), b("twice"), hdr("h", "2", "n", null)...),
				rec(b("upper"), b("HELLO, WöRLD 1"), hdr("h", "3", "x-upper", "1")...), mixed[4], mixed[5]},
			Emits: []hooks.Emit{{Topic: "conformance-emits", Record: mixed[4]}},
		}},
		{name: "batch of 3", hook: T, in: []hooks.Record{rec(b("a"), b("1")), rec(b("dup"), b("2")), rec(b("drop"), b("3"))}},
		{name: "batch of 100", hook: T, in: batch100T},
		{name: "reject", hook: T, in: []hooks.Record{rec(b("plain"), b("1")), rec(b("reject"), b("2"))},
			want: &outcome{Err: &refusal{Msg: "record 1: reject"}}},
		{name: "policy after emits", hook: T, in: []hooks.Record{rec(b("emit"), b("1")), rec(b("dup"), b("2")), rec(b("policy"), b("3")), rec(b("reject"), b("4"))},
			want: &outcome{Err: &refusal{Policy: true, Msg: "record 2: policy"}}},
		{name: "panic", hook: T, in: []hooks.Record{rec(b("emit"), b("1")), rec(b("panic"), b("2"))},
			want: &outcome{Err: &failure{Msg: "panic: panic"}}},
		{name: "after a panic", hook: T, in: []hooks.Record{rec(b("dup"), b("fresh instance"))}},

		// Filters.
		{name: "show one", hook: F, reader: acme, in: []hooks.Record{withOff(rec(b("x"), b("v")), 42)}},
		{name: "hide header", hook: F, in: []hooks.Record{withOff(rec(b("x"), b("v"), hdr("hide", null)...), 1), withOff(rec(nil, b("v"), hdr("a", "1", "hide", "yes")...), 2), withOff(rec(b("y"), nil), 3)},
			want: &outcome{Records: []hooks.Record{withOff(rec(b("y"), nil), 3)}}},
		{name: "mask keeps offset", hook: F, in: []hooks.Record{withOff(rec(b("mask"), b("secret"), hdr("h", "1")...), 7), withOff(rec(b("mask"), nil), 8)},
			want: &outcome{Records: []hooks.Record{withOff(rec(b("mask"), b("***"), hdr("h", "1")...), 7), withOff(rec(b("mask"), b("***")), 8)}}},
		{name: "tenant of the principal", hook: F, reader: acme, in: []hooks.Record{
			withOff(rec(b("a"), b("1"), hdr("tenant", "User:acme")...), 10),
			withOff(rec(b("b"), b("2"), hdr("tenant", "acme")...), 11),
			withOff(rec(b("c"), b("3"), hdr("tenant", null)...), 12),
			withOff(rec(b("d"), b("4")), 13),
			withOff(rec(b("mask"), b("5"), hdr("tenant", "User:acme")...), 14),
		}, want: &outcome{Records: []hooks.Record{
			withOff(rec(b("a"), b("1"), hdr("tenant", "User:acme")...), 10),
			withOff(rec(b("d"), b("4")), 13),
			withOff(rec(b("mask"), b("***"), hdr("tenant", "User:acme")...), 14),
		}}},
		{name: "no principal ignores tenant", hook: F, reader: hooks.Reader{ClientID: "User:acme"}, in: []hooks.Record{withOff(rec(b("a"), b("1"), hdr("tenant", "x")...), 0)}},
		{name: "batch of 3 all hidden", hook: F, reader: acme, in: []hooks.Record{
			withOff(rec(nil, nil, hdr("hide", "")...), 0), withOff(rec(b("x"), b(""), hdr("tenant", "other")...), 1), withOff(rec(b(""), nil, hdr("hide", null)...), 2)},
			want: &outcome{}},
		{name: "batch of 100", hook: F, reader: acme, in: batch100F},
		{name: "batch of 100 no principal", hook: F, in: batch100F},
	}
}

func TestConformance(t *testing.T) {
	codes := built(t)
	e := newEngine(t)
	all := cases()
	// The model must agree with every hand-written expectation first.
	for _, c := range all {
		if c.want != nil {
			if got, want := c.model().String(), asOutcome(*c.want, nil).String(); got != want {
				t.Fatalf("model of %s %q:\n%s\nwant:\n%s", c.hook, c.name, got, want)
			}
		}
	}
	for i, m := range modules {
		t.Run(m.Lang+"/"+string(m.Hook), func(t *testing.T) {
			if codes[i] == nil {
				t.Skip("-short without this language's toolchain")
			}
			loaded := map[string]*wasm.Module{}
			ran := 0
			for _, c := range all {
				if c.hook != m.Hook {
					continue
				}
				key := fmt.Sprint(c.config)
				mod := loaded[key]
				if mod == nil {
					mod = load(t, e, m.Lang+"-"+string(m.Hook), m.Hook, codes[i], c.config)
					loaded[key] = mod
				}
				got, want := c.run(mod).String(), c.model().String()
				if got != want {
					t.Errorf("%s: got\n%s\nwant\n%s", c.name, got, want)
				}
				ran++
			}
			if ran == 0 {
				t.Fatal("no cases for this hook")
			}
		})
	}
}

// TestConformanceDeployProbe: each SDK's module registers exactly its hook,
// so the broker's deploy check refuses it as any other hook naming the one
// it registers (the SDK answers unregistered hooks "no X registered").
// (An AssemblyScript entry file exports only what it defines: the SDK's
// noPartitioner, noTransform and noFilter, re-exported under the other
// hooks' names, answer that way.)
func TestConformanceDeployProbe(t *testing.T) {
	codes := built(t)
	e := newEngine(t)
	for i, m := range modules {
		if codes[i] == nil {
			continue // -short without this language's toolchain
		}
		for _, as := range []wasm.Hook{wasm.HookPartitioner, wasm.HookTransform, wasm.HookFilter} {
			if as == m.Hook {
				continue
			}
			_, err := e.Load(context.Background(), wasm.Spec{Name: "probe", Hook: as, Wasm: codes[i]})
			want := fmt.Sprintf("registers a %s, deployed as %s: deploy it with --hook %s", m.Hook, as, m.Hook)
			if !errors.Is(err, wasm.ErrInvalidModule) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s %s loaded as %s: err %v, want %q", m.Lang, m.Hook, as, err, want)
			}
		}
	}
}
