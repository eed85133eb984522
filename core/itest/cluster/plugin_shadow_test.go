package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// pluginStatus is GET /admin/plugins/ on nd for one plugin.
func pluginStatus(t *testing.T, nd *node, name string) (plugins.PluginStatus, bool) {
	t.Helper()
	resp := adminDo(t, http.MethodGet, nd, "/admin/plugins", nil)
	var list plugins.ListResponse
	if resp.code != http.StatusOK || json.Unmarshal(resp.body, &list) != nil {
		t.Fatalf("list on broker %d: %d %s", nd.id, resp.code, resp.body)
	}
	for _, p := range list.Plugins {
		if p.Name == name {
			return p, true
		}
	}
	return plugins.PluginStatus{}, false
}

// TestPluginShadowPromoteRollbackClusterWide: a shadow deployed through
// one broker runs on every broker, its divergence (summed over the
// brokers that led the produced partitions) is exact; a promote through
// another broker and the automatic rollback that the broker seeing the
// errors publishes reach every broker in the same state.
func TestPluginShadowPromoteRollbackClusterWide(t *testing.T) {
	mask := buildMaskPII(t)
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	watPath := filepath.Join(t.TempDir(), "misbehave.wasm")
	if err := wasmtest.WAT(filepath.Join(root, "wasm", "testdata", "misbehave.wat"), watPath); err != nil {
		t.Fatal(err)
	}
	misbehave, err := os.ReadFile(watPath)
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "shadowed"
	adm := clusterAdmin(t, c)
	createTopic(ctx, t, adm, topic, 3, 2, nil)

	deploy := func(nd *node, code []byte, extra ...string) plugins.Deployment {
		q := url.Values{"name": {"sh"}, "hook": {"transform"}, "topic": {topic}}
		for i := 0; i < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		resp := adminDo(t, http.MethodPost, nd, "/admin/plugins?"+q.Encode(), code)
		if resp.code != http.StatusCreated {
			t.Fatalf("deploy %v through broker %d: %d %s", q, nd.id, resp.code, resp.body)
		}
		var d plugins.Deployment
		json.Unmarshal(resp.body, &d)
		return d
	}
	waitAll := func(what string, ok func(p plugins.PluginStatus) bool) {
		for _, nd := range c.nodes {
			waitFor(ctx, t, fmt.Sprintf("broker %d: %s", nd.id, what), func() bool {
				p, found := pluginStatus(t, nd, "sh")
				return found && ok(p)
			})
		}
	}
	deploy(c.nodes[0], mask)
	if d := deploy(c.nodes[1], misbehave, "shadow", "true"); d.Version != 2 {
		t.Fatalf("shadow deployment %+v", d)
	}
	waitAll("live v1 with shadow v2", func(p plugins.PluginStatus) bool {
		return p.Version == 1 && p.Shadow != nil && p.Shadow.Version == 2
	})

	// One masked and one plain record per partition, each its own produce:
	// misbehave (keep all) differs from mask-pii on the masked ones only.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for p := int32(0); p < 3; p++ {
		for _, v := range []string{"mail jane@example.com", "plain"} {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce to %d: %v", p, err)
			}
		}
	}
	var calls, compared, divCalls, divRecords uint64
	for _, nd := range c.nodes {
		p, _ := pluginStatus(t, nd, "sh")
		st := p.Shadow.Stats
		calls, compared, divCalls, divRecords = calls+st.Calls, compared+st.Compared, divCalls+st.DivergentCalls, divRecords+st.DivergentRecords
	}
	if calls != 6 || compared != 6 || divCalls != 3 || divRecords != 3 {
		t.Fatalf("shadow over the cluster: calls %d compared %d divergent calls %d records %d, want 6 6 3 3", calls, compared, divCalls, divRecords)
	}

	// Promote through the third broker.
	if resp := adminDo(t, http.MethodPost, c.nodes[2], "/admin/plugins/sh/promote", nil); resp.code != http.StatusOK {
		t.Fatalf("promote: %d %s", resp.code, resp.body)
	}
	waitAll("live v2, previous v1, no shadow", func(p plugins.PluginStatus) bool {
		return p.Version == 2 && p.Shadow == nil && p.PreviousVersion == 1
	})

	// Injected errors on partition 0: its leader rolls back to mask-pii
	// after 20 failing calls and every broker follows.
	for i := 0; i < 20; i++ {
		err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Key: []byte("t"), Value: []byte("trap")}).FirstErr()
		if !errors.Is(err, kerr.PolicyViolation) {
			t.Fatalf("produce %d with the failing version: %v, want POLICY_VIOLATION", i, err)
		}
	}
	waitAll("the rollback to v3", func(p plugins.PluginStatus) bool {
		return p.Version == 3 && p.RollbackOf == 2 && p.PreviousVersion == 0
	})
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Key: []byte("k"), Value: []byte("again bob@example.org")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := readPartitions(ctx, t, c, topic, 7)
	if v := got[1]; len(v) != 3 || v[2] != "again ***@example.org" {
		t.Fatalf("partition 1 after the rollback: %q", v)
	}
}
