// Package js_test drives the Node package @sluicemq/kafkajs-partitioner
// from Go: its node:test suite, its agreement with the broker's runtime
// for 10,000 records and a kafkajs producer against a real broker. It needs
// node and the package's npm dependencies (scripts/install-node.sh, run by
// `make test-deps`).
package js_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/wasm"
	"github.com/sluicemq/sluice/wasm/abi"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// modules maps a name to a .wasm built once for the test binary.
var modules map[string]string

// Small WAT partitioners that misbehave one way each (kept here rather
// than as .wat files, which wasmtest would want recorded).
var watModules = map[string]string{
	"trap":    answer(`unreachable`),
	"refuse":  answer(`(i32.store (i32.const 0) (i32.const 2)) (i32.store (i32.const 4) (i32.const 20)) (memory.copy (i32.const 8) (i32.const 512) (i32.const 20)) (i64.const 28)`),
	"range":   answer(`(i32.store (i32.const 0) (i32.const 0)) (i32.store (i32.const 4) (i32.const 1)) (i32.store (i32.const 8) (i32.const 7)) (i64.const 12)`),
	"lost":    answer(`(i64.store (i32.const 0) (i64.const 0)) (i64.const 8)`),
	"outside": answer(`(i64.const 0x0100000000000010)`),
	"grow":    answer(`(drop (memory.grow (i32.const 64))) ` + ok0),
	"hello":   answer(`(drop (call $fd_write (i32.const 1) (i32.const 640) (i32.const 1) (i32.const 656))) ` + ok0),
	"config": answer(`(local $n i32)
    (local.set $n (call $config_get (i32.const 600) (i32.const 1) (i32.const 700) (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 0)) (i32.store (i32.const 4) (i32.const 1))
    (i32.store (i32.const 8) (if (result i32) (i32.eq (local.get $n) (i32.const 1))
      (then (i32.sub (i32.load8_u (i32.const 700)) (i32.const 48))) (else (i32.const 0))))
    (i64.const 12)`),
	"yield": `(module
  (import "sluice" "yield" (func $yield (result i32)))
  (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param i32 i32) (result i64)
    (i32.store (i32.const 0) (i32.const 0)) (i32.store (i32.const 4) (i32.const 1))
    (i32.store (i32.const 8) (i32.add (call $yield) (i32.const 1)))
    (i64.const 12)))`,
	"badimport": `(module (import "env" "now" (func))
  (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_partition") (param i32 i32) (result i64) (i64.const 0)))`,
	"command": `(module (memory (export "memory") 1) (func (export "_start"))
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_partition") (param i32 i32) (result i64) (i64.const 0)))`,
	"transform": `(module (memory (export "memory") 1)
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 0))
  (func (export "sluice_transform") (param i32 i32) (result i64) (i64.const 0)))`,
}

// ok0 answers "partition 0 for the one record".
const ok0 = `(i32.store (i32.const 0) (i32.const 0)) (i32.store (i32.const 4) (i32.const 1)) (i32.store (i32.const 8) (i32.const 0)) (i64.const 12)`

func answer(body string) string {
	return `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "sluice" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "no partition for you")
  (data (i32.const 600) "p")
  (data (i32.const 620) "hello from wat\n")
  (data (i32.const 640) "\6c\02\00\00\0f\00\00\00")
  (func (export "sluice_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "sluice_partition") (param $ptr i32) (param $len i32) (result i64)
    ` + body + `))`
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test here skips under -short
	}
	dir, err := os.MkdirTemp("", "sluice-js-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildModules(dir); err != nil {
		fmt.Fprintln(os.Stderr, "building test modules:", err)
		return 1
	}
	return m.Run()
}

