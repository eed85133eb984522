package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicemq/sluice/core/hooks"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/plugins"
	"github.com/sluicemq/sluice/wasm"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// adminServer serves reg's admin API on a loopback httptest server.
func adminServer(t *testing.T, reg *plugins.Registry) string {
	t.Helper()
	r := chi.NewRouter()
	reg.AdminRoutes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func openRegistry(t *testing.T, dataDir string) *plugins.Registry {
	t.Helper()
	// The kit's shared compilation cache: each registry compiling the
	// example modules afresh cost seconds per test.
	testkit.LinkPluginCache(dataDir)
	reg, err := plugins.OpenWith(dataDir, quietLogger, wasm.Config{Shared: testkit.SharedWasmCache()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// deployRaw deploys with the module as the body and fields in the query.
func deployRaw(t *testing.T, base, name, hook, topic string, code []byte, config ...string) (int, []byte) {
	t.Helper()
	q := url.Values{"name": {name}, "hook": {hook}, "topic": {topic}, "config": config}
	resp, err := http.Post(base+"/admin/plugins?"+q.Encode(), "application/wasm", bytes.NewReader(code))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func deployMultipart(t *testing.T, base, name, hook, topic string, code []byte, config ...string) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", name)
	mw.WriteField("hook", hook)
	mw.WriteField("topic", topic)
	for _, c := range config {
		mw.WriteField("config", c)
	}
	fw, _ := mw.CreateFormFile("module", name+".wasm")
	fw.Write(code)
	mw.Close()
	resp, err := http.Post(base+"/admin/plugins", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func call(t *testing.T, method, u string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestAdminAPIDeployListRemoveAndRestart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	reg := openRegistry(t, dataDir)
	base := adminServer(t, reg)

	code, body := deployRaw(t, base, "mask", "transform", "logs", module(t, "mask-pii"))
	if code != http.StatusCreated {
		t.Fatalf("deploy: %d %s", code, body)
	}
	mask := decode[plugins.Deployment](t, body)
	if mask.Name != "mask" || mask.Version != 1 || mask.Hook != wasm.HookTransform || mask.Topic != "logs" || len(mask.SHA256) != 64 {
		t.Fatalf("deployment %+v", mask)
	}
	code, body = deployMultipart(t, base, "tenants", "filter", "events", module(t, "tenant-filter"), "header=tenant", "show_untagged=true")
	if code != http.StatusCreated {
		t.Fatalf("multipart deploy: %d %s", code, body)
	}
	if got := decode[plugins.Deployment](t, body).Config; !reflect.DeepEqual(got, map[string]string{"header": "tenant", "show_untagged": "true"}) {
		t.Fatalf("config %v", got)
	}

	code, body = call(t, http.MethodGet, base+"/admin/plugins")
	list := decode[plugins.ListResponse](t, body)
	if code != http.StatusOK || len(list.Plugins) != 2 || list.Plugins[0].Name != "mask" || list.Plugins[1].Name != "tenants" {
		t.Fatalf("list: %d %s", code, body)
	}
	if reg.Transform("logs") == nil || reg.Filter("events") == nil || reg.Transform("events") != nil || reg.Partitioner("logs") != nil {
		t.Fatal("bindings do not match the deployments")
	}

	// Errors: conflict, bad module, bad request, unknown plugin.
	if code, body = deployRaw(t, base, "other", "transform", "logs", module(t, "drop-bots")); code != http.StatusConflict {
		t.Fatalf("conflict: %d %s", code, body)
	}
	if code, body = deployRaw(t, base, "bad", "transform", "x", []byte("\x00asm garbage")); code != http.StatusBadRequest {
		t.Fatalf("garbage module: %d %s", code, body)
	}
	if code, body = deployRaw(t, base, "nohook", "transform", "x", module(t, "wat-partitioner")); code != http.StatusBadRequest ||
		!bytes.Contains(body, []byte(`missing export \"sluice_transform\"`)) {
		t.Fatalf("missing export: %d %s", code, body)
	}
	if code, body = deployRaw(t, base, "bad name!", "transform", "x", module(t, "mask-pii")); code != http.StatusBadRequest {
		t.Fatalf("bad name: %d %s", code, body)
	}
	if code, body = deployRaw(t, base, "p", "sorter", "x", module(t, "mask-pii")); code != http.StatusBadRequest {
		t.Fatalf("bad hook: %d %s", code, body)
	}
	if code, _ = call(t, http.MethodGet, base+"/admin/plugins/nope"); code != http.StatusNotFound {
		t.Fatalf("get unknown: %d", code)
	}
	if code, _ = call(t, http.MethodDelete, base+"/admin/plugins/nope"); code != http.StatusNotFound {
		t.Fatalf("delete unknown: %d", code)
	}

	// A new version replaces the old one.
	code, body = deployRaw(t, base, "mask", "transform", "logs", module(t, "mask-pii"))
	if v := decode[plugins.Deployment](t, body).Version; code != http.StatusCreated || v != 2 {
		t.Fatalf("redeploy: %d %s", code, body)
	}

	// Restart: deployments come back from the data dir.
	reg.Close()
	reg2 := openRegistry(t, dataDir)
	got := reg2.List()
	if len(got) != 2 || got[0].Name != "mask" || got[0].Version != 2 || got[1].Name != "tenants" {
		t.Fatalf("after restart: %+v", got)
	}
	out, _, err := reg2.Transform("logs").Apply(context.Background(), "logs", 0,
		[]hooks.Record{{Value: []byte("mail bob@example.org"), Offset: -1}})
	if err != nil || string(out[0].Value) != "mail ***@example.org" {
		t.Fatalf("transform after restart: %v %v", out, err)
	}
	files, _ := filepath.Glob(filepath.Join(dataDir, "plugins", "modules", "*.wasm"))
	// mask-v1 stays as mask's previous version (the one a rollback
	// restores, docs/plugin-ops.md).
	if len(files) != 3 || filepath.Base(files[0]) != "mask-v1.wasm" {
		t.Fatalf("module files %v, want the two current versions and mask's previous one", files)
	}

	base2 := adminServer(t, reg2)
	code, body = call(t, http.MethodDelete, base2+"/admin/plugins/mask")
	if code != http.StatusOK || decode[plugins.Deployment](t, body).Version != 2 {
		t.Fatalf("remove: %d %s", code, body)
	}
	if reg2.Transform("logs") != nil {
		t.Fatal("transform still bound after remove")
	}
	// Versions keep counting after a remove.
	code, body = deployRaw(t, base2, "mask", "transform", "logs", module(t, "mask-pii"))
	if v := decode[plugins.Deployment](t, body).Version; code != http.StatusCreated || v != 3 {
		t.Fatalf("deploy after remove: %d %s", code, body)
	}
}

func TestOpenFailsOnDamagedModule(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	reg, err := plugins.Open(dataDir, quietLogger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Deploy(context.Background(), plugins.DeployRequest{Name: "p", Hook: wasm.HookPartitioner, Topic: "t", Wasm: module(t, "wat-partitioner")}); err != nil {
		t.Fatal(err)
	}
	reg.Close()
	if err := os.WriteFile(filepath.Join(dataDir, "plugins", "modules", "p-v1.wasm"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := plugins.Open(dataDir, quietLogger); err == nil || !bytes.Contains([]byte(err.Error()), []byte("sha256 mismatch")) {
		t.Fatalf("Open with a damaged module: %v", err)
	}
}

// TestHotReplaceUnderLoad redeploys a transform while calls run
// continuously: no call fails, and calls after the deploy use the new
// version's configuration.
func TestHotReplaceUnderLoad(t *testing.T) {
	t.Parallel()
	reg := openRegistry(t, t.TempDir())
	ctx := context.Background()
	deploy := func(dlq string) {
		t.Helper()
		_, err := reg.Deploy(ctx, plugins.DeployRequest{Name: "dlq", Hook: wasm.HookTransform, Topic: "orders",
			Config: map[string]string{"dlq": dlq}, Wasm: module(t, "json-dlq")})
		if err != nil {
			t.Fatal(err)
		}
	}
	deploy("dead-1")
	in := []hooks.Record{{Value: []byte("{}"), Offset: -1}, {Value: []byte("{"), Offset: -1}}
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		calls    atomic.Int64
		failures = make(chan error, 4)
	)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				out, emits, err := reg.Transform("orders").Apply(ctx, "orders", 0, in)
				if err != nil || len(out) != 1 || len(emits) != 1 {
					failures <- errors.Join(errors.New("call failed during replace"), err)
					return
				}
				calls.Add(1)
			}
		}()
	}
	for i := 2; i <= 4; i++ {
		time.Sleep(30 * time.Millisecond)
		deploy("dead-" + string(rune('0'+i)))
	}
	time.Sleep(30 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Fatal(err)
	}
	if calls.Load() == 0 {
		t.Fatal("no calls ran")
	}
	_, emits, err := reg.Transform("orders").Apply(ctx, "orders", 0, in)
	if err != nil || emits[0].Topic != "dead-4" {
		t.Fatalf("after replace: emits %+v err %v", emits, err)
	}
	if d, _ := reg.Get("dlq"); d.Version != 4 {
		t.Fatalf("version %d, want 4", d.Version)
	}
}

func TestFailingPluginErrorsAreHookErrors(t *testing.T) {
	t.Parallel()
	reg := openRegistry(t, t.TempDir())
	if _, err := reg.Deploy(context.Background(), plugins.DeployRequest{Name: "bad", Hook: wasm.HookTransform, Topic: "t", Wasm: module(t, "misbehave")}); err != nil {
		t.Fatal(err)
	}
	tr := reg.Transform("t")
	_, _, err := tr.Apply(context.Background(), "t", 0, []hooks.Record{{Key: []byte("trap"), Offset: -1}})
	if !errors.Is(err, hooks.ErrPluginFailed) || !errors.Is(err, wasm.ErrTrap) {
		t.Fatalf("trap: %v", err)
	}
	_, _, err = tr.Apply(context.Background(), "t", 0, []hooks.Record{{Key: []byte("reject"), Offset: -1}})
	if !errors.Is(err, hooks.ErrRejected) {
		t.Fatalf("reject: %v", err)
	}
	out, _, err := tr.Apply(context.Background(), "t", 0, []hooks.Record{{Key: []byte("fine"), Offset: -1}})
	if err != nil || len(out) != 1 {
		t.Fatalf("healthy call: %v %v", out, err)
	}
}
