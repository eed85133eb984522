package wasm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

func fnv1a(b []byte, n int32) int32 {
	h := fnv.New32a()
	h.Write(b)
	return int32(h.Sum32() % uint32(n))
}

func TestWATPartitionerHashesKeys(t *testing.T) {
	m := load(t, "wat-partitioner", HookPartitioner, nil, Config{})
	var recs []hooks.Record
	var want []int32
	for i := 0; i < 500; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		recs = append(recs, hooks.Record{Key: key, Value: []byte("v"), Headers: []hooks.Header{{Key: "h", Value: []byte("x")}}, Offset: -1})
		want = append(want, fnv1a(key, 7))
	}
	recs = append(recs, hooks.Record{Key: nil, Value: []byte("no key"), Offset: -1})
	want = append(want, 0)
	got, err := m.Partition(context.Background(), "t", recs, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("partitions differ:\n got %v\nwant %v", got, want)
	}
}

func TestPageViewPartitionerUsesUserID(t *testing.T) {
	m := load(t, "pageview-partitioner", HookPartitioner, nil, Config{})
	recs := []hooks.Record{
		{Key: []byte("k1"), Value: []byte(`{"user_id":"alice","page":"/"}`)},
		{Key: []byte("k2"), Value: []byte(`{"page":"/x","user_id":"alice"}`)},
		{Key: []byte("k3"), Value: []byte(`{"user_id":42}`)},
		{Key: []byte("fallback"), Value: []byte(`not json`)},
		{Key: nil, Value: []byte(`{"page":"/"}`)},
	}
	got, err := m.Partition(context.Background(), "pageviews", recs, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{fnv1a([]byte("alice"), 16), fnv1a([]byte("alice"), 16), fnv1a([]byte("42"), 16), fnv1a([]byte("fallback"), 16), 0}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}

	// The field is configurable at deploy time.
	byPage := load(t, "pageview-partitioner", HookPartitioner, map[string]string{"field": "page"}, Config{})
	got, err = byPage.Partition(context.Background(), "pageviews", recs[:2], 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{fnv1a([]byte("/"), 16), fnv1a([]byte("/x"), 16)}; !reflect.DeepEqual(got, want) {
		t.Fatalf("by page: got %v, want %v", got, want)
	}
}

func TestMaskPII(t *testing.T) {
	m := load(t, "mask-pii", HookTransform, nil, Config{})
	in := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for jane.doe@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1,
			Headers: []hooks.Header{{Key: "app", Value: []byte("web")}}},
		{Key: []byte("b"), Value: []byte("paid with 4111 1111 1111 1234 and 5500-0000-0000-0004"), Timestamp: 1001, Offset: -1},
		{Key: []byte("c"), Value: []byte("nothing to see; order 12345"), Timestamp: 1002, Offset: -1},
		{Key: []byte("d"), Value: nil, Timestamp: 1003, Offset: -1},
	}
	out, emits, err := m.Transform(context.Background(), "logs", 0, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for ***@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1,
			Headers: []hooks.Header{{Key: "app", Value: []byte("web")}}},
		{Key: []byte("b"), Value: []byte("paid with **** **** **** 1234 and ****-****-****-0004"), Timestamp: 1001, Offset: -1},
		in[2],
		in[3],
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %s, want %s", dump(out), dump(want))
	}
	if len(emits) != 0 {
		t.Fatalf("emits: %v", emits)
	}
}