func buildModules(dir string) error {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		return err
	}
	modules = map[string]string{}
	out := func(name string) string {
		modules[name] = filepath.Join(dir, name+".wasm")
		return modules[name]
	}
	if err := wasmtest.WAT(filepath.Join(root, "examples", "plugins", "wat-partitioner", "partitioner.wat"), out("wat")); err != nil {
		return err
	}
	for name, src := range map[string]string{
		"pageview": filepath.Join(root, "examples", "plugins", "pageview-partitioner"),
		"gopanic":  filepath.Join(root, "wasm", "testdata", "gopanic"),
		"sdkkeep":  filepath.Join(root, "wasm", "testdata", "sdkkeep"),
	} {
		if err := wasmtest.GoPlugin(src, out(name)); err != nil {
			return err
		}
	}
	for name, text := range watModules {
		src := filepath.Join(dir, name+".wat")
		if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
			return err
		}
		if err := wasmtest.WAT(src, out(name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// nodeCmd runs node in this directory, failing the test when node or the
// npm dependencies are missing (they are installed by make test-deps).
func nodeCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	if testing.Short() {
		t.Skip("runs node")
	}
	bin, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run scripts/install-node.sh (make test-deps)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "kafkajs", "package.json")); err != nil {
		t.Fatal("clients/js/node_modules lacks kafkajs: run scripts/install-node.sh (make test-deps)")
	}
	cmd := exec.Command(bin, append([]string{"--no-warnings=ExperimentalWarning"}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_TEST_WASM_DIR="+filepath.Dir(modules["wat"]))
	return cmd
}

// TestNodeABI runs the package's own tests (test/*.test.mjs) with node's
// test runner.
func TestNodeABI(t *testing.T) {
	cmd := nodeCmd(t, "--test", "--test-reporter=spec", "test/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("ℹ fail 0")) || bytes.Contains(out, []byte("ℹ pass 0")) {
		t.Fatalf("node --test summary:\n%s", out)
	}
	t.Logf("%s", out[bytes.LastIndex(out, []byte("ℹ tests")):])
}

// testRecord is one record as testdriver/cli.mjs reads it.
type testRecord struct {
	Key       *string      `json:"key"`   // base64; nil: null
	Value     *string      `json:"value"` // base64; nil: null
	Headers   [][2]*string `json:"headers,omitempty"`
	Timestamp int64        `json:"timestamp"`
}

func b64(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func unb64(s *string) []byte {
	if s == nil {
		return nil
	}
	b, _ := base64.StdEncoding.DecodeString(*s)
	return b
}

// records is the 10,000-record set both sides partition: JSON page views
// with and without user_id and page, keyed and unkeyed, some with headers,
// empty and binary keys.
func records(n int) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		r := testRecord{Key: b64(fmt.Appendf(nil, "user-%d", i)), Timestamp: 1_700_000_000_000 + int64(i)}
		switch i % 5 {
		case 0:
			r.Value = b64(fmt.Appendf(nil, `{"user_id":"u%d","page":"/p/%d"}`, i%977, i%31))
		case 1:
			r.Value = b64([]byte(`{"page":"/no-user"}`))
		case 2:
			r.Key = nil // no key, no user: partition 0
			r.Value = b64([]byte(`{"page":"/anon"}`))
		case 3:
			r.Key = b64([]byte{byte(i), 0, 0xff, byte(i >> 8)})
			r.Value = b64(fmt.Appendf(nil, `{"user_id":%d}`, i))
		case 4:
			if i%10 == 4 {
				r.Key = b64([]byte{})
			}
		}
		if i%7 == 0 {
			r.Headers = [][2]*string{{strptr("source"), b64([]byte("web"))}, {strptr("source"), nil}, {strptr("trace"), b64(fmt.Appendf(nil, "t%d", i))}}
		}
		recs[i] = r
	}
	return recs
}

func strptr(s string) *string { return &s }

func jsonLines(t *testing.T, recs []testRecord) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func hookRecord(r testRecord) hooks.Record {
	rec := hooks.Record{Key: unb64(r.Key), Value: unb64(r.Value), Timestamp: r.Timestamp, Offset: -1}
	for _, h := range r.Headers {
		rec.Headers = append(rec.Headers, hooks.Header{Key: *h[0], Value: unb64(h[1])})
	}
	return rec
}

