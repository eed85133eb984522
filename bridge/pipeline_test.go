package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/bridge"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/core/kafka"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/pipeline"
	"github.com/sluicemq/sluice/internal/testkit/localbroker"
)

// pipeNode is a broker, its Kafka listener and the bridge wired the way
// node wires them, with the bridge publishing and filtering through
// a core/pipeline.Pipeline. It stands in for node.RunWith until node
// passes the pipeline itself.
type pipeNode struct {
	kafka, base string
	dials       atomic.Int64 // connections the bridge's own Kafka client opened
	stop        func()
}

type pipeNodeOpts struct {
	dir   string
	hooks hooks.Registry
	// users get SCRAM-SHA-256 credentials (password = name + "-pw") and
	// turn on SASL on the Kafka listener.
	users  []string
	bridge bridge.Config
}

func startPipeNode(t *testing.T, o pipeNodeOpts) *pipeNode {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.hooks == nil {
		o.hooks = hooks.None{}
	}
	b, err := localbroker.Open(broker.Config{DataDir: o.dir, Logger: logger, OffsetsTopicPartitions: 1, GroupInitialRebalanceDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	b.SetAdvertised("127.0.0.1", int32(port))
	kcfg := kafka.Config{Hooks: o.hooks, Logger: logger, Authorizer: auth.AllowAll{}}
	var nodeOpts []kgo.Opt
	if len(o.users) > 0 {
		creds := b.Store().(meta.CredentialStore)
		for _, u := range append([]string{"node"}, o.users...) {
			c, err := auth.ScramSHA256.NewCredential(u+"-pw", 4096)
			if err != nil {
				t.Fatal(err)
			}
			if err := creds.PutScramCredential(u, auth.ScramSHA256.Name, c); err != nil {
				t.Fatal(err)
			}
		}
		kcfg.SASL = &kafka.SASLConfig{Mechanisms: []string{kafka.MechScramSHA256}, Credentials: creds}
		nodeOpts = append(nodeOpts, kgo.SASL(scram.Auth{User: "node", Pass: "node-pw"}.AsSha256Mechanism()))
	}
	srv := kafka.New(b, kcfg)
	go srv.Serve(ln)
	n := &pipeNode{kafka: ln.Addr().String()}
	inProc := srv.InProcessDialer(nil, n.kafka)
	pl := pipeline.New(pipeline.Config{Broker: b, Hooks: o.hooks, Logger: logger})

	bcfg := o.bridge
	bcfg.Brokers, bcfg.Logger, bcfg.Pipeline = []string{n.kafka}, logger, pl
	bcfg.KafkaOpts = append(bcfg.KafkaOpts, nodeOpts...)
	bcfg.Dialer = func(ctx context.Context, network, host string) (net.Conn, error) {
		n.dials.Add(1)
		return inProc(ctx, network, host)
	}
	br, err := bridge.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	br.Routes(r)
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: r}
	br.ConfigureServer(hs)
	go hs.Serve(hln)
	n.base = "http://" + hln.Addr().String()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hs.Shutdown(ctx)
			br.Close()
			pl.Close()
			srv.Close()
			if err := b.Close(); err != nil {
				t.Errorf("broker close: %v", err)
			}
		})
	}
	t.Cleanup(n.stop)
	return n
}

