package bridge_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/records"
	"github.com/sluicemq/sluice/internal/needs"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// The tests of docs/plugin-abi.md "Results when a transform drops, splits
// or merges" and "Refusals and failures", and of docs/http-api.md's
// plugin errors: real plugins (testdata/honest, a Go SDK transform, and
// wasm/testdata's panicking partitioner and trapping WAT transform)
// deployed through the admin API of a real node, real clients.

var (
	honestOnce sync.Once
	honestMods map[string][]byte
	honestErr  error
)

// honestModules builds the test plugins once per test binary.
func honestModules(t *testing.T) map[string][]byte {
	t.Helper()
	honestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-honest-")
		if err != nil {
			honestErr = err
			return
		}
		defer os.RemoveAll(dir)
		builds := map[string]func(out string) error{
			"honest": func(out string) error { return wasmtest.GoPlugin(filepath.Join("testdata", "honest"), out) },
			"honestfilter": func(out string) error {
				return wasmtest.GoPlugin(filepath.Join("testdata", "honestfilter"), out)
			},
			"gopanic": func(out string) error {
				return wasmtest.GoPlugin(filepath.Join("..", "wasm", "testdata", "gopanic"), out)
			},
			"misbehave": func(out string) error {
				return wasmtest.WAT(filepath.Join("..", "wasm", "testdata", "misbehave.wat"), out)
			},
		}
		// Built side by side: each Go build is mostly the toolchain's
		// start-up and link, seconds apiece one after the other.
		honestMods = map[string][]byte{}
		var (
			mu   sync.Mutex
			wg   sync.WaitGroup
			errs []error
		)
		for name, build := range builds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := filepath.Join(dir, name+".wasm")
				err := build(out)
				var b []byte
				if err == nil {
					b, err = os.ReadFile(out)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", name, err))
					return
				}
				honestMods[name] = b
			}()
		}
		wg.Wait()
		honestErr = errors.Join(errs...)
	})
	if honestErr != nil {
		t.Fatalf("building test plugins: %v", honestErr)
	}
	return honestMods
}

// honestNode is a full node (broker, plugin registry, bridge and admin
// API on one HTTP listener).
type honestNode struct {
	kafka, http string
	kit         *testkit.Node
}

func startHonestNode(t *testing.T, public ...string) *honestNode {
	t.Helper()
	n := testkit.StartNode(t, testkit.WithOptions(node.Options{Bridge: bridge.Config{PublicTopics: public}}))
	return &honestNode{kafka: n.Addrs.Kafka, http: n.HTTPBase, kit: n}
}

func (n *honestNode) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return n.kit.Client(t, opts...)
}

// topic creates a one-partition topic and deploys plugin (a module of
// honestModules) on it as hook.
func (n *honestNode) topic(t *testing.T, topic, hook, plugin string) {
	t.Helper()
	n.kit.CreateTopic(t, topic, 1)
	n.kit.Deploy(t, plugin+"-"+topic, hook, topic, honestModules(t)[plugin])
}

// stored reads topic's records as "value@offset".
func (n *honestNode) stored(t *testing.T, topic string, want int) []string {
	t.Helper()
	cl := n.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for _, r := range testkit.Consume(t, ctx, cl, want) {
		got = append(got, fmt.Sprintf("%s@%d", r.Value, r.Offset))
	}
	return got
}

// honestBatches are produced one batch each; the comments give the
// offsets docs/plugin-abi.md promises.
var honestBatches = [][]string{
	{"a", "drop-b", "c", "d"},           // 0-3: a@0, c@2, d@3; 1 empty
	{"drop-x"},                          // 4: an empty batch
	{"e"},                               // 5
	{"split-s"},                         // 6-7: split-s#1@6, split-s#2@7
	{"merge-1", "merge-2", "merge-end"}, // 8-10: the merged record @8
	{"f"},                               // 11
}

// honestStored is what a consumer then reads.
var honestStored = []string{"a@0", "c@2", "d@3", "e@5", "split-s#1@6", "split-s#2@7", "merge-1+merge-2+merge-end@8", "f@11"}

