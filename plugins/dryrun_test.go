package plugins_test

import (
	"bytes"
	"hash/fnv"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/plugins"
)

// dryRunRecords is the known topic of the dry-run tests: partition 0 then
// partition 1, in offset order.
var dryRunRecords = []struct {
	part                   int32
	key, value, tenant, ua string
}{
	{0, "user-1", "hello", "acme", "Mozilla/5.0"},
	{0, "user-2", "mail bob@example.org", "acme", "Googlebot/2.1"},
	{0, "user-3", "x", "other", "curl/8"},
	{0, "user-4", "card 4111 1111 1111 1234", "", "Mozilla/5.0"},
	{1, "t", "trap me", "acme", "Mozilla/5.0"}, // misbehave.wat traps on a batch whose first key is "t"
	{1, "user-5", "ok", "acme", "bingbot"},
	{1, "user-6", "jo@ex.io says hi", "other", "Mozilla/5.0"},
	{1, "user-7", "plain", "acme", "Mozilla/5.0"},
}

func dryRun(t *testing.T, base string, code []byte, params url.Values) plugins.DryRunResult {
	t.Helper()
	resp, err := http.Post(base+"/admin/plugins/dry-run?"+params.Encode(), "application/wasm", bytes.NewReader(code))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("dry run %v: HTTP %d %s", params, resp.StatusCode, buf.Bytes())
	}
	return decode[plugins.DryRunResult](t, buf.Bytes())
}

