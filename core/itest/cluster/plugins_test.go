package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// TestPluginDeploymentsAreClusterWide: a transform deployed through one
// broker's admin API reaches every broker (through the deployments topic),
// so records produced to partitions led by any broker are transformed; a
// removal through another broker drops it everywhere.
func TestPluginDeploymentsAreClusterWide(t *testing.T) {
	code := buildMaskPII(t)
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	const topic = "contacts"
	adm := clusterAdmin(t, c)
	createTopic(ctx, t, adm, topic, 3, 2, nil)
	resp := adminDo(t, http.MethodPost, c.nodes[0], "/admin/plugins?"+url.Values{
		"name": {"mask"}, "hook": {"transform"}, "topic": {topic},
	}.Encode(), code)
	if resp.code != http.StatusCreated {
		t.Fatalf("deploy through broker 1: %d %s", resp.code, resp.body)
	}
	for _, nd := range c.nodes {
		waitFor(ctx, t, fmt.Sprintf("broker %d to list the deployment", nd.id), func() bool {
			return slices.Equal(listedPlugins(t, nd), []string{"mask/v1/transform/" + topic})
		})
	}

	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]bool{}
	for _, p := range md.Topics[topic].Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) != 3 {
		t.Fatalf("partitions of %s led by brokers %v, want all three", topic, leaders)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := map[int32][]string{}
	for p := int32(0); p < 3; p++ {
		for i := 0; i < 2; i++ {
			in := fmt.Sprintf("p%d-%d mail jane%d@example.com now", p, i, i)
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(in)}).FirstErr(); err != nil {
				t.Fatalf("produce to partition %d: %v", p, err)
			}
			want[p] = append(want[p], fmt.Sprintf("p%d-%d mail ***@example.com now", p, i))
		}
	}
	if got := readPartitions(ctx, t, c, topic, 6); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("consumed %q, want %q", got, want)
	}

	resp = adminDo(t, http.MethodDelete, c.nodes[2], "/admin/plugins/mask", nil)
	if resp.code != http.StatusOK {
		t.Fatalf("remove through broker 3: %d %s", resp.code, resp.body)
	}
	for _, nd := range c.nodes {
		waitFor(ctx, t, fmt.Sprintf("broker %d to drop the deployment", nd.id), func() bool {
			return len(listedPlugins(t, nd)) == 0
		})
	}
	if resp := adminDo(t, http.MethodGet, c.nodes[1], "/admin/plugins/mask", nil); resp.code != http.StatusNotFound {
		t.Fatalf("GET removed plugin on broker 2: %d %s, want 404", resp.code, resp.body)
	}

	// Deleting the topic unbinds a plugin on every broker: the re-created
	// topic stores records unchanged whichever broker leads them.
	resp = adminDo(t, http.MethodPost, c.nodes[1], "/admin/plugins?"+url.Values{
		"name": {"mask"}, "hook": {"transform"}, "topic": {topic},
	}.Encode(), code)
	if resp.code != http.StatusCreated {
		t.Fatalf("redeploy through broker 2: %d %s", resp.code, resp.body)
	}
	for _, nd := range c.nodes {
		waitFor(ctx, t, fmt.Sprintf("broker %d to list the redeployment", nd.id), func() bool {
			return slices.Equal(listedPlugins(t, nd), []string{"mask/v2/transform/" + topic})
		})
	}
	del, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatalf("delete %s: %v", topic, err)
	}
	for _, nd := range c.nodes {
		waitFor(ctx, t, fmt.Sprintf("broker %d to unbind the deleted topic's plugin", nd.id), func() bool {
			return len(listedPlugins(t, nd)) == 0
		})
	}
	waitFor(ctx, t, "the topic to be re-created", func() bool {
		resp, err := adm.CreateTopic(ctx, 3, 2, nil, topic)
		return err == nil && resp.Err == nil
	})
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	want = map[int32][]string{}
	for p := int32(0); p < 3; p++ {
		in := fmt.Sprintf("p%d mail jane@example.com again", p)
		if err := cl2.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(in)}).FirstErr(); err != nil {
			t.Fatalf("produce to re-created partition %d: %v", p, err)
		}
		want[p] = []string{in}
	}
	if got := readPartitions(ctx, t, c, topic, 3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("re-created topic: consumed %q, want %q", got, want)
	}
}

// buildMaskPII builds examples/plugins/mask-pii as a WASI reactor.
func buildMaskPII(t *testing.T) []byte {
	t.Helper()
	zktest.SkipShort(t) // before the build: the cluster it is for needs ZooKeeper
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "mask-pii.wasm")
	if err := wasmtest.GoPlugin(filepath.Join(root, "examples", "plugins", "mask-pii"), out); err != nil {
		t.Fatalf("building mask-pii: %v", err)
	}
	code, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

type adminResponse struct {
	code int
	body []byte
}

func adminDo(t *testing.T, method string, nd *node, path string, body []byte) adminResponse {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+nd.http+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on broker %d: %v", method, path, nd.id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return adminResponse{code: resp.StatusCode, body: b}
}

// listedPlugins is GET /admin/plugins on nd as name/version/hook/topic.
func listedPlugins(t *testing.T, nd *node) []string {
	t.Helper()
	resp := adminDo(t, http.MethodGet, nd, "/admin/plugins", nil)
	if resp.code != http.StatusOK {
		t.Fatalf("list on broker %d: %d %s", nd.id, resp.code, resp.body)
	}
	var list struct {
		Plugins []struct {
			Name    string `json:"name"`
			Version int    `json:"version"`
			Hook    string `json:"hook"`
			Topic   string `json:"topic"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		t.Fatalf("list on broker %d: %v in %s", nd.id, err, resp.body)
	}
	var out []string
	for _, p := range list.Plugins {
		out = append(out, fmt.Sprintf("%s/v%d/%s/%s", p.Name, p.Version, p.Hook, p.Topic))
	}
	return out
}

// readPartitions consumes n records of topic from the start and returns
// their values by partition, in offset order.
func readPartitions(ctx context.Context, t *testing.T, c *testCluster, topic string, n int) map[int32][]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int32][]string{}
	for seen := 0; seen < n; {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", seen, n, ctx.Err())
		}
		fetches.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			seen++
		})
	}
	return got
}