// TestNodeAgreesWithTheBrokerFor10000Keys: for 10,000 records the Node
// partitioner picks exactly the partitions the broker's runtime (package
// wasm, batches of 1,000) picks with the same module and configuration,
// for the WAT and the Go SDK page-view partitioners.
func TestNodeAgreesWithTheBrokerFor10000Keys(t *testing.T) {
	const n, partitions = 10_000, 13
	recs := records(n)
	input := jsonLines(t, recs)
	for _, c := range []struct {
		name   string
		config map[string]string
	}{
		{"wat", nil},
		{"pageview", nil},
		{"pageview", map[string]string{"field": "page"}},
	} {
		name := c.name
		for k, v := range c.config {
			name += " " + k + "=" + v
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"testdriver/cli.mjs", "partition", modules[c.name], strconv.Itoa(partitions)}
			for k, v := range c.config {
				args = append(args, k+"="+v)
			}
			cmd := nodeCmd(t, args...)
			cmd.Stdin = bytes.NewReader(input)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, stderr.Bytes())
			}
			got := strings.Fields(string(out))
			if len(got) != n {
				t.Fatalf("node answered %d lines for %d records:\n%.2000s", len(got), n, out)
			}

			engine, err := wasm.NewEngine(wasm.Config{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer engine.Close()
			code, err := os.ReadFile(modules[c.name])
			if err != nil {
				t.Fatal(err)
			}
			mod, err := engine.Load(context.Background(), wasm.Spec{Name: c.name, Hook: wasm.HookPartitioner, Config: c.config, Wasm: code})
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close()
			used := map[int32]int{}
			for start := 0; start < n; start += 1000 {
				batch := make([]hooks.Record, 0, 1000)
				for _, r := range recs[start : start+1000] {
					batch = append(batch, hookRecord(r))
				}
				want, err := mod.Partition(context.Background(), "t", batch, partitions)
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range want {
					if got[start+i] != strconv.Itoa(int(w)) {
						t.Fatalf("record %d (%+v): node %s, broker %d", start+i, recs[start+i], got[start+i], w)
					}
					used[w]++
				}
			}
			if len(used) != partitions {
				t.Fatalf("only %d of %d partitions used: the comparison would prove little", len(used), partitions)
			}
		})
	}
}

// TestNodeEncodesLikeTheBroker: the Input the Node package writes for each
// record is byte for byte what package abi (the broker's encoder) writes.
func TestNodeEncodesLikeTheBroker(t *testing.T) {
	recs := records(700)
	cmd := nodeCmd(t, "testdriver/cli.mjs", "encode", "9")
	cmd.Stdin = bytes.NewReader(jsonLines(t, recs))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(recs) {
		t.Fatalf("%d lines for %d records", len(lines), len(recs))
	}
	for i, r := range recs {
		b := abi.AppendInputHeader(nil, &abi.Meta{Partition: -1, NumPartitions: 9, Topic: "t"}, 1)
		b = abi.AppendRecord(b, r.Timestamp, -1, unb64(r.Key), unb64(r.Value), len(r.Headers), func(j int) ([]byte, []byte) {
			return []byte(*r.Headers[j][0]), unb64(r.Headers[j][1])
		})
		if want := hex.EncodeToString(b); lines[i] != want {
			t.Fatalf("record %d: node wrote\n%s\nthe broker's encoder\n%s", i, lines[i], want)
		}
	}
}