// TestDryRun runs each hook's example over a known topic through the
// admin API and checks the exact counts.
func TestDryRun(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.createTopic(t, "dry", 2)
	cl := n.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, r := range dryRunRecords {
		rec := &kgo.Record{Topic: "dry", Partition: r.part, Key: []byte(r.key), Value: []byte(r.value),
			Headers: []kgo.RecordHeader{{Key: "user-agent", Value: []byte(r.ua)}}}
		if r.tenant != "" {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "tenant", Value: []byte(r.tenant)})
		}
		if err := produce(t, cl, rec); err != nil {
			t.Fatal(err)
		}
	}
	q := func(kv ...string) url.Values {
		v := url.Values{"topic": {"dry"}}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}

	// mask-pii: three records carry an address or a card number.
	res := dryRun(t, n.http, module(t, "mask-pii"), q("hook", "transform", "show", "3"))
	if res.RecordsIn != 8 || res.Kept != 5 || res.Changed != 3 || res.Dropped != 0 || res.Added != 0 || res.Emitted != 0 || res.Errors != 0 ||
		res.Partitions != 2 || res.Calls != 2 || res.NsPerRecord <= 0 || res.Incomplete {
		t.Fatalf("mask-pii: %+v", res)
	}
	if len(res.Samples) != 3 || res.Samples[0].Result != "kept" || res.Samples[1].Result != "changed" ||
		*res.Samples[1].After.Value != "mail ***@example.org" || *res.Samples[1].Before.Value != "mail bob@example.org" ||
		res.Samples[1].Offset != 1 || res.Samples[2].Result != "kept" {
		t.Fatalf("mask-pii samples: %+v", res.Samples)
	}

	// drop-bots: Googlebot and bingbot.
	res = dryRun(t, n.http, module(t, "drop-bots"), q("hook", "transform"))
	if res.RecordsIn != 8 || res.Kept != 6 || res.Dropped != 2 || res.Changed != 0 || res.Errors != 0 {
		t.Fatalf("drop-bots: %+v", res)
	}

	// tenant-filter as User:acme: the five acme records, untagged hidden
	// (and shown with show_untagged=true).
	res = dryRun(t, n.http, module(t, "tenant-filter"), q("hook", "filter", "principal", "User:acme"))
	if res.RecordsIn != 8 || res.Kept != 5 || res.Dropped != 3 || res.Changed != 0 || res.Errors != 0 {
		t.Fatalf("tenant-filter: %+v", res)
	}
	res = dryRun(t, n.http, module(t, "tenant-filter"), q("hook", "filter", "principal", "User:acme", "config", "show_untagged=true"))
	if res.Kept != 6 || res.Dropped != 2 {
		t.Fatalf("tenant-filter show_untagged: %+v", res)
	}

	// wat-partitioner: fnv1a32(key) mod 4, computed here independently.
	res = dryRun(t, n.http, module(t, "wat-partitioner"), q("hook", "partitioner", "partitions", "4"))
	want, moved := make([]int, 4), 0
	for _, r := range dryRunRecords {
		h := fnv.New32a()
		h.Write([]byte(r.key))
		p := int32(h.Sum32() % 4)
		want[p]++
		if p != r.part {
			moved++
		}
	}
	if res.RecordsIn != 8 || res.Partitions != 4 || !reflect.DeepEqual(res.PartitionHistogram, want) || res.Moved != moved || res.Errors != 0 {
		t.Fatalf("wat-partitioner: %+v, want histogram %v moved %d", res, want, moved)
	}

	// Errors: the batch of partition 1 fails, is rerun record by record,
	// and only the trapping record counts.
	res = dryRun(t, n.http, module(t, "misbehave"), q("hook", "transform"))
	if res.RecordsIn != 8 || res.Errors != 1 || res.Kept != 7 || len(res.FirstErrors) != 1 ||
		res.FirstErrors[0].Partition != 1 || res.FirstErrors[0].Offset != 0 {
		t.Fatalf("misbehave: %+v", res)
	}

	// Bounds: --limit reads partition 0 first; latest reads each
	// partition's last records.
	res = dryRun(t, n.http, module(t, "mask-pii"), q("hook", "transform", "limit", "5"))
	if res.RecordsIn != 5 || res.Changed != 2 || res.Kept != 3 {
		t.Fatalf("limit 5: %+v", res)
	}
	res = dryRun(t, n.http, module(t, "mask-pii"), q("hook", "transform", "limit", "2", "from", "latest", "show", "2"))
	if res.RecordsIn != 2 || res.Changed != 1 || res.Kept != 1 || len(res.Samples) != 2 || res.Samples[0].Offset != 3 || res.Samples[1].Offset != 3 {
		t.Fatalf("latest 2: %+v", res)
	}
	res = dryRun(t, n.http, module(t, "mask-pii"), q("hook", "transform", "from", "4102444800000")) // 2100-01-01
	if res.RecordsIn != 0 {
		t.Fatalf("from the future: %+v", res)
	}

	// Refusals: unknown topic, bad parameters, wrong export.
	for _, tc := range []struct {
		params url.Values
		code   []byte
		status int
	}{
		{q("hook", "transform", "topic", "nope"), module(t, "mask-pii"), http.StatusNotFound},
		{q("hook", "transform", "limit", "100001"), module(t, "mask-pii"), http.StatusBadRequest},
		{q("hook", "transform", "from", "yesterday"), module(t, "mask-pii"), http.StatusBadRequest},
		{q("hook", "filter"), module(t, "wat-partitioner"), http.StatusBadRequest},
	} {
		if tc.params.Has("topic") && len(tc.params["topic"]) > 1 {
			tc.params.Set("topic", tc.params["topic"][1])
		}
		resp, err := http.Post(n.http+"/admin/plugins/dry-run?"+tc.params.Encode(), "application/wasm", bytes.NewReader(tc.code))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%v: HTTP %d, want %d", tc.params, resp.StatusCode, tc.status)
		}
	}
}

// TestDryRunNeedsKafka: a registry without its broker (no StartSync)
// answers 503, not a dry run over nothing.
func TestDryRunNeedsKafka(t *testing.T) {
	t.Parallel()
	base := adminServer(t, openRegistry(t, t.TempDir()))
	resp, err := http.Post(base+"/admin/plugins/dry-run?hook=transform&topic=x", "application/wasm", bytes.NewReader(module(t, "mask-pii")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("HTTP %d, want 503", resp.StatusCode)
	}
}
