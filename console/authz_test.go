package console_test

import (
	"context"
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

// TestAuthResourceACLs: passing the guard (Describe/Alter on the Cluster)
// is not enough for what Kafka checks per resource: reading messages and
// tailing want Read on the topic, resetting offsets Read on the group and
// its topics, deleting a topic Delete on it, as the same principal's
// Kafka requests would (the console's own client runs as the node).
func TestAuthResourceACLs(t *testing.T) {
	dir := t.TempDir()
	const adminPass = "admin-password-1"
	pwFile := filepath.Join(dir, "admin.pw")
	os.WriteFile(pwFile, []byte(adminPass+"\n"), 0o600)
	n := testkit.StartNode(t, testkit.WithOptions(node.Options{
		Security:       node.Security{Protocol: node.ProtocolSASLPlaintext, BootstrapUser: "admin", BootstrapPasswordFile: pwFile},
		AuthorizerKind: "acl", SuperUsers: []auth.Principal{"User:admin"}}))
	api := n.HTTPBase + "/console/api"
	cl := n.Client(t, kgo.SASL(scram.Auth{User: "admin", Pass: adminPass}.AsSha512Mechanism()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "op", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "op-password"}}); err != nil {
		t.Fatal(err)
	}
	// grant adds an ACL and waits until the authorizer (which follows
	// the store asynchronously) has it.
	grant := func(b *kadm.ACLBuilder, inEffect func() bool) {
		t.Helper()
		res, err := adm.CreateACLs(ctx, b.Allow("User:op").ResourcePatternType(kadm.ACLPatternLiteral))
		if err != nil || res[0].Err != nil {
			t.Fatalf("create ACL: %v %v", err, res)
		}
		for !inEffect() {
			if ctx.Err() != nil {
				t.Fatal("ACL not in effect")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	op := []string{"Authorization", basic("op", "op-password")}
	status := func(method, path string, body any) (int, string) { return call(t, method, api+path, body, nil, op...) }
	grant(kadm.NewACLs().Clusters().Operations(kadm.OpDescribe, kadm.OpAlter), func() bool { c, _ := status("GET", "/overview", nil); return c == 200 })
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t1"); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, &kgo.Record{Topic: "t1", Value: []byte("secret")})
	expect := func(method, path string, body any, code int, msg string) {
		t.Helper()
		got, b := call(t, method, api+path, body, nil, op...)
		if got != code || !strings.Contains(b, msg) {
			t.Fatalf("%s %s: %d %s, want %d %q", method, path, got, b, code, msg)
		}
	}
	var tl console.TopicList
	if code, b := call(t, "GET", api+"/topics", nil, &tl, op...); code != 200 || len(tl.Topics) != 0 {
		t.Fatalf("topic list without Describe on any topic: %d %s", code, b)
	}
	var gl console.GroupList
	if code, b := call(t, "GET", api+"/groups", nil, &gl, op...); code != 200 || len(gl.Groups) != 0 {
		t.Fatalf("group list without Describe on any group: %d %s", code, b)
	}
	expect("GET", "/topics/t1/messages?partition=0", nil, 403, "User:op is not authorized to read topic t1")
	expect("GET", "/topics/t1/tail", nil, 403, "User:op is not authorized to read topic t1")
	expect("GET", "/topics/t1", nil, 403, "User:op is not authorized to describe topic t1")
	expect("DELETE", "/topics/t1", nil, 403, "User:op is not authorized to delete topic t1")
	expect("POST", "/topics/t1/partitions", console.AddPartitionsRequest{Count: 2}, 403, "User:op is not authorized to alter topic t1")
	expect("POST", "/topics", console.CreateTopicRequest{Name: "t2", Partitions: 1}, 403, "User:op is not authorized to create topic t2")
	expect("GET", "/groups/g", nil, 403, "User:op is not authorized to describe group g")
	reset := console.ResetRequest{To: "earliest", Topics: []string{"t1"}}
	expect("POST", "/groups/g/reset", reset, 403, "User:op is not authorized to read group g")
	grant(kadm.NewACLs().Groups("g").Operations(kadm.OpRead), func() bool {
		_, b := status("POST", "/groups/g/reset", reset)
		return !strings.Contains(b, "read group g")
	})
	expect("POST", "/groups/g/reset", reset, 403, "User:op is not authorized to read topic t1")

	grant(kadm.NewACLs().Topics("t1").Operations(kadm.OpRead), func() bool {
		_, b := status("GET", "/topics/t1", nil)
		return !strings.Contains(b, "not authorized")
	})
	var br console.Browse
	if code, b := call(t, "GET", api+"/topics/t1/messages?partition=0", nil, &br, op...); code != 200 || len(br.Messages) != 1 {
		t.Fatalf("browse with Read on t1: %d %s", code, b)
	}
	// Read implies Describe (Kafka's rule): t1 is now listed.
	if code, b := call(t, "GET", api+"/topics", nil, &tl, op...); code != 200 || len(tl.Topics) != 1 || tl.Topics[0].Name != "t1" {
		t.Fatalf("topic list with Read on t1: %d %s", code, b)
	}
	var rr console.ResetResult
	if code, b := call(t, "POST", api+"/groups/g/reset", reset, &rr, op...); code != 200 || len(rr.Offsets) != 1 || rr.Offsets[0].Committed != 0 {
		t.Fatalf("reset with Read on g and t1: %d %s", code, b)
	}
	// The superuser is not affected.
	if code, b := call(t, "DELETE", api+"/topics/t1", nil, nil, "Authorization", basic("admin", adminPass)); code/100 != 2 {
		t.Fatalf("admin delete: %d %s", code, b)
	}
}