// TestKafkajsProducesWhereTheBrokerWould: a real broker with the page-view
// partitioner deployed on topic pv-rest (field=page); kafkajs produces N
// records to pv with createPartitioner (same module, same config), and the
// same records go through the broker's REST produce to pv-rest, where the
// deployed plugin picks their partitions. Every kafkajs record (fetched
// with kgo) is on the partition the broker chose for it, per-partition
// counts equal; a record the plugin fails on (gopanic, key "boom") fails
// its send with the panic message and nothing of that send is stored.
func TestKafkajsProducesWhereTheBrokerWould(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and node")
	}
	const n, partitions = 3000, 6
	nd := testkit.StartNode(t)
	kafkaAddr, httpBase := nd.Addrs.Kafka, nd.HTTPBase
	adm := kadm.NewClient(nd.Client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nd.CreateTopic(t, "pv", partitions)
	nd.CreateTopic(t, "pv-rest", partitions)
	nd.CreateTopic(t, "pv-fail", 3)
	deploy(t, nd, "pv", "pv-rest", modules["pageview"], "field=page")

	cmd := nodeCmd(t, "testdriver/produce.mjs")
	cmd.Env = append(cmd.Env, "BROKERS="+kafkaAddr, "TOPIC=pv", "WASM="+modules["pageview"], "N="+strconv.Itoa(n),
		`CONFIG={"field":"page"}`, "FAIL_TOPIC=pv-fail", "FAIL_WASM="+modules["gopanic"])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node produce: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	var res struct {
		Sent    int    `json:"sent"`
		Failure string `json:"failure"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Sent != n {
		t.Fatalf("node produce answered %q (%v)\n%s", out, err, stderr.Bytes())
	}
	if want := `PartitionerError: sluice partitioner failed on a record of topic "pv-fail": panic: bad key boom; trap: unreachable in runtime.abort`; res.Failure != want {
		t.Fatalf("failed send: %q, want %q", res.Failure, want)
	}

	// The broker's choice for each record, through its REST produce.
	want := make([]int32, n)
	for start := 0; start < n; start += 500 {
		var body struct {
			Records []map[string]any `json:"records"`
		}
		for i := start; i < min(n, start+500); i++ {
			key, value, headers := jsRecord(i)
			r := map[string]any{"value": base64.StdEncoding.EncodeToString(value)}
			if key != nil {
				r["key"] = base64.StdEncoding.EncodeToString(key)
			}
			var hs []map[string]string
			for _, h := range headers {
				hs = append(hs, map[string]string{"key": h[0], "value": base64.StdEncoding.EncodeToString([]byte(h[1]))})
			}
			if hs != nil {
				r["headers"] = hs
			}
			body.Records = append(body.Records, r)
		}
		offs := restProduce(t, httpBase, "pv-rest", body)
		for j, o := range offs {
			want[start+j] = o
		}
	}
	wantCounts := map[int32]int{}
	for _, p := range want {
		wantCounts[p]++
	}
	if len(wantCounts) < partitions {
		t.Fatalf("the broker used %d of %d partitions: the comparison would prove little", len(wantCounts), partitions)
	}

	// Where kafkajs put them.
	got := fetchAll(t, kafkaAddr, "pv", n)
	gotCounts := map[int32]int{}
	seen := make([]bool, n)
	for _, r := range got {
		var v struct{ I int }
		if err := json.Unmarshal(r.Value, &v); err != nil || v.I < 0 || v.I >= n || seen[v.I] {
			t.Fatalf("unexpected record %q (%v)", r.Value, err)
		}
		seen[v.I] = true
		key, value, _ := jsRecord(v.I)
		if !bytes.Equal(r.Key, key) || !bytes.Equal(r.Value, value) {
			t.Fatalf("record %d: key %q value %q, want %q %q", v.I, r.Key, r.Value, key, value)
		}
		if r.Partition != want[v.I] {
			t.Fatalf("record %d (key %q): kafkajs put it on partition %d, the broker's plugin chose %d", v.I, r.Key, r.Partition, want[v.I])
		}
		gotCounts[r.Partition]++
	}
	if fmt.Sprint(gotCounts) != fmt.Sprint(wantCounts) {
		t.Fatalf("per partition: kafkajs %v, broker %v", gotCounts, wantCounts)
	}
	t.Logf("%d records, per partition %v", n, gotCounts)

	// The failed send stored nothing; the producer's next send did.
	if recs := fetchAll(t, kafkaAddr, "pv-fail", 1); len(recs) != 1 || string(recs[0].Value) != "after" {
		t.Fatalf("pv-fail holds %d records, want only the one sent after the failure", len(recs))
	}
	ends, err := adm.ListEndOffsets(ctx, "pv-fail")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 1 {
		t.Fatalf("pv-fail end offsets sum to %d, want 1", total)
	}
}

// jsRecord is record i as testdriver/produce.mjs makes it.
func jsRecord(i int) (key, value []byte, headers [][2]string) {
	if i%3 == 0 {
		value = fmt.Appendf(nil, `{"user_id":"u%d","i":%d}`, i%97, i)
	} else {
		value = fmt.Appendf(nil, `{"page":"/p/%d","i":%d}`, i, i)
	}
	if i%5 != 4 {
		key = fmt.Appendf(nil, "user-%d", i)
	}
	if i%7 == 0 {
		headers = [][2]string{{"source", "web"}, {"trace-id", fmt.Sprintf("t%d", i)}}
	}
	return key, value, headers
}

// deploy deploys the partitioner module at path on topic.
func deploy(t *testing.T, nd *testkit.Node, name, topic, path string, config ...string) {
	t.Helper()
	code, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nd.Deploy(t, name, "partitioner", topic, code, config...)
}

// restProduce posts records (binary format) and returns the partition of
// each.
func restProduce(t *testing.T, base, topic string, body any) []int32 {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/topics/"+topic, "application/vnd.kafka.binary.v2+json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Offsets []struct {
			Partition *int32 `json:"partition"`
			Error     *string
		} `json:"offsets"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("REST produce: %d %s", resp.StatusCode, raw)
	}
	parts := make([]int32, len(out.Offsets))
	for i, o := range out.Offsets {
		if o.Partition == nil {
			t.Fatalf("REST produce: record %d failed: %s", i, raw)
		}
		parts[i] = *o.Partition
	}
	return parts
}

// fetchAll reads topic from the start until want records arrived, then
// for a moment more, so extra records would be seen.
func fetchAll(t *testing.T, addr, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	got := testkit.Consume(t, ctx, cl, want)
	cancel()
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got = append(got, cl.PollFetches(ctx).Records()...)
	if len(got) != want {
		t.Fatalf("%s: %d records, want %d", topic, len(got), want)
	}
	return got
}
