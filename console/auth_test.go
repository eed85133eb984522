package console_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/console"
	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// TestAuth: with SASL on the Kafka port and ACLs on, the console API wants
// HTTP Basic for a SCRAM user, asks the one authorizer (Describe on the
// Cluster to read, Alter to change) and refuses forged browser requests;
// the pages themselves load without credentials (the login form).
func TestAuth(t *testing.T) {
	dir := t.TempDir()
	const adminPass = "admin-password-1"
	pwFile := filepath.Join(dir, "admin.pw")
	os.WriteFile(pwFile, []byte(adminPass+"\n"), 0o600)
	n := testkit.StartNode(t, testkit.WithOptions(node.Options{
		Security:       node.Security{Protocol: node.ProtocolSASLPlaintext, BootstrapUser: "admin", BootstrapPasswordFile: pwFile},
		AuthorizerKind: "acl", SuperUsers: []auth.Principal{"User:admin"}}))
	api := n.HTTPBase + "/console/api"

	// A second user, "viewer", who may only describe the cluster.
	cl := n.Client(t, kgo.SASL(scram.Auth{User: "admin", Pass: adminPass}.AsSha512Mechanism()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "viewer", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "viewer-password"}}); err != nil {
		t.Fatal(err)
	}
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Clusters().Allow("User:viewer").Operations(kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %v", err, res)
	}

	// The page loads without credentials.
	resp, err := http.Get(n.HTTPBase + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("page: %d %v", resp.StatusCode, resp.Header)
	}

	// No credentials: 401 with the guard's reason, and no Basic challenge
	// (the browser would show its own dialog over the login form).
	req, _ := http.NewRequest("GET", api+"/overview", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || strings.Contains(strings.ToLower(strings.Join(resp.Header.Values("WWW-Authenticate"), ",")), "basic") {
		t.Fatalf("anonymous: %d %v", resp.StatusCode, resp.Header)
	}
	if code, body := call(t, "GET", api+"/overview", nil, nil, "Authorization", basic("admin", "wrong")); code != 401 || !strings.Contains(body, "invalid user name or password") {
		t.Fatalf("wrong password: %d %s", code, body)
	}

	var who console.WhoAmI
	if code, body := call(t, "GET", api+"/whoami", nil, &who, "Authorization", basic("viewer", "viewer-password")); code != 200 || who.Principal != "User:viewer" || who.Auth != "basic" {
		t.Fatalf("viewer whoami: %d %s", code, body)
	}
	var ov console.Overview
	if code, body := call(t, "GET", api+"/overview", nil, &ov, "Authorization", basic("viewer", "viewer-password")); code != 200 || len(ov.Brokers) != 1 {
		t.Fatalf("viewer overview: %d %s", code, body)
	}
	if code, body := call(t, "POST", api+"/topics", console.CreateTopicRequest{Name: "t1", Partitions: 1}, nil, "Authorization", basic("viewer", "viewer-password")); code != 403 || !strings.Contains(body, "User:viewer is not authorized to alter the cluster") {
		t.Fatalf("viewer create: %d %s", code, body)
	}
	// A cross-site form post is refused whatever the credentials.
	if code, body := call(t, "POST", api+"/topics", nil, nil, "Authorization", basic("admin", adminPass), "Content-Type", "text/plain"); code != 403 || !strings.Contains(body, "content type text/plain") {
		t.Fatalf("text/plain post: %d %s", code, body)
	}
	if code, body := call(t, "GET", api+"/overview", nil, nil, "Authorization", basic("admin", adminPass), "Origin", "http://evil.example"); code != 403 || !strings.Contains(body, "origin http://evil.example is not allowed") {
		t.Fatalf("foreign origin: %d %s", code, body)
	}
	if code, body := call(t, "POST", api+"/topics", console.CreateTopicRequest{Name: "t1", Partitions: 1}, nil, "Authorization", basic("admin", adminPass)); code != 201 {
		t.Fatalf("admin create: %d %s", code, body)
	}
}