func TestDropBots(t *testing.T) {
	m := load(t, "drop-bots", HookTransform, nil, Config{})
	in := []hooks.Record{
		{Value: []byte(`{"page":"/"}`), Headers: []hooks.Header{{Key: "User-Agent", Value: []byte("Mozilla/5.0 (X11; Linux)")}}},
		{Value: []byte(`{"page":"/"}`), Headers: []hooks.Header{{Key: "user-agent", Value: []byte("Googlebot/2.1")}}},
		{Value: []byte(`{"page":"/a","user_agent":"Mozilla/5.0 HeadlessChrome/120"}`)},
		{Value: []byte(`{"page":"/b","user_agent":"Mozilla/5.0 Safari"}`)},
		{Value: []byte(`{"page":"/c","user_agent":"Baiduspider"}`)},
	}
	out, _, err := m.Transform(context.Background(), "pageviews", 2, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hooks.Record{in[0], in[3]}; !reflect.DeepEqual(out, want) {
		t.Fatalf("got %s, want %s", dump(out), dump(want))
	}

	custom := load(t, "drop-bots", HookTransform, map[string]string{"patterns": "safari"}, Config{})
	out, _, err = custom.Transform(context.Background(), "pageviews", 2, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hooks.Record{in[0], in[1], in[2], in[4]}; !reflect.DeepEqual(out, want) {
		t.Fatalf("custom patterns: got %s, want %s", dump(out), dump(want))
	}
}

func TestJSONDeadLetter(t *testing.T) {
	m := load(t, "json-dlq", HookTransform, nil, Config{})
	in := []hooks.Record{
		{Key: []byte("1"), Value: []byte(`{"ok":true}`), Timestamp: 5, Offset: -1},
		{Key: []byte("2"), Value: []byte(`{"ok":`), Timestamp: 6, Offset: -1, Headers: []hooks.Header{{Key: "trace", Value: []byte("t1")}}},
		{Key: []byte("3"), Value: []byte(`[1,2,3]`), Timestamp: 7, Offset: -1},
	}
	out, emits, err := m.Transform(context.Background(), "orders", 3, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []hooks.Record{in[0], in[2]}; !reflect.DeepEqual(out, want) {
		t.Fatalf("out: got %s, want %s", dump(out), dump(want))
	}
	wantEmit := []hooks.Emit{{Topic: "orders.dlq", Record: hooks.Record{
		Key: []byte("2"), Value: []byte(`{"ok":`), Timestamp: 6, Offset: -1,
		Headers: []hooks.Header{
			{Key: "trace", Value: []byte("t1")},
			{Key: "dlq-reason", Value: []byte("invalid JSON")},
			{Key: "dlq-source-topic", Value: []byte("orders")},
			{Key: "dlq-source-partition", Value: []byte("3")},
		},
	}}}
	if !reflect.DeepEqual(emits, wantEmit) {
		t.Fatalf("emits: got %+v, want %+v", emits, wantEmit)
	}

	named := load(t, "json-dlq", HookTransform, map[string]string{"dlq": "bad-orders"}, Config{})
	_, emits, err = named.Transform(context.Background(), "orders", 0, in)
	if err != nil || len(emits) != 1 || emits[0].Topic != "bad-orders" {
		t.Fatalf("configured dlq: emits %+v err %v", emits, err)
	}

	reject := load(t, "json-dlq", HookTransform, map[string]string{"mode": "reject"}, Config{})
	_, _, err = reject.Transform(context.Background(), "orders", 0, in)
	var refusal *RefusalError
	if !errors.Is(err, hooks.ErrRejected) || !errors.As(err, &refusal) {
		t.Fatalf("reject mode: err %v, want ErrRejected", err)
	}
	if want := `plugin "json-dlq": record 1: value is not valid JSON`; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
}

func TestTenantFilter(t *testing.T) {
	m := load(t, "tenant-filter", HookFilter, nil, Config{})
	in := []hooks.Record{
		{Value: []byte("a1"), Offset: 10, Headers: []hooks.Header{{Key: "tenant", Value: []byte("acme")}}},
		{Value: []byte("g1"), Offset: 11, Headers: []hooks.Header{{Key: "tenant", Value: []byte("globex")}}},
		{Value: []byte("none"), Offset: 12},
		{Value: []byte("a2"), Offset: 13, Headers: []hooks.Header{{Key: "x", Value: nil}, {Key: "tenant", Value: []byte("acme")}}},
	}
	// The principal decides; the client id (anyone's claim) never does.
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
			t.Fatalf("%s (client id %s): got %s, want %s", tc.principal, tc.client, dump(got), dump(tc.want))
		}
	}
}

func dump(recs []hooks.Record) string {
	s := "["
	for _, r := range recs {
		s += fmt.Sprintf("{key=%q value=%q ts=%d off=%d headers=%v} ", r.Key, r.Value, r.Timestamp, r.Offset, r.Headers)
	}
	return s + "]"
}

// loadRust builds the Rust example plugin name (examples/plugins-rust,
// cached by the content of its sources) and loads it like load does.
func loadRust(t *testing.T, name string, hook Hook, config map[string]string) *Module {
	t.Helper()
	if !plugbuild.RustAvailable() && testing.Short() {
		t.Skip(plugbuild.ErrNoRust)
	}
	path, err := plugbuild.RustPlugin("examples/plugins-rust", name)
	if err != nil {
		t.Fatal(err)
	}
	pluginPaths["rust-"+name] = path
	return load(t, "rust-"+name, hook, config, Config{})
}

// TestRustKeyhashAgreesWithKafkaAndGo: the Rust key-hash partitioner puts
// 10,000 keys where Kafka's default partitioner (franz-go's murmur2) does,
// and with hash=fnv1a where the Go SDK's keyhash partitioner does.
func TestRustKeyhashAgreesWithKafkaAndGo(t *testing.T) {
	murmur := loadRust(t, "keyhash-partitioner", HookPartitioner, nil)
	fnvRust := loadRust(t, "keyhash-partitioner", HookPartitioner, map[string]string{"hash": "fnv1a"})
	fnvGo := load(t, "keyhash", HookPartitioner, nil, Config{})
	recs := make([]hooks.Record, 10_000)
	for i := range recs {
		recs[i] = hooks.Record{Key: []byte(fmt.Sprintf("user-%d-%x", i, i*7919)), Value: []byte("v"), Offset: -1}
	}
	recs[17].Key = []byte{} // an empty key is a key
	for _, n := range []int32{1, 7, 12, 64} {
		kafka := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		got, err := murmur.Partition(context.Background(), "t", recs, n)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if want := int32(kafka.Partition(&kgo.Record{Key: r.Key}, int(n))); got[i] != want {
				t.Fatalf("%d partitions, key %q: rust %d, kafka %d", n, r.Key, got[i], want)
			}
		}
		withNull := append(recs[:100:100], hooks.Record{Key: nil, Value: []byte("no key"), Offset: -1})
		for _, batch := range [][]hooks.Record{recs, withNull} {
			gotR, err := fnvRust.Partition(context.Background(), "t", batch, n)
			if err != nil {
				t.Fatal(err)
			}
			gotG, err := fnvGo.Partition(context.Background(), "t", batch, n)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotR, gotG) {
				t.Fatalf("%d partitions: rust fnv1a and Go keyhash differ", n)
			}
		}
	}
}