// TestTransformResultsKgo: franz-go's producer (idempotent and not) is
// answered the stored batch's base offset; the offsets its promises give
// each record are the records' own (a record passed through is read back
// at exactly the offset its promise said), a dropped record's offset
// holds nothing, and no later record takes an offset of an earlier
// produce.
func TestTransformResultsKgo(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t)
	for _, c := range []struct {
		topic string
		opts  []kgo.Opt
	}{
		{"kgo-idempotent", nil},
		{"kgo-plain", []kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks())}},
	} {
		n.topic(t, c.topic, "transform", "honest")
		cl := n.client(t, append(c.opts, kgo.DefaultProduceTopic(c.topic), kgo.ManualFlushing())...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var promised [][]int64
		for _, batch := range honestBatches {
			offs := make([]int64, len(batch))
			var mu sync.Mutex
			var perr error
			for i, v := range batch {
				cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
					mu.Lock()
					defer mu.Unlock()
					offs[i] = r.Offset
					perr = err
				})
			}
			// One flush, one batch: the transform sees the whole batch.
			if err := cl.Flush(ctx); err != nil || perr != nil {
				t.Fatalf("%s: produce %v: %v %v", c.topic, batch, err, perr)
			}
			promised = append(promised, offs)
		}
		cancel()
		if got, want := fmt.Sprint(promised), "[[0 1 2 3] [4] [5] [6] [8 9 10] [11]]"; got != want {
			t.Fatalf("%s: promised offsets %s, want %s", c.topic, got, want)
		}
		if got, want := strings.Join(n.stored(t, c.topic, len(honestStored)), " "), strings.Join(honestStored, " "); got != want {
			t.Fatalf("%s: stored %s, want %s", c.topic, got, want)
		}
	}
}

// TestTransformResultsKcat: librdkafka (non-idempotent by default)
// through kcat: the delivery reports give each message the offset
// documented, the same as franz-go's.
func TestTransformResultsKcat(t *testing.T) {
	t.Parallel()
	kcat := needs.Kcat(t)
	n := startHonestNode(t)
	n.topic(t, "kcat", "transform", "honest")
	var reported []string
	for _, batch := range honestBatches {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// -vvv prints a delivery report per message; a 1 s linger (200 ms was once too short on a loaded machine: the batch was split)
		// sends each kcat run's lines as one batch.
		cmd := exec.CommandContext(ctx, kcat, "-P", "-b", n.kafka, "-t", "kcat", "-p", "0", "-X", "linger.ms=1000", "-X", "acks=all", "-v", "-v", "-v")
		cmd.Stdin = strings.NewReader(strings.Join(batch, "\n") + "\n")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s%s", batch, err, out, stderr.String())
		}
		reported = append(reported, deliveryOffsets(t, stderr.String()))
	}
	if got, want := strings.Join(reported, " | "), "0 1 2 3 | 4 | 5 | 6 | 8 9 10 | 11"; got != want {
		t.Fatalf("kcat delivery reports %q, want %q", got, want)
	}
	if got, want := strings.Join(n.stored(t, "kcat", len(honestStored)), " "), strings.Join(honestStored, " "); got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
}

// TestTransformResultsREST: the v2 produce answer says per record where
// it was stored, "dropped": true (no offset) when the transform stored
// nothing for it, and "records": n when it stored more.
func TestTransformResultsREST(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t)
	n.topic(t, "rest", "transform", "honest")
	const null = `"error_code":null,"error":null`
	want := []string{
		`{"offsets":[{"partition":0,"offset":0,` + null + `},{"partition":0,"offset":null,` + null + `,"dropped":true},{"partition":0,"offset":2,` + null + `},{"partition":0,"offset":3,` + null + `}],"key_schema_id":null,"value_schema_id":null}`,
		`{"offsets":[{"partition":0,"offset":null,` + null + `,"dropped":true}],"key_schema_id":null,"value_schema_id":null}`,
		`{"offsets":[{"partition":0,"offset":5,` + null + `}],"key_schema_id":null,"value_schema_id":null}`,
		`{"offsets":[{"partition":0,"offset":6,` + null + `,"records":2}],"key_schema_id":null,"value_schema_id":null}`,
		`{"offsets":[{"partition":0,"offset":8,` + null + `},{"partition":0,"offset":null,` + null + `,"dropped":true},{"partition":0,"offset":null,` + null + `,"dropped":true}],"key_schema_id":null,"value_schema_id":null}`,
		`{"offsets":[{"partition":0,"offset":11,` + null + `}],"key_schema_id":null,"value_schema_id":null}`,
	}
	for i, batch := range honestBatches {
		var recs []string
		for _, v := range batch {
			recs = append(recs, `{"value":"`+base64.StdEncoding.EncodeToString([]byte(v))+`"}`)
		}
		code, body, _ := do(t, "POST", n.http+"/topics/rest", "application/vnd.kafka.binary.v2+json",
			strings.NewReader(`{"records":[`+strings.Join(recs, ",")+`]}`))
		if code != http.StatusOK || body != want[i] {
			t.Fatalf("produce %v: %d %s\nwant 200 %s", batch, code, body, want[i])
		}
	}
	if got, want := strings.Join(n.stored(t, "rest", len(honestStored)), " "), strings.Join(honestStored, " "); got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
}

