package plugins_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/auth/httpauth"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
	"github.com/sluicemq/sluice/plugins"
)

// passwords is a test auth.PasswordVerifier (the SCRAM-backed one lives in
// the credential store; the admin API only sees the interface).
type passwords map[string]string

func (p passwords) VerifyPassword(user, pw string) bool { v, ok := p[user]; return ok && v == pw }

// notBob authorizes everything except changes by User:bob.
type notBob struct{}

func (notBob) Authorize(id auth.Identity, op auth.Operation, rt auth.ResourceType, name string) bool {
	return !(id.Principal == auth.User("bob") && op == auth.OpAlter && rt == auth.ResCluster && name == auth.ClusterResource)
}

const adminToken = "0123456789abcdef-admin"

// startSecuredNode starts a node with the given options; it returns the
// base URL of the HTTP listener and of the admin listener (if any).
func startSecuredNode(t *testing.T, opts node.Options) (httpBase, adminBase string) {
	n := testkit.StartNode(t, testkit.WithOptions(opts), testkit.WithLogger(quietLogger))
	a := n.Addrs
	// The topics deployURL deploys to (a deploy needs its topic).
	n.CreateTopics(t, 1, "logs-mask", "logs-mask2", "logs-m")
	if a.Admin != "" {
		adminBase = "http://" + a.Admin
	}
	return "http://" + a.HTTP, adminBase
}