// TestRustMaskEmail: the Rust transform masks e-mail addresses exactly as
// the Go mask-pii does (on values without card numbers), keeps everything
// else of the record, and keeps untouched records by index.
func TestRustMaskEmail(t *testing.T) {
	m := loadRust(t, "mask-email", HookTransform, nil)
	goMask := load(t, "mask-pii", HookTransform, nil, Config{})
	hs := []hooks.Header{{Key: "app", Value: []byte("web")}, {Key: "n", Value: nil}}
	in := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for jane.doe@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1, Headers: hs},
		{Key: []byte("b"), Value: []byte("mail bob@example.org. and a@b.io,c@d.io"), Timestamp: 1001, Offset: -1},
		{Key: []byte("c"), Value: []byte("nothing at @home, x@localhost, y@h.c, z@h.c0m"), Timestamp: 1002, Offset: -1},
		{Key: nil, Value: nil, Timestamp: 1003, Offset: -1},
		{Key: []byte("e"), Value: []byte{}, Timestamp: 1004, Offset: -1},
		{Key: []byte("f"), Value: []byte("jane@example.com"), Timestamp: 1005, Offset: -1, Headers: hs},
	}
	out, emits, err := m.Transform(context.Background(), "logs", 0, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []hooks.Record{
		{Key: []byte("a"), Value: []byte("login ok for ***@example.com from 10.0.0.1"), Timestamp: 1000, Offset: -1, Headers: hs},
		{Key: []byte("b"), Value: []byte("mail ***@example.org. and ***@b.io,***@d.io"), Timestamp: 1001, Offset: -1},
		in[2], in[3], in[4],
		{Key: []byte("f"), Value: []byte("***@example.com"), Timestamp: 1005, Offset: -1, Headers: hs},
	}
	if !reflect.DeepEqual(out, want) || len(emits) != 0 {
		t.Fatalf("got %s emits %v, want %s", dump(out), emits, dump(want))
	}
	goOut, _, err := goMask.Transform(context.Background(), "logs", 0, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, goOut) {
		t.Fatalf("rust %s, go mask-pii %s", dump(out), dump(goOut))
	}
}