// TestTransformResultsBeacon: a beacon answers 204 as always; when the
// transform did not store exactly the one record, Sluice-Records-Stored
// and Sluice-Records-Dropped say what it did. Pixels likewise.
func TestTransformResultsBeacon(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t, "web")
	n.topic(t, "web", "transform", "honest")
	for _, c := range []struct {
		method, path, body string
		status             int
		stored, dropped    string
	}{
		{"POST", "/beacon/web", "page", 204, "", ""},
		{"POST", "/beacon/web", "drop-me", 204, "0", "1"},
		{"POST", "/beacon/web", "split-me", 204, "2", "0"},
		{"GET", "/pixel/web.gif?v=1", "", 200, "", ""},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		code, got, h := do(t, c.method, n.http+c.path, "text/plain", body)
		if code != c.status || h.Get("Sluice-Records-Stored") != c.stored || h.Get("Sluice-Records-Dropped") != c.dropped {
			t.Fatalf("%s %s %q: %d %q stored %q dropped %q; want %d stored %q dropped %q", c.method, c.path, c.body, code, got,
				h.Get("Sluice-Records-Stored"), h.Get("Sluice-Records-Dropped"), c.status, c.stored, c.dropped)
		}
		if c.status == 204 && got != "" {
			t.Fatalf("%s: body %q", c.body, got)
		}
	}
	if got, want := strings.Join(n.stored(t, "web", 4), " "), `page@0 split-me#1@2 split-me#2@3 {"v":"1"}@4`; got != want {
		t.Fatalf("stored %s, want %s", got, want)
	}
}

// TestPluginErrorsKafka: a Kafka producer is told INVALID_RECORD for
// sdk.Reject and POLICY_VIOLATION for sdk.Policy, a panic, a trap, a
// malformed answer, running out of memory, a timeout and an emit whose
// target's partitioner panics,
// with the plugin's own message (a panic's first line) and neither the
// goroutine stack nor wasm frames; nothing is stored.
func TestPluginErrorsKafka(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t)
	n.topic(t, "fail", "transform", "honest")
	n.topic(t, "trap", "transform", "misbehave")
	n.topic(t, "routed", "partitioner", "gopanic")
	cl := n.client(t)
	for _, c := range []struct {
		topic, key, value string
		code              int16
		message           string
	}{
		{"fail", "", "reject-1", kerr.InvalidRecord.Code, `transform plugin of topic fail: plugin "honest-fail": record 0: no reject-1 here`},
		{"fail", "", "policy-1", kerr.PolicyViolation.Code, `transform plugin of topic fail: plugin "honest-fail": record 0: tenant quota exceeded for policy-1`},
		{"fail", "", "panic-1", kerr.PolicyViolation.Code, `transform plugin of topic fail: plugin "honest-fail" (transform) failed: trap: panic: bad record panic-1; wasm error: unreachable`},
		{"trap", "t", "v", kerr.PolicyViolation.Code, `transform plugin of topic trap: plugin "misbehave-trap" (transform) failed: trap: wasm error: unreachable`},
		{"trap", "g", "v", kerr.PolicyViolation.Code, `transform plugin of topic trap: plugin "misbehave-trap" (transform) failed: malformed output: unknown status 7`},
		{"trap", "o", "v", kerr.PolicyViolation.Code, `transform plugin of topic trap: plugin "misbehave-trap" (transform) failed: out of memory: memory limit of 64 MiB reached: wasm error: unreachable`},
		{"trap", "l", "v", kerr.PolicyViolation.Code, `transform plugin of topic trap: plugin "misbehave-trap" (transform) failed: deadline exceeded: call exceeded 2s and was stopped`},
		// An emit whose target's partitioner panics.
		{"fail", "boom", "emit:routed", kerr.PolicyViolation.Code, `fail-0: transform emit to topic routed: partitioner plugin of topic routed: plugin "gopanic-routed" (partitioner) failed: trap: panic: bad key boom; wasm error: unreachable`},
	} {
		code, msg := rawProduce(t, cl, c.topic, c.key, c.value)
		if code != c.code || msg != c.message {
			t.Errorf("%s key %q value %q: code %d message %q\nwant %d %q", c.topic, c.key, c.value, code, msg, c.code, c.message)
		}
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "fail", "trap", "routed")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Fatalf("%s holds %d records after refused produces", o.Topic, o.Partition)
		}
	})
}