func (n *pipeNode) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.kafka)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (n *pipeNode) createTopic(t *testing.T, topic string, partitions int32, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(n.client(t, opts...)).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// consume reads topic from the start with cl's identity until it has
// want records (and briefly past that, to catch extras).
func consume(t *testing.T, n *pipeNode, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := n.client(t, append([]kgo.Opt{kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("topic %s: got %d records, want %d", topic, len(recs), want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		recs = append(recs, fs.Records()...)
	}
	extra, cancel2 := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel2()
	recs = append(recs, cl.PollFetches(extra).Records()...)
	return recs
}

type v2Produced struct {
	Offsets []struct {
		Partition *int32  `json:"partition"`
		Offset    *int64  `json:"offset"`
		ErrorCode *int    `json:"error_code"`
		Error     *string `json:"error"`
	} `json:"offsets"`
}

// publishV2 posts records (value i for keys given) and returns the
// answered partition/offset of each.
func publishV2(t *testing.T, base, topic string, values []string) [][2]int64 {
	t.Helper()
	var sb strings.Builder
	sb.WriteString(`{"records":[`)
	for i, v := range values {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"key":%q,"value":%q}`, "k-"+v, v)
	}
	sb.WriteString("]}")
	code, body, _ := do(t, "POST", base+"/topics/"+topic, "application/vnd.kafka.json.v2+json", strings.NewReader(sb.String()))
	if code != 200 {
		t.Fatalf("produce: %d %s", code, body)
	}
	var resp v2Produced
	if err := json.Unmarshal([]byte(body), &resp); err != nil || len(resp.Offsets) != len(values) {
		t.Fatalf("produce answer %s (%v)", body, err)
	}
	out := make([][2]int64, len(values))
	for i, o := range resp.Offsets {
		if o.Partition == nil || o.Offset == nil {
			t.Fatalf("record %d failed: %s", i, body)
		}
		out[i] = [2]int64{int64(*o.Partition), *o.Offset}
	}
	return out
}

// TestPipelineBridgeExactlyOnceAcrossRestart: the bridge publishes
// in-process through the pipeline (its own Kafka client never dials), and
// what it answered is exactly what is stored, across a restart of the
// broker on the same data directory.
func TestPipelineBridgeExactlyOnceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const topic = "orders"
	answered := map[string][2]int64{}
	publish := func(n *pipeNode, from, count int) {
		for i := from; i < from+count; i += 5 {
			var vals []string
			for j := i; j < min(i+5, from+count); j++ {
				vals = append(vals, "v"+strconv.Itoa(j))
			}
			for j, po := range publishV2(t, n.base, topic, vals) {
				answered[strconv.Quote(vals[j])] = po // JSON format stores the JSON text
			}
		}
		// Beacons too: one record each.
		for j := 0; j < 3; j++ {
			v := fmt.Sprintf(`{"beacon":"%d-%d"}`, from, j)
			if code, body, _ := do(t, "POST", n.base+"/beacon/"+topic, "text/plain", strings.NewReader(v)); code != 204 {
				t.Fatalf("beacon: %d %s", code, body)
			}
		}
	}
	const N, M = 40, 25
	n := startPipeNode(t, pipeNodeOpts{dir: dir, bridge: bridge.Config{PublicTopics: []string{topic}}})
	n.createTopic(t, topic, 3)
	publish(n, 0, N)
	if d := n.dials.Load(); d != 0 {
		t.Fatalf("the bridge opened %d Kafka connections to publish; want 0 (in-process)", d)
	}
	before := consume(t, n, topic, N+3)
	n.stop()

	n = startPipeNode(t, pipeNodeOpts{dir: dir, bridge: bridge.Config{PublicTopics: []string{topic}}})
	publish(n, N, M)
	recs := consume(t, n, topic, N+M+6)
	if len(recs) != N+M+6 {
		t.Fatalf("topic holds %d records, want exactly %d", len(recs), N+M+6)
	}
	seen := map[string]bool{}
	pids := map[int64]bool{}
	for _, r := range recs {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("duplicate record %s", v)
		}
		seen[v] = true
		pids[r.ProducerID] = true
		if r.ProducerID < 0 {
			t.Fatalf("record %s stored without a producer id (not idempotent)", v)
		}
		if po, ok := answered[v]; ok {
			if po != [2]int64{int64(r.Partition), r.Offset} {
				t.Fatalf("record %s answered %d@%d, stored at %d@%d", v, po[0], po[1], r.Partition, r.Offset)
			}
			if string(r.Key) != strconv.Quote("k-"+v[1:len(v)-1]) {
				t.Fatalf("record %s has key %q", v, r.Key)
			}
		}
	}
	for i := 0; i < N+M; i++ {
		if !seen[strconv.Quote("v"+strconv.Itoa(i))] {
			t.Fatalf("record v%d is missing", i)
		}
	}
	// One producer identity per broker life: the restart took a new one.
	if len(pids) != 2 || pids[before[0].ProducerID] == false {
		t.Fatalf("producer ids %v", pids)
	}
}

// tenantFilter shows a reader the records whose "tenant" header is its
// principal's user name, untagged records to everyone, and counts what it
// was asked to filter per reader and offset (a filter runs once).
type tenantFilter struct {
	mu    sync.Mutex
	calls map[string]int // "principal/partition/offset" → times filtered
}

func (f *tenantFilter) Apply(_ context.Context, _ string, part int32, rd hooks.Reader, recs []hooks.Record) ([]hooks.Record, error) {
	f.mu.Lock()
	for _, r := range recs {
		f.calls[fmt.Sprintf("%s/%s/%d/%d", rd.ClientID, rd.Principal, part, r.Offset)]++
	}
	f.mu.Unlock()
	var out []hooks.Record
	for _, r := range recs {
		tenant := ""
		for _, h := range r.Headers {
			if h.Key == "tenant" {
				tenant = string(h.Value)
			}
		}
		if tenant == "" || "User:"+tenant == rd.Principal {
			out = append(out, r)
		}
	}
	return out, nil
}

type filterRegistry struct {
	hooks.None
	topic string
	f     hooks.Filter
}

func (r filterRegistry) Filter(topic string) hooks.Filter {
	if topic == r.topic {
		return r.f
	}
	return nil
}

// sseRecords reads a stream's first want record events as value:offset.
func sseRecords(t *testing.T, url string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d", url, resp.StatusCode)
	}
	var got []string
	rd := bufio.NewReader(resp.Body)
	event := ""
	for len(got) < want {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream after %v: %v", got, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "":
			var rec struct {
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
				Value     string `json:"value"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &rec); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s:%d:%d", rec.Value, rec.Partition, rec.Offset))
		case line == "":
			event = ""
		}
	}
	return got
}

// TestPipelineSSEMatchesKafkaConsumer: an SSE stream of a filtered topic
// shows exactly what a Kafka consumer authenticated (SCRAM) as the same
// principal sees — same records, same order — and the filter ran once per
// record for the stream (not again under the bridge's own connection).
func TestPipelineSSEMatchesKafkaConsumer(t *testing.T) {
	t.Parallel()
	f := &tenantFilter{calls: map[string]int{}}
	n := startPipeNode(t, pipeNodeOpts{dir: t.TempDir(), hooks: filterRegistry{topic: "events", f: f},
		users: []string{"acme", "globex"},
		bridge: bridge.Config{Tokens: []bridge.Token{
			{Name: "acme", Secret: "acme-token", Topics: []string{"events"}, Operations: []string{"consume"}},
			{Name: "globex", Secret: "globex-token", Topics: []string{"events"}, Operations: []string{"consume"}},
		}}})
	login := func(u string) kgo.Opt { return kgo.SASL(scram.Auth{User: u, Pass: u + "-pw"}.AsSha256Mechanism()) }
	n.createTopic(t, "events", 1, login("node"))
	prod := n.client(t, login("node"), kgo.DefaultProduceTopic("events"))
	tenant := func(v string) []kgo.RecordHeader { return []kgo.RecordHeader{{Key: "tenant", Value: []byte(v)}} }
	var recs []*kgo.Record
	for i := 0; i < 12; i++ {
		r := &kgo.Record{Value: []byte(fmt.Sprint("r", i))}
		switch i % 3 {
		case 0:
			r.Headers = tenant("acme")
		case 1:
			r.Headers = tenant("globex")
		}
		recs = append(recs, r)
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"acme", "globex"} {
		var kafkaSees []string
		for _, r := range consume(t, n, "events", 8, login(user)) {
			kafkaSees = append(kafkaSees, fmt.Sprintf("%s:%d:%d", r.Value, r.Partition, r.Offset))
		}
		sseSees := sseRecords(t, n.base+"/topics/events/events?from=earliest&access_token="+user+"-token", 8)
		if fmt.Sprint(kafkaSees) != fmt.Sprint(sseSees) {
			t.Fatalf("%s: Kafka consumer sees %v, SSE %v", user, kafkaSees, sseSees)
		}
		if len(kafkaSees) != 8 {
			t.Fatalf("%s sees %d records, want 8: %v", user, len(kafkaSees), kafkaSees)
		}
		for off := 0; off < 12; off++ {
			if c := f.count(fmt.Sprintf("sluice-bridge-sse/User:%s/0/%d", user, off)); c != 1 {
				t.Fatalf("%s: the SSE stream filtered offset %d %d times, want once", user, off, c)
			}
		}
	}
	// No filtering under anything but the readers' principals (the
	// bridge's in-process connection is not filtered).
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.calls {
		if !strings.Contains(k, "/User:acme/") && !strings.Contains(k, "/User:globex/") {
			t.Fatalf("filter ran for %s", k)
		}
	}
}

func (f *tenantFilter) count(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[k]
}

// failingPartitioner refuses every record.
type failingPartitioner struct{}

func (failingPartitioner) Partition(context.Context, string, []hooks.Record, int32) ([]int32, error) {
	return nil, fmt.Errorf("%w: no region header", hooks.ErrRejected)
}

type partitionerRegistry struct {
	hooks.None
	topic string
}

func (r partitionerRegistry) Partitioner(topic string) hooks.Partitioner {
	if topic == r.topic {
		return failingPartitioner{}
	}
	return nil
}

// TestPipelineProduceErrors: the pipeline's request-level errors answer
// as docs/http-api.md says, and nothing is written.
func TestPipelineProduceErrors(t *testing.T) {
	t.Parallel()
	n := startPipeNode(t, pipeNodeOpts{dir: t.TempDir(), hooks: partitionerRegistry{topic: "routed"},
		bridge: bridge.Config{PublicTopics: []string{"routed"}}})
	n.createTopic(t, "routed", 2)
	n.createTopic(t, "plain", 2)
	for _, c := range []struct {
		path, ct, body string
		status         int
		code           string
	}{
		{"/topics/missing", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`, 404, `"error_code":40401`},
		{"/topics/plain", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1},{"value":2,"partition":5}]}`, 404, `"error_code":40402`},
		{"/topics/routed", "application/vnd.kafka.json.v2+json", `{"records":[{"value":1}]}`, 422, `{"error_code":42210,"message":"Partitioner plugin of topic routed refused the records: hooks: rejected by plugin: no region header"}`},
		{"/beacon/routed", "text/plain", `{"a":1}`, 422, `{"error_code":42210,"message":"Partitioner plugin of topic routed refused the records: hooks: rejected by plugin: no region header"}`},
	} {
		code, body, _ := do(t, "POST", n.base+c.path, c.ct, strings.NewReader(c.body))
		if code != c.status || !strings.Contains(body, c.code) {
			t.Fatalf("%s: %d %s, want %d %s", c.path, code, body, c.status, c.code)
		}
	}
	ends, err := kadm.NewClient(n.client(t)).ListEndOffsets(context.Background(), "plain", "routed")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Fatalf("%s/%d holds %d records after refused requests", o.Topic, o.Partition, o.Offset)
		}
	})
}
