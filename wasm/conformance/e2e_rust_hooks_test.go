package conformance_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/broker"
	"github.com/sluicemq/sluice/core/node"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// TestE2ERustPartitionerAndFilter deploys the Rust keyhash partitioner on
// a topic fed by beacons and the Rust tenant filter on a topic read by a
// Kafka consumer: every keyed beacon lands where Kafka's default
// partitioner would put its key, an unkeyed one where the empty key hashes
// to, and an anonymous reader sees exactly the untagged records
// (show_untagged=true), tagged ones hidden, offsets kept.
func TestE2ERustPartitionerAndFilter(t *testing.T) {
	if !plugbuild.RustAvailable() && testing.Short() {
		t.Skip(plugbuild.ErrNoRust)
	}
	read := func(example string) []byte {
		path, err := plugbuild.RustPlugin("examples/plugins-rust", example)
		if err != nil {
			t.Fatal(err)
		}
		code, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	keyhash, filter := read("keyhash-partitioner"), read("filter")

	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan node.Addrs, 1)
	done := make(chan error, 1)
	cfg := broker.Config{DataDir: t.TempDir(), KafkaAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { done <- node.RunWith(ctx, cfg, node.Options{}, func(a node.Addrs) { addrs <- a }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	var a node.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("node did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("node did not start in 30s")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	adm := kadm.NewClient(cl)
	for topic, parts := range map[string]int32{"beacons": 7, "tenants": 1} {
		resp, err := adm.CreateTopics(tctx, parts, 1, nil, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	deploy := func(name, hook, topic string, code []byte, config ...string) {
		t.Helper()
		q := url.Values{"name": {name}, "hook": {hook}, "topic": {topic}, "config": config}
		resp, err := http.Post("http://"+a.HTTP+"/admin/plugins?"+q.Encode(), "application/wasm", bytes.NewReader(code))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("deploy %s: %d %s", name, resp.StatusCode, body)
		}
	}
	deploy("keyhash-rust", "partitioner", "beacons", keyhash)
	deploy("tenant-rust", "filter", "tenants", filter, "show_untagged=true")

	// Beacons carry no partition: the partitioner places each one.
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", ""}
	want := map[string]int32{}
	for _, k := range keys {
		u := "http://" + a.HTTP + "/beacon/beacons"
		if k != "" {
			u += "?key=" + url.QueryEscape(k)
		}
		resp, err := http.Post(u, "text/plain", strings.NewReader("v-"+k))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("beacon %q: %d %s", k, resp.StatusCode, body)
		}
		// An unkeyed record hashes as the empty key (the example's rule).
		want["v-"+k] = int32(kafkaDefault.Partition(&kgo.Record{Key: []byte(k)}, 7))
	}
	bc, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka), kgo.ConsumeTopics("beacons"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	got := map[string]int32{}
	n := 0
	for n < len(keys) && tctx.Err() == nil {
		bc.PollFetches(tctx).EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.Partition; n++ })
	}
	if n != len(keys) || !reflect.DeepEqual(got, want) {
		t.Fatalf("beacon partitions (%d records) %v, want %v", n, got, want)
	}

	// The filter runs on fetch: an anonymous reader sees untagged records
	// only, at their own offsets.
	h := func(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }
	in := []*kgo.Record{
		{Topic: "tenants", Value: []byte("untagged-0")},
		{Topic: "tenants", Value: []byte("acme-1"), Headers: []kgo.RecordHeader{h("tenant", "acme")}},
		{Topic: "tenants", Value: []byte("untagged-2")},
		{Topic: "tenants", Value: []byte("globex-3"), Headers: []kgo.RecordHeader{h("tenant", "globex")}},
		{Topic: "tenants", Value: []byte("untagged-4"), Headers: []kgo.RecordHeader{h("other", "x")}},
	}
	if err := cl.ProduceSync(tctx, in...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tc, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka), kgo.ConsumeTopics("tenants"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	var seen []string
	for len(seen) < 3 && tctx.Err() == nil {
		fs := tc.PollFetches(tctx)
		if err := fs.Err(); err != nil && tctx.Err() == nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen = append(seen, string(r.Value)+"@"+strconv.FormatInt(r.Offset, 10)) })
	}
	wantSeen := []string{"untagged-0@0", "untagged-2@2", "untagged-4@4"}
	if !reflect.DeepEqual(seen, wantSeen) {
		t.Fatalf("filtered fetch %v, want %v", seen, wantSeen)
	}
	// Nothing beyond: the log end is 5 and the hidden records never show.
	end, err := adm.ListEndOffsets(tctx, "tenants")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("tenants", 0); o.Offset != 5 {
		t.Fatalf("end offset %d, want 5", o.Offset)
	}
}