// rawProduce sends one record and returns the partition's error code and
// message (franz-go's producer does not surface the message).
func rawProduce(t *testing.T, cl *kgo.Client, topic, key, value string) (int16, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rec := records.Record{Value: []byte(value), Timestamp: time.Now().UnixMilli()}
	if key != "" {
		rec.Key = []byte(key)
	}
	var err error
	if rp.Records, err = records.Encode([]records.Record{rec}, records.Plain); err != nil {
		t.Fatal(err)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	msg := ""
	if p.ErrorMessage != nil {
		msg = *p.ErrorMessage
	}
	return p.ErrorCode, msg
}

// TestPluginErrorsHTTP: HTTP clients get 422/42210 for a plugin's
// refusal and 502/50201 for its failure, on the REST proxy with the
// plugin's message, on anonymous endpoints (beacon, pixel) with at most a
// refusal's message; never a stack trace or wasm frames.
func TestPluginErrorsHTTP(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t, "fail", "trap", "routed")
	n.topic(t, "fail", "transform", "honest")
	n.topic(t, "trap", "transform", "misbehave")
	n.topic(t, "routed", "partitioner", "gopanic")
	rest := func(key, value string) string {
		k := "null"
		if key != "" {
			k = `"` + base64.StdEncoding.EncodeToString([]byte(key)) + `"`
		}
		return `{"records":[{"key":` + k + `,"value":"` + base64.StdEncoding.EncodeToString([]byte(value)) + `"}]}`
	}
	const binary = "application/vnd.kafka.binary.v2+json"
	for _, c := range []struct {
		method, path, ct, body string
		status                 int
		want                   string
	}{
		{"POST", "/topics/fail", binary, rest("", "reject-1"), 422,
			`{"error_code":42210,"message":"Transform plugin of topic fail refused the records: plugin \"honest-fail\": record 0: no reject-1 here"}`},
		{"POST", "/topics/fail", binary, rest("", "policy-1"), 422,
			`{"error_code":42210,"message":"Transform plugin of topic fail refused the records: plugin \"honest-fail\": record 0: tenant quota exceeded for policy-1"}`},
		{"POST", "/topics/fail", binary, rest("", "panic-1"), 502,
			`{"error_code":50201,"message":"Transform plugin of topic fail failed: plugin \"honest-fail\" (transform) failed: trap: panic: bad record panic-1; wasm error: unreachable"}`},
		{"POST", "/topics/trap", binary, rest("t", "v"), 502,
			`{"error_code":50201,"message":"Transform plugin of topic trap failed: plugin \"misbehave-trap\" (transform) failed: trap: wasm error: unreachable"}`},
		{"POST", "/topics/trap", binary, rest("l", "v"), 502,
			`{"error_code":50201,"message":"Transform plugin of topic trap failed: plugin \"misbehave-trap\" (transform) failed: deadline exceeded: call exceeded 2s and was stopped"}`},
		{"POST", "/topics/routed", binary, rest("boom", "v"), 502,
			`{"error_code":50201,"message":"Partitioner plugin of topic routed failed: plugin \"gopanic-routed\" (partitioner) failed: trap: panic: bad key boom; wasm error: unreachable"}`},
		{"POST", "/beacon/fail", "text/plain", "reject-1", 422,
			`{"error_code":42210,"message":"Transform plugin of topic fail refused the records: plugin \"honest-fail\": record 0: no reject-1 here"}`},
		{"POST", "/beacon/fail", "text/plain", "panic-1", 502, `{"error_code":50201,"message":"Transform plugin of topic fail failed."}`},
		{"POST", "/beacon/trap?key=t", "text/plain", "v", 502, `{"error_code":50201,"message":"Transform plugin of topic trap failed."}`},
		{"POST", "/beacon/routed?key=boom", "text/plain", "v", 502, `{"error_code":50201,"message":"Partitioner plugin of topic routed failed."}`},
		{"GET", "/pixel/routed.gif?key=boom", "", "", 502, `{"error_code":50201,"message":"Partitioner plugin of topic routed failed."}`},
	} {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		code, got, _ := do(t, c.method, n.http+c.path, c.ct, body)
		if code != c.status || got != c.want {
			t.Fatalf("%s %s %s: %d %s\nwant %d %s", c.method, c.path, c.body, code, got, c.status, c.want)
		}
	}
}

