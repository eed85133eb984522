package plugins_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

// TestDeployToMissingTopicRefused: a deploy naming a topic that does not
// exist is a 400 that names the topic and the fix; nothing is deployed.
func TestDeployToMissingTopicRefused(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	code, body := deployRaw(t, n.http, "early", "transform", "not-yet", module(t, "mask-pii"))
	want := `{"error":"plugins: invalid deploy request: unknown topic \"not-yet\": create it first: sluice topic create not-yet"}` + "\n"
	if code != http.StatusBadRequest || string(body) != want {
		t.Fatalf("deploy to a missing topic: %d %s, want 400 %s", code, body, want)
	}
	if code, body := call(t, http.MethodGet, n.http+"/admin/plugins"); code != http.StatusOK || len(decode[plugins.ListResponse](t, body).Plugins) != 0 {
		t.Fatalf("list after a refused deploy: %d %s", code, body)
	}
	n.createTopic(t, "not-yet", 1)
	if code, body := deployRaw(t, n.http, "early", "transform", "not-yet", module(t, "mask-pii")); code != http.StatusCreated {
		t.Fatalf("deploy once the topic exists: %d %s", code, body)
	}
}

// scrape returns the /metrics lines about plugin name.
func scrape(t *testing.T, n *testNode, name string) []string {
	t.Helper()
	code, body := call(t, http.MethodGet, n.http+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, `plugin="`+name+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestTopicDeletionUnbindsPlugins: deleting a topic (kadm DeleteTopics)
// removes its transform; the re-created topic stores records unchanged.
// The removed plugin's metrics stay for exactly one scrape.
func TestTopicDeletionUnbindsPlugins(t *testing.T) {
	n := startNode(t)
	n.createTopic(t, "doomed", 1)
	n.createTopic(t, "kept", 1)
	n.deploy(t, "doomed-mask", "transform", "doomed", "mask-pii")
	n.deploy(t, "kept-mask", "transform", "kept", "mask-pii")
	cl := n.client(t)
	if err := produce(t, cl, &kgo.Record{Topic: "doomed", Value: []byte("mail bob@example.org")}); err != nil {
		t.Fatal(err)
	}
	if got := values(consumeAll(t, n, "doomed", "c1", 1)); !slices.Equal(got, []string{"mail ***@example.org"}) {
		t.Fatalf("before deletion: %q", got)
	}

	adm := kadm.NewClient(cl)
	resp, err := adm.DeleteTopics(testCtx(t), "doomed")
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	// Unbound before DeleteTopics answered.
	code, body := call(t, http.MethodGet, n.http+"/admin/plugins")
	var names []string
	for _, p := range decode[plugins.ListResponse](t, body).Plugins {
		names = append(names, p.Name+"@"+p.Topic)
	}
	if code != http.StatusOK || !slices.Equal(names, []string{"kept-mask@kept"}) {
		t.Fatalf("plugins after the topic deletion: %d %v", code, names)
	}
	if code, body := call(t, http.MethodGet, n.http+"/admin/plugins/doomed-mask/versions"); code != http.StatusNotFound {
		t.Fatalf("versions of the unbound plugin: %d %s", code, body)
	}

	// Its call metrics stay for the next scrape, then go.
	first := scrape(t, n, "doomed-mask")
	if !slices.Contains(first, `sluice_plugin_calls_total{hook="transform",plugin="doomed-mask"} 1`) ||
		!slices.Contains(first, `sluice_plugin_records_total{hook="transform",plugin="doomed-mask"} 1`) {
		t.Fatalf("first scrape after removal:\n%s", strings.Join(first, "\n"))
	}
	if again := scrape(t, n, "doomed-mask"); len(again) != 0 {
		t.Fatalf("second scrape after removal still has:\n%s", strings.Join(again, "\n"))
	}
	if kept := scrape(t, n, "kept-mask"); len(kept) == 0 {
		t.Fatal("the other plugin's series went too")
	}

	n.createTopic(t, "doomed", 1)
	if err := produce(t, cl, &kgo.Record{Topic: "doomed", Value: []byte("mail bob@example.org")}); err != nil {
		t.Fatal(err)
	}
	if got := values(consumeAll(t, n, "doomed", "c2", 1)); !slices.Equal(got, []string{"mail bob@example.org"}) {
		t.Fatalf("re-created topic: %q, want the record unchanged", got)
	}
}

// TestRollbackRestoresEarlierVersions: v1 masks, v2 drops bots; a
// rollback makes v1's module live again (as v3), a rollback to 2 v2's
// (as v4); the versions list is exact at each step.
func TestRollbackRestoresEarlierVersions(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	n.createTopic(t, "rb", 1)
	cl := n.client(t)
	batch := func() {
		t.Helper()
		if err := produce(t, cl,
			&kgo.Record{Topic: "rb", Value: []byte("mail bob@example.org"), Headers: []kgo.RecordHeader{{Key: "user-agent", Value: []byte("Googlebot/2.1")}}},
			&kgo.Record{Topic: "rb", Value: []byte("mail jo@ex.io")},
		); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		version, restores, rollbackOf int
		example                       string
		live                          bool
	}
	versions := func(previous int, want ...row) {
		t.Helper()
		code, body := call(t, http.MethodGet, n.http+"/admin/plugins/rb/versions")
		v := decode[plugins.VersionsResponse](t, body)
		ok := code == http.StatusOK && v.Name == "rb" && v.Previous == previous && len(v.Versions) == len(want)
		for i := 0; ok && i < len(want); i++ {
			g, w := v.Versions[i], want[i]
			ok = g.Version == w.version && g.Restores == w.restores && g.RollbackOf == w.rollbackOf && g.Live == w.live &&
				g.SHA256 == sha(module(t, w.example)) && g.Size == len(module(t, w.example)) && !g.DeployedAt.IsZero() && g.Topic == "rb"
		}
		if !ok {
			t.Fatalf("versions: %d %s\nwant previous %d, %+v", code, body, previous, want)
		}
	}

	n.deploy(t, "rb", "transform", "rb", "mask-pii")
	batch()
	versions(0, row{1, 0, 0, "mask-pii", true})
	n.deploy(t, "rb", "transform", "rb", "drop-bots")
	batch()
	versions(1, row{2, 0, 0, "drop-bots", true}, row{1, 0, 0, "mask-pii", false})

	code, body := call(t, http.MethodPost, n.http+"/admin/plugins/rb/rollback")
	if d := decode[plugins.Deployment](t, body); code != http.StatusOK || d.Version != 3 || d.Restores != 1 || d.RollbackOf != 2 {
		t.Fatalf("rollback: %d %s", code, body)
	}
	batch()
	// 2 was rolled back from and 1 is the module live again: no default
	// rollback target is left, but 2 can be named.
	versions(0, row{3, 1, 2, "mask-pii", true}, row{2, 0, 0, "drop-bots", false}, row{1, 0, 0, "mask-pii", false})
	if code, body := call(t, http.MethodPost, n.http+"/admin/plugins/rb/rollback"); code != http.StatusNotFound ||
		!strings.Contains(string(body), "no previous version to roll back to") {
		t.Fatalf("rollback without a target: %d %s", code, body)
	}
	code, body = call(t, http.MethodPost, n.http+"/admin/plugins/rb/rollback?version=2")
	if d := decode[plugins.Deployment](t, body); code != http.StatusOK || d.Version != 4 || d.Restores != 2 || d.RollbackOf != 3 {
		t.Fatalf("rollback to 2: %d %s", code, body)
	}
	batch()
	versions(1, row{4, 2, 3, "drop-bots", true}, row{3, 1, 2, "mask-pii", false}, row{2, 0, 0, "drop-bots", false}, row{1, 0, 0, "mask-pii", false})
	for _, q := range []string{"version=4", "version=x"} {
		if code, body := call(t, http.MethodPost, n.http+"/admin/plugins/rb/rollback?"+q); code != http.StatusBadRequest {
			t.Fatalf("rollback ?%s: %d %s", q, code, body)
		}
	}

	got := values(consumeAll(t, n, "rb", "rb", 6))
	want := []string{
		"mail ***@example.org", "mail ***@ex.io", // v1
		"mail jo@ex.io",                          // v2 dropped the bot
		"mail ***@example.org", "mail ***@ex.io", // v3 = v1
		"mail jo@ex.io", // v4 = v2
	}
	if !slices.Equal(got, want) {
		t.Fatalf("stored %q\nwant %q", got, want)
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestHistoryPrunedToKeepVersions: of 6 deploys with keep 3, versions 4
// to 6 are listed and on disk; keep 2 prunes 4; a restart keeps the
// history; removing the plugin (its topic deleted) deletes every file.
func TestHistoryPrunedToKeepVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dataDir := t.TempDir()
	reg := openRegistry(t, dataDir)
	if err := reg.SetKeepVersions(3); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetKeepVersions(0); err == nil {
		t.Fatal("keep 0 versions accepted")
	}
	for i := range 6 {
		ex := []string{"mask-pii", "drop-bots"}[i%2]
		if _, err := reg.Deploy(ctx, plugins.DeployRequest{Name: "h", Hook: wasm.HookTransform, Topic: "logs", Wasm: module(t, ex)}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(reg *plugins.Registry, want ...int) {
		t.Helper()
		v, err := reg.Versions("h")
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, d := range v.Versions {
			got = append(got, d.Version)
		}
		if !slices.Equal(got, want) || !v.Versions[0].Live {
			t.Fatalf("versions %v, want %v", got, want)
		}
		var files, wantFiles []string
		entries, _ := os.ReadDir(filepath.Join(dataDir, "plugins", "modules"))
		for _, e := range entries {
			files = append(files, e.Name())
		}
		for _, v := range want {
			wantFiles = append(wantFiles, "h-v"+strconv.Itoa(v)+".wasm")
		}
		slices.Sort(wantFiles)
		if !slices.Equal(files, wantFiles) {
			t.Fatalf("module files %v, want %v", files, wantFiles)
		}
	}
	check(reg, 6, 5, 4)
	if _, err := reg.RollbackTo(ctx, "h", 3); err == nil || !strings.Contains(err.Error(), `version 3 of "h" is not kept`) {
		t.Fatalf("rollback to a pruned version: %v", err)
	}
	if err := reg.SetKeepVersions(2); err != nil {
		t.Fatal(err)
	}
	check(reg, 6, 5)
	reg.Close()
	reg = openRegistry(t, dataDir)
	check(reg, 6, 5) // Open keeps what is on disk; node sets keep again
	dep, err := reg.RollbackTo(ctx, "h", 5)
	if err != nil || dep.Version != 7 || dep.Restores != 5 {
		t.Fatalf("rollback to 5: %+v %v", dep, err)
	}
	check(reg, 7, 6, 5)
	reg.TopicDeleted(ctx, "logs")
	if l := reg.List(); len(l) != 0 {
		t.Fatalf("after topic deletion: %+v", l)
	}
	entries, _ := os.ReadDir(filepath.Join(dataDir, "plugins", "modules"))
	if len(entries) != 0 {
		t.Fatalf("module files left after removal: %v", entries)
	}
}
