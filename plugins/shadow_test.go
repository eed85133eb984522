package plugins_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// metricValue reads a counter of this process's default registry.
func metricValue(t *testing.T, name, plugin string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "plugin" && l.GetValue() == plugin {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func recs(kv ...string) []hooks.Record {
	var out []hooks.Record
	for i := 0; i < len(kv); i += 2 {
		out = append(out, hooks.Record{Key: []byte(kv[i]), Value: []byte(kv[i+1]), Offset: -1})
	}
	return out
}

func status(t *testing.T, reg *plugins.Registry, name string) plugins.PluginStatus {
	t.Helper()
	for _, s := range reg.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no plugin %q", name)
	return plugins.PluginStatus{}
}

// TestShadowDivergencePromoteRollback: a shadow's divergence counted
// exactly on a crafted stream, invisible to the caller; promote; restart
// keeps the state; an automatic rollback after injected errors.
func TestShadowDivergencePromoteRollback(t *testing.T) {
	ctx := context.Background()
	dataDir := t.TempDir()
	reg := openRegistry(t, dataDir)
	const name = "shadowed"
	if _, err := reg.Deploy(ctx, plugins.DeployRequest{Name: name, Hook: wasm.HookTransform, Topic: "logs", Wasm: module(t, "mask-pii")}); err != nil {
		t.Fatal(err)
	}
	// misbehave.wat keeps every record (first key not special) and traps
	// on a batch whose first key is "t": as the shadow of mask-pii it
	// differs exactly on the records mask-pii masks.
	dep, err := reg.Deploy(ctx, plugins.DeployRequest{Name: name, Hook: wasm.HookTransform, Topic: "logs", Wasm: module(t, "misbehave"), Shadow: true})
	if err != nil || dep.Version != 2 {
		t.Fatalf("shadow deploy: %+v %v", dep, err)
	}
	if _, err := reg.Deploy(ctx, plugins.DeployRequest{Name: "other", Hook: wasm.HookTransform, Topic: "elsewhere", Wasm: module(t, "misbehave"), Shadow: true}); err == nil {
		t.Fatal("a shadow without a live version was accepted")
	}
	if _, err := reg.Deploy(ctx, plugins.DeployRequest{Name: name, Hook: wasm.HookFilter, Topic: "logs", Wasm: module(t, "tenant-filter"), Shadow: true}); err == nil {
		t.Fatal("a shadow with another hook was accepted")
	}
	if got, _ := reg.Get(name); got.Version != 1 {
		t.Fatalf("live version %d after a shadow deploy, want 1", got.Version)
	}

	tr := reg.Transform("logs")
	batches := []struct {
		in         []hooks.Record
		wantValues []string // the live (mask-pii) answer
	}{
		{recs("a", "mail bob@example.org", "b", "plain", "c", "more"), []string{"mail ***@example.org", "plain", "more"}},
		{recs("d", "nothing", "e", "here"), []string{"nothing", "here"}},
		{recs("f", "card 4111 1111 1111 1234", "g", "x jo@ex.io"), []string{"card **** **** **** 1234", "x ***@ex.io"}},
		{recs("t", "shadow traps", "h", "a@b.cd"), []string{"shadow traps", "***@b.cd"}},
	}
	for i, b := range batches {
		out, emits, err := tr.Apply(ctx, "logs", 0, b.in)
		if err != nil || len(emits) != 0 || len(out) != len(b.wantValues) {
			t.Fatalf("batch %d: %v %v %v", i, out, emits, err)
		}
		for j, v := range b.wantValues {
			if string(out[j].Value) != v {
				t.Fatalf("batch %d record %d: %q, want the live answer %q", i, j, out[j].Value, v)
			}
		}
	}
	st := status(t, reg, name)
	sh := st.Shadow
	if sh == nil || sh.Version != 2 || sh.Stats.Calls != 4 || sh.Stats.Records != 9 || sh.Stats.Compared != 3 ||
		sh.Stats.DivergentCalls != 2 || sh.Stats.DivergentRecords != 3 || sh.Stats.Errors != 1 {
		t.Fatalf("shadow status %+v", sh)
	}
	if st.Stats.Calls != 4 || st.Stats.Records != 9 || st.Stats.Errors != 0 || st.Stats.NsPerRecord <= 0 {
		t.Fatalf("live stats %+v", st.Stats)
	}
	if v := metricValue(t, "sluice_plugin_shadow_divergent_records_total", name); v != 3 {
		t.Fatalf("divergent records metric %v, want 3", v)
	}
	if v := metricValue(t, "sluice_plugin_shadow_errors_total", name); v != 1 {
		t.Fatalf("shadow errors metric %v, want 1", v)
	}

	// The shadow survives a restart.
	reg.Close()
	reg = openRegistry(t, dataDir)
	if st := status(t, reg, name); st.Version != 1 || st.Shadow == nil || st.Shadow.Version != 2 {
		t.Fatalf("after restart: %+v", st)
	}

	// Promote: misbehave is live, mask-pii the previous version.
	dep, err = reg.Promote(ctx, name)
	if err != nil || dep.Version != 2 {
		t.Fatalf("promote: %+v %v", dep, err)
	}
	st = status(t, reg, name)
	if st.Version != 2 || st.Shadow != nil || st.PreviousVersion != 1 {
		t.Fatalf("after promote: %+v", st)
	}
	if _, err := reg.Promote(ctx, name); err == nil {
		t.Fatal("promote without a shadow succeeded")
	}
	tr = reg.Transform("logs")
	if out, _, err := tr.Apply(ctx, "logs", 0, recs("a", "mail bob@example.org")); err != nil || string(out[0].Value) != "mail bob@example.org" {
		t.Fatalf("promoted version: %v %v", out, err)
	}

	// Injected errors: the promoted version's one good call above and 19
	// failing ones fill its window of 20 with more than half failed (the
	// default threshold), so the 19th failing call starts the rollback,
	// which restores mask-pii as version 3. (The rollback runs on its own
	// goroutine: once module compilation was cached it could finish
	// before a 20th call, so the test stops at the 19th.)
	for i := 1; i <= 19; i++ {
		if i == 19 {
			if got, _ := reg.Get(name); got.Version != 2 {
				t.Fatalf("rolled back after %d failing calls: %+v", i-1, got)
			}
		}
		if _, _, err := tr.Apply(ctx, "logs", 0, recs("t", "trap")); err == nil {
			t.Fatal("misbehave did not fail")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := reg.Get(name)
		if got.Version == 3 {
			if got.RollbackOf != 2 || got.SHA256 != status(t, reg, name).SHA256 {
				t.Fatalf("rollback deployment %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, _, err := reg.Transform("logs").Apply(ctx, "logs", 0, recs("a", "mail bob@example.org")); err != nil || string(out[0].Value) != "mail ***@example.org" {
		t.Fatalf("rolled back version: %v %v", out, err)
	}
	if v := metricValue(t, "sluice_plugin_rollbacks_total", name); v != 1 {
		t.Fatalf("rollbacks metric %v, want 1", v)
	}
	if st := status(t, reg, name); st.PreviousVersion != 0 || st.Stats.Calls != 1 {
		t.Fatalf("after rollback: %+v", st)
	}
	if _, err := reg.Rollback(ctx, name, 0); err == nil {
		t.Fatal("a rollback without a previous version succeeded")
	}
}

// TestShadowPromoteRollbackClusterWide drives the same through the admin
// API of a node, so shadow, promote and rollback travel through the
// deployments topic.
func TestShadowPromoteRollbackClusterWide(t *testing.T) {
	n := startNode(t)
	n.createTopic(t, "cwlogs", 1)
	n.deploy(t, "cw", "transform", "cwlogs", "mask-pii")
	code, body := deployRaw(t, n.http, "cw", "transform", "cwlogs", module(t, "drop-bots"), "patterns=bot")
	if code != http.StatusCreated {
		t.Fatalf("plain redeploy: %d %s", code, body)
	}
	q := "?name=cw&hook=transform&topic=cwlogs&shadow=true"
	code, body = deployRawQuery(t, n.http, q, module(t, "mask-pii"))
	if code != http.StatusCreated || decode[plugins.Deployment](t, body).Version != 3 {
		t.Fatalf("shadow deploy: %d %s", code, body)
	}
	list := func() plugins.PluginStatus {
		code, body := call(t, http.MethodGet, n.http+"/admin/plugins")
		l := decode[plugins.ListResponse](t, body)
		if code != http.StatusOK || len(l.Plugins) != 1 {
			t.Fatalf("list: %d %s", code, body)
		}
		return l.Plugins[0]
	}
	if p := list(); p.Version != 2 || p.Shadow == nil || p.Shadow.Version != 3 || p.PreviousVersion != 1 {
		t.Fatalf("after shadow deploy: %+v", p)
	}
	// One produce: drop-bots keeps the record, the mask-pii shadow
	// rewrites it; the stats and /metrics show one divergent record.
	if err := produce(t, n.client(t), &kgo.Record{Topic: "cwlogs", Key: []byte("k"), Value: []byte("mail bob@example.org")}); err != nil {
		t.Fatal(err)
	}
	if p := list(); p.Stats.Calls != 1 || p.Stats.Records != 1 || p.Shadow.Stats.Compared != 1 || p.Shadow.Stats.DivergentRecords != 1 {
		t.Fatalf("after one produce: %+v", p)
	}
	code, body = call(t, http.MethodGet, n.http+"/metrics")
	for _, want := range []string{
		`sluice_plugin_shadow_divergent_records_total{plugin="cw"} 1`,
		`sluice_plugin_shadow_calls_total{plugin="cw"} 1`,
		`sluice_plugin_ns_per_record_count{plugin="cw",role="live"} 1`,
		`sluice_plugin_ns_per_record_count{plugin="cw",role="shadow"} 1`,
	} {
		if code != http.StatusOK || !bytes.Contains(body, []byte(want+"\n")) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
	code, body = call(t, http.MethodPost, n.http+"/admin/plugins/cw/promote")
	if code != http.StatusOK || decode[plugins.Deployment](t, body).Version != 3 {
		t.Fatalf("promote: %d %s", code, body)
	}
	if p := list(); p.Version != 3 || p.Shadow != nil || p.PreviousVersion != 2 {
		t.Fatalf("after promote: %+v", p)
	}
	code, body = call(t, http.MethodPost, n.http+"/admin/plugins/cw/rollback")
	if d := decode[plugins.Deployment](t, body); code != http.StatusOK || d.Version != 4 || d.RollbackOf != 3 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	// The previous version is now 1: 3 was rolled back from and 2 is the
	// module live again.
	if p := list(); p.Version != 4 || p.Config["patterns"] != "bot" || p.PreviousVersion != 1 {
		t.Fatalf("after rollback: %+v", p)
	}
	code, body = deployRawQuery(t, n.http, q, module(t, "mask-pii"))
	if code != http.StatusCreated {
		t.Fatalf("second shadow: %d %s", code, body)
	}
	if code, body = call(t, http.MethodDelete, n.http+"/admin/plugins/cw/shadow"); code != http.StatusOK {
		t.Fatalf("remove shadow: %d %s", code, body)
	}
	if p := list(); p.Version != 4 || p.Shadow != nil {
		t.Fatalf("after shadow removal: %+v", p)
	}
}

// deployRawQuery deploys code with a ready query string.
func deployRawQuery(t *testing.T, base, query string, code []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(base+"/admin/plugins"+query, "application/wasm", bytes.NewReader(code))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// TestShadowEvery: a sampled shadow runs on one live call in N (the
// first, then every Nth).
func TestShadowEvery(t *testing.T) {
	ctx := context.Background()
	reg := openRegistry(t, t.TempDir())
	const name = "sampled"
	for _, req := range []plugins.DeployRequest{
		{Name: name, Hook: wasm.HookTransform, Topic: "s", Wasm: module(t, "mask-pii")},
		{Name: name, Hook: wasm.HookTransform, Topic: "s", Wasm: module(t, "misbehave"), Shadow: true, ShadowEvery: 3},
	} {
		if _, err := reg.Deploy(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	for range 7 {
		if _, _, err := reg.Transform("s").Apply(ctx, "s", 0, recs("a", "to a@b.cd")); err != nil {
			t.Fatal(err)
		}
	}
	st := status(t, reg, name)
	if st.Stats.Calls != 7 || st.Shadow.ShadowEvery != 3 || st.Shadow.Stats.Calls != 3 || st.Shadow.Stats.DivergentRecords != 3 {
		t.Fatalf("sampled shadow: %+v / %+v", st.Stats, st.Shadow)
	}
}