// kcatDelivered is kcat's delivery report (printed at -vvv):
// "% Message delivered to partition 0 (offset 8) on broker 0".
var kcatDelivered = regexp.MustCompile(`(?m)^% Message delivered to partition 0 \(offset (-?\d+)\)`)

// deliveryOffsets is the offsets of kcat's delivery reports, in order.
func deliveryOffsets(t *testing.T, stderr string) string {
	t.Helper()
	var offs []string
	for _, m := range kcatDelivered.FindAllStringSubmatch(stderr, -1) {
		offs = append(offs, m[1])
	}
	if len(offs) == 0 {
		t.Fatalf("no delivery reports in kcat's output:\n%s", stderr)
	}
	return strings.Join(offs, " ")
}

// TestTransformResultsCollectAndBulk: the tracker's /collect counts the
// events the transform dropped apart from the accepted ones (and
// remembers them: a resend is answered as duplicates); Elasticsearch bulk
// answers a dropped document "noop" without a sequence number.
func TestTransformResultsCollectAndBulk(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t, "tracked")
	n.topic(t, "tracked", "transform", "honest")
	n.topic(t, "logs", "transform", "honest")
	events := `{"events":[{"eid":"e1"},{"eid":"e2","w":"drop"},{"eid":"e3"}]}`
	for _, want := range []string{`{"accepted":2,"duplicates":0,"dropped":1}`, `{"accepted":0,"duplicates":3}`} {
		code, got, _ := do(t, "POST", n.http+"/collect/tracked", "text/plain", strings.NewReader(events))
		if code != 200 || got != want {
			t.Fatalf("collect: %d %s, want 200 %s", code, got, want)
		}
	}
	bulk := `{"index":{"_index":"logs","_id":"k1"}}` + "\n" + `{"w":"keep"}` + "\n" +
		`{"index":{"_index":"logs","_id":"k2"}}` + "\n" + `{"w":"drop"}` + "\n" +
		`{"index":{"_index":"logs","_id":"k3"}}` + "\n" + `{"w":"keep"}` + "\n"
	code, got, _ := do(t, "POST", n.http+"/_bulk", "application/x-ndjson", strings.NewReader(bulk))
	got = regexp.MustCompile(`"took":\d+`).ReplaceAllString(got, `"took":0`)
	const want = `{"took":0,"errors":false,"items":[` +
		`{"index":{"_index":"logs","_id":"k1","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"index":{"_index":"logs","_id":"k2","_version":1,"result":"noop","_shards":{"total":1,"successful":1,"failed":0},"status":200}},` +
		`{"index":{"_index":"logs","_id":"k3","_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":2,"_primary_term":1,"status":201}}]}`
	if code != 200 || got != want {
		t.Fatalf("bulk: %d %s\nwant 200 %s", code, got, want)
	}
	if got, want := strings.Join(n.stored(t, "logs", 2), " "), `{"w":"keep"}@0 {"w":"keep"}@2`; got != want {
		t.Fatalf("logs: %s, want %s", got, want)
	}
}

// TestPluginErrorsFetch: a consume filter that fails answers the fetch
// with POLICY_VIOLATION (the Fetch response has no error message; the
// panic line and stack are in the broker log).
func TestPluginErrorsFetch(t *testing.T) {
	t.Parallel()
	n := startHonestNode(t)
	n.topic(t, "filtered", "filter", "honestfilter")
	cl := n.client(t, kgo.DefaultProduceTopic("filtered"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("panic-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	consumer := n.client(t, kgo.ConsumeTopics("filtered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no fetch error within 20s")
		}
		if n := fs.NumRecords(); n != 0 {
			t.Fatalf("%d records fetched through a failing filter", n)
		}
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, kerr.PolicyViolation) {
				t.Fatalf("fetch error %v, want POLICY_VIOLATION", fe.Err)
			}
			return
		}
	}
}