// TestRustFilterMatchesTenantFilter: the Rust filter shows each reader what
// the Go tenant-filter shows it, for its default and configured rules.
func TestRustFilterMatchesTenantFilter(t *testing.T) {
	in := []hooks.Record{
		{Value: []byte("a1"), Offset: 10, Headers: []hooks.Header{{Key: "tenant", Value: []byte("acme")}}},
		{Value: []byte("g1"), Offset: 11, Headers: []hooks.Header{{Key: "tenant", Value: []byte("globex")}}},
		{Value: []byte("none"), Offset: 12},
		{Value: []byte("a2"), Offset: 13, Headers: []hooks.Header{{Key: "x", Value: nil}, {Key: "tenant", Value: []byte("acme")}}},
		{Value: []byte("whole"), Offset: 14, Headers: []hooks.Header{{Key: "org", Value: []byte("User:acme")}}},
	}
	readers := []hooks.Reader{
		{Principal: "User:acme", ClientID: "whatever", GroupID: "g"},
		{Principal: "User:globex", ClientID: "acme"},
		{Principal: "User:ANONYMOUS", ClientID: "acme"},
		{Principal: "", ClientID: "acme"},
	}
	wantDefault := [][]hooks.Record{{in[0], in[3]}, {in[1]}, {}, {}}
	for _, config := range []map[string]string{nil, {"show_untagged": "true"}, {"header": "org", "principal_prefix": "false"}} {
		rust := loadRust(t, "filter", HookFilter, config)
		goF := load(t, "tenant-filter", HookFilter, config, Config{})
		for i, rd := range readers {
			got, err := rust.Filter(context.Background(), "events", 0, rd, in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := goF.Filter(context.Background(), "events", 0, rd, in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("config %v, %s: rust %s, go %s", config, rd.Principal, dump(got), dump(want))
			}
			if config == nil && !reflect.DeepEqual(got, wantDefault[i]) {
				t.Fatalf("%s: got %s, want %s", rd.Principal, dump(got), dump(wantDefault[i]))
			}
		}
	}
}

// BenchmarkSDKLanguages compares the SDKs per record, batched (1000
// records per call), in one run: the key-hash partitioners (WAT by hand,
// the Go SDK's keyhash, the Rust example with fnv1a and with Kafka's
// murmur2) and the e-mail masks on 200-byte log lines (Go mask-pii, Rust
// mask-email; every line masked, and none). module-bytes is the size of
// the .wasm.
func BenchmarkSDKLanguages(b *testing.B) {
	rust := func(name string) string {
		path, err := plugbuild.RustPlugin("examples/plugins-rust", name)
		if err != nil {
			b.Fatal(err)
		}
		pluginPaths["rust-"+name] = path
		return "rust-" + name
	}
	keyhash, mask := rust("keyhash-partitioner"), rust("mask-email")
	size := func(b *testing.B, name string) {
		fi, err := os.Stat(pluginPaths[name])
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(fi.Size()), "module-bytes")
	}
	keys := benchRecords(func(i int) []byte { return []byte("v") })
	for _, bc := range []struct {
		name, plugin string
		config       map[string]string
	}{
		{"partition/wat-fnv1a", "wat-partitioner", nil},
		{"partition/go-keyhash-fnv1a", "keyhash", nil},
		{"partition/rust-keyhash-fnv1a", keyhash, map[string]string{"hash": "fnv1a"}},
		{"partition/rust-keyhash-murmur2", keyhash, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := load(b, bc.plugin, HookPartitioner, bc.config, Config{})
			ctx := context.Background()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				if _, err := m.Partition(ctx, "t", keys, 12); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, cpu)
			size(b, bc.plugin)
		})
	}
	clean := func(i int) []byte { return bytes.ReplaceAll(logLine(i), []byte("@"), []byte("#")) }
	for _, bc := range []struct {
		name, plugin string
		value        func(i int) []byte
	}{
		{"mask/go-mask-pii", "mask-pii", logLine},
		{"mask/rust-mask-email", mask, logLine},
		{"mask-clean/go-mask-pii", "mask-pii", clean},
		{"mask-clean/rust-mask-email", mask, clean},
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
			size(b, bc.plugin)
		})
	}
}