// adminCall sends one admin request; hdr are header name/value pairs.
func adminCall(t *testing.T, method, u, contentType string, body []byte, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func deployURL(base, name string) string {
	return base + "/admin/plugins?" + url.Values{"name": {name}, "hook": {"transform"}, "topic": {"logs-" + name}}.Encode()
}

func pluginNames(t *testing.T, base string, hdr ...string) []string {
	t.Helper()
	code, body, _ := adminCall(t, http.MethodGet, base+"/admin/plugins", "", nil, hdr...)
	if code != http.StatusOK {
		t.Fatalf("list: %d %s", code, body)
	}
	var list plugins.ListResponse
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, d := range list.Plugins {
		names = append(names, d.Name)
	}
	return names
}

func basic(user, pw string) string {
	req, _ := http.NewRequest("GET", "http://x/", nil)
	req.SetBasicAuth(user, pw)
	return req.Header.Get("Authorization")
}

func TestAdminAPIRequiresAnAdministrator(t *testing.T) {
	t.Parallel()
	base, _ := startSecuredNode(t, node.Options{
		PasswordVerifier: passwords{"alice": "alice-secret", "bob": "bob-secret"},
		Authorizer:       notBob{},
		Admin:            node.AdminOptions{Tokens: []httpauth.Token{{Principal: auth.User("admin"), Secret: adminToken}}},
	})
	wasmCode := module(t, "mask-pii")
	bearer := []string{"Authorization", "Bearer " + adminToken}
	cases := []struct {
		name   string
		ct     string
		hdr    []string
		status int
		body   string
	}{
		{"no credentials", "application/wasm", nil, 401,
			`{"error":"authentication required: HTTP Basic (user and password) or a bearer token"}`},
		{"wrong password", "application/wasm", []string{"Authorization", basic("alice", "nope")}, 401,
			`{"error":"invalid user name or password"}`},
		{"unknown user", "application/wasm", []string{"Authorization", basic("mallory", "alice-secret")}, 401,
			`{"error":"invalid user name or password"}`},
		{"wrong token", "application/wasm", []string{"Authorization", "Bearer " + adminToken + "x"}, 401,
			`{"error":"invalid bearer token"}`},
		// The attack: a web page posts text/plain cross-site.
		{"cross-site text/plain", "text/plain", []string{"Origin", "https://evil.example"}, 403,
			`{"error":"origin https://evil.example is not allowed to call the admin API"}`},
		{"foreign origin with token", "application/wasm", append([]string{"Origin", "https://evil.example"}, bearer...), 403,
			`{"error":"origin https://evil.example is not allowed to call the admin API"}`},
		{"null origin", "application/wasm", append([]string{"Origin", "null"}, bearer...), 403,
			`{"error":"origin null is not allowed to call the admin API"}`},
		{"text/plain with token", "text/plain;charset=UTF-8", bearer, 403,
			`{"error":"content type text/plain is not accepted by the admin API (send the module as application/wasm or application/octet-stream)"}`},
		{"form with token", "application/x-www-form-urlencoded", bearer, 403,
			`{"error":"content type application/x-www-form-urlencoded is not accepted by the admin API (send the module as application/wasm or application/octet-stream)"}`},
		{"multipart with token", "multipart/form-data; boundary=x", bearer, 403,
			`{"error":"content type multipart/form-data is not accepted by the admin API (send the module as application/wasm or application/octet-stream)"}`},
		{"bob is not authorized", "application/wasm", []string{"Authorization", basic("bob", "bob-secret")}, 403,
			`{"error":"User:bob is not authorized to alter the cluster"}`},
	}
	for _, c := range cases {
		code, body, hdr := adminCall(t, http.MethodPost, deployURL(base, "mask"), c.ct, wasmCode, c.hdr...)
		if code != c.status || strings.TrimSpace(body) != c.body {
			t.Fatalf("%s: %d %s", c.name, code, body)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Basic realm="sluice-admin"`) {
			t.Fatalf("%s: WWW-Authenticate %q", c.name, hdr.Values("WWW-Authenticate"))
		}
	}
	if got := pluginNames(t, base, bearer...); len(got) != 0 {
		t.Fatalf("refused requests deployed %v", got)
	}
	// Reads need credentials too.
	if code, _, _ := adminCall(t, http.MethodGet, base+"/admin/plugins", "", nil); code != 401 {
		t.Fatalf("anonymous list: %d", code)
	}
	if code, _, _ := adminCall(t, http.MethodDelete, base+"/admin/plugins/mask", "", nil); code != 401 {
		t.Fatalf("anonymous delete: %d", code)
	}

	// Administrators: the bearer token, a Basic user (same-origin pages too).
	if code, body, _ := adminCall(t, http.MethodPost, deployURL(base, "mask"), "application/wasm", wasmCode, bearer...); code != http.StatusCreated {
		t.Fatalf("deploy with token: %d %s", code, body)
	}
	if code, body, _ := adminCall(t, http.MethodPost, deployURL(base, "mask2"), "application/octet-stream", wasmCode,
		"Authorization", basic("alice", "alice-secret"), "Origin", base); code != http.StatusCreated {
		t.Fatalf("deploy with basic: %d %s", code, body)
	}
	// bob may read (Describe) but not change.
	if got := strings.Join(pluginNames(t, base, "Authorization", basic("bob", "bob-secret")), ","); got != "mask,mask2" {
		t.Fatalf("plugins %q", got)
	}
	if code, _, _ := adminCall(t, http.MethodDelete, base+"/admin/plugins/mask", "", nil, "Authorization", basic("bob", "bob-secret")); code != 403 {
		t.Fatalf("bob delete: %d", code)
	}
	if code, _, _ := adminCall(t, http.MethodDelete, base+"/admin/plugins/mask", "", nil, bearer...); code != 200 {
		t.Fatalf("admin delete: %d", code)
	}
	if got := strings.Join(pluginNames(t, base, bearer...), ","); got != "mask2" {
		t.Fatalf("after delete %q", got)
	}
}

// Without credentials the admin API is only for local tools on a loopback
// listener: pages that rebind DNS (foreign Host) or post cross-site fail.
func TestAdminAPILoopbackWithoutCredentials(t *testing.T) {
	t.Parallel()
	base, _ := startSecuredNode(t, node.Options{})
	wasmCode := module(t, "mask-pii")
	host := strings.TrimPrefix(base, "http://")
	port := host[strings.LastIndexByte(host, ':'):]
	code, body, _ := adminCall(t, http.MethodPost, deployURL(base, "m"), "application/wasm", wasmCode, "Host", "rebind.evil.example"+port)
	if code != 401 || !strings.Contains(body, "answers only to Host localhost") {
		t.Fatalf("rebound host: %d %s", code, body)
	}
	code, body, _ = adminCall(t, http.MethodPost, deployURL(base, "m"), "text/plain", wasmCode, "Origin", "http://evil.example")
	if code != 403 {
		t.Fatalf("cross-site: %d %s", code, body)
	}
	if code, body, _ = adminCall(t, http.MethodPost, deployURL(base, "m"), "application/wasm", wasmCode, "Host", "localhost"+port); code != 201 {
		t.Fatalf("local tool: %d %s", code, body)
	}
	if got := strings.Join(pluginNames(t, base), ","); got != "m" {
		t.Fatalf("plugins %q", got)
	}
}

// --admin-addr moves the admin API to its own listener.
func TestAdminAPIOwnListener(t *testing.T) {
	t.Parallel()
	base, admin := startSecuredNode(t, node.Options{Admin: node.AdminOptions{Addr: "127.0.0.1:0",
		Tokens: []httpauth.Token{{Principal: auth.User("admin"), Secret: adminToken}}}})
	if admin == "" || admin == base {
		t.Fatalf("admin listener %q (http %q)", admin, base)
	}
	wasmCode := module(t, "mask-pii")
	bearer := []string{"Authorization", "Bearer " + adminToken}
	if code, _, _ := adminCall(t, http.MethodPost, deployURL(base, "m"), "application/wasm", wasmCode, bearer...); code != 404 && code != 405 {
		t.Fatalf("admin API still on the HTTP listener: %d", code)
	}
	if code, _, _ := adminCall(t, http.MethodPost, deployURL(admin, "m"), "application/wasm", wasmCode); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	if code, body, _ := adminCall(t, http.MethodPost, deployURL(admin, "m"), "application/wasm", wasmCode, bearer...); code != 201 {
		t.Fatalf("deploy: %d %s", code, body)
	}
}
