package conformance_test

import (
	"context"
	"io"
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

	"github.com/sluicemq/sluice/internal/testkit"
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

	n := testkit.StartNode(t, testkit.WithSmallOffsetsTopic())
	cl := n.Client(t, kgo.ProducerLinger(0))
	tctx, tcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer tcancel()
	adm := kadm.NewClient(cl)
	n.CreateTopic(t, "beacons", 7)
	n.CreateTopic(t, "tenants", 1)
	n.Deploy(t, "keyhash-rust", "partitioner", "beacons", keyhash)
	n.Deploy(t, "tenant-rust", "filter", "tenants", filter, "show_untagged=true")

	// Beacons carry no partition: the partitioner places each one.
	keys := []string{"alice", "bob", "carol", "dave", "erin", "frank", ""}
	want := map[string]int32{}
	for _, k := range keys {
		u := n.HTTPBase + "/beacon/beacons"
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
	got := map[string]int32{}
	recs := n.Consume(t, tctx, "beacons", len(keys))
	for _, r := range recs {
		got[string(r.Value)] = r.Partition
	}
	if len(recs) != len(keys) || !reflect.DeepEqual(got, want) {
		t.Fatalf("beacon partitions (%d records) %v, want %v", len(recs), got, want)
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
	var seen []string
	for _, r := range n.Consume(t, tctx, "tenants", 3) {
		seen = append(seen, string(r.Value)+"@"+strconv.FormatInt(r.Offset, 10))
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
