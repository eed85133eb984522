package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta/zktest"
)

const testZKDigest = "sluice:s3cret-digest"

var secureZK = ZKOptions{Security: ZKSecurity{Digest: testZKDigest, SetACL: true}}

// secureConnect is testConnect under a root of its own: a secured chroot's
// parent is created read-only for everyone but its creator, which would
// lock the unauthenticated tests out of a shared /sluice-test.
func secureConnect(t *testing.T) (connect, chroot string) {
	t.Helper()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	chroot = fmt.Sprintf("/sluice-secure-test/%s-%d", name, chrootSeq.Add(1))
	return zktest.Need(t, zkServer).Addr + chroot, chroot
}

// rawClient is a plain ZooKeeper client, authenticated with digest unless
// it is empty.
func rawClient(t *testing.T, digest string) *zk.Conn {
	t.Helper()
	c := zkServer.Client(t)
	if digest != "" {
		if err := c.AddAuth("digest", []byte(digest)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func testScram(t *testing.T, password string) auth.ScramCredential {
	t.Helper()
	m, _ := auth.ScramMechanismByName("SCRAM-SHA-512")
	c, err := m.NewCredential(password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantNoAuth(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("%s: err = %v, want zk.ErrNoAuth", what, err)
	}
}

// With digest auth and secure ACLs, a client without the digest can read
// what Kafka leaves world-readable (broker registrations, assignments,
// partition states, the controller) and nothing else, and can write
// nothing; every node the store created (walked, not listed by hand)
// carries exactly the ACL docs/zookeeper-layout.md gives its path.
func TestZKSecureACLs(t *testing.T) {
	t.Parallel()
	connect, root := secureConnect(t)
	z := openTestZK(t, connect, 1, secureZK)

	// Exercise every kind of create the store makes.
	if _, err := z.Campaign(context.Background()); err != nil {
		t.Fatal(err)
	}
	one := []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}
	if _, err := z.CreateTopic(Topic{Name: "orders", Partitions: one, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.AddPartitions("orders", one); err != nil {
		t.Fatal(err)
	}
	if _, err := z.CreateTopic(Topic{Name: "plain", Partitions: one}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.SetTopicConfigs("plain", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if _, err := z.CreateTopic(Topic{Name: "doomed", Partitions: one}); err != nil {
		t.Fatal(err)
	}
	if err := z.DeleteTopic("doomed"); err != nil {
		t.Fatal(err)
	}
	cred := testScram(t, "alice-secret")
	if err := z.PutScramCredential("alice", "SCRAM-SHA-512", cred); err != nil {
		t.Fatal(err)
	}
	literal := testACL(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	prefixed := testACL(kmsg.ACLResourceTypeGroup, "app-", kmsg.ACLResourcePatternTypePrefixed, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	if err := z.CreateACLs([]ACLBinding{literal, prefixed}); err != nil {
		t.Fatal(err)
	}
	wantACLs(t, z.ACLs(), literal, prefixed)
	if got, ok, err := z.ScramCredential("alice", "SCRAM-SHA-512"); err != nil || !ok || got.Iterations != 4096 {
		t.Fatalf("ScramCredential = %+v, %v, %v", got, ok, err)
	}

	anon := rawClient(t, "")
	// Secrets: no read, no listing.
	for _, p := range []string{"/config/users/alice", "/config/topics/orders", "/kafka-acl/Topic/orders", "/kafka-acl-extended/prefixed/Group/app-"} {
		_, _, err := anon.Get(root + p)
		wantNoAuth(t, "anonymous get "+p, err)
	}
	for _, p := range []string{"/config", "/config/users", "/kafka-acl", "/kafka-acl-changes", "/kafka-acl-extended-changes"} {
		_, _, err := anon.Children(root + p)
		wantNoAuth(t, "anonymous children "+p, err)
	}
	// No writes anywhere: ACLs, notifications, credentials, registrations,
	// assignments, the controller.
	_, err := anon.Set(root+"/kafka-acl/Topic/orders", []byte(`{"version":1,"acls":[]}`), -1)
	wantNoAuth(t, "anonymous set /kafka-acl/Topic/orders", err)
	wantNoAuth(t, "anonymous delete /kafka-acl/Topic/orders", anon.Delete(root+"/kafka-acl/Topic/orders", -1))
	for _, p := range []string{"/kafka-acl/Topic/evil", "/kafka-acl/Cluster", "/kafka-acl-changes/acl_changes_", "/config/users/mallory", "/brokers/ids/66", "/brokers/topics/evil", "/admin/delete_topics/orders"} {
		_, err := anon.Create(root+p, []byte("x"), 0, zk.WorldACL(zk.PermAll))
		wantNoAuth(t, "anonymous create "+p, err)
	}
	for _, p := range []string{"/brokers/topics/orders", "/brokers/ids/1", "/controller_epoch", "/cluster/id"} {
		_, err := anon.Set(root+p, []byte("x"), -1)
		wantNoAuth(t, "anonymous set "+p, err)
	}
	wantNoAuth(t, "anonymous delete /controller", anon.Delete(root+"/controller", -1))
	// Readable: the cluster's public shape.
	ids, _, err := anon.Children(root + "/brokers/ids")
	if err != nil || !slices.Equal(ids, []string{"1"}) {
		t.Fatalf("anonymous children /brokers/ids = %v, %v; want [1]", ids, err)
	}
	data, _, err := anon.Get(root + "/brokers/ids/1")
	if b, derr := decodeBroker(1, data); err != nil || derr != nil || b.Port != testBroker(1).Port {
		t.Fatalf("anonymous get /brokers/ids/1 = %s, %v, %v", data, err, derr)
	}
	for _, p := range []string{"/brokers/topics/orders", "/brokers/topics/orders/partitions/1/state", "/controller", "/cluster/id"} {
		if _, _, err := anon.Get(root + p); err != nil {
			t.Fatalf("anonymous get %s: %v", p, err)
		}
	}

	// The digest identity reads the secrets (a second broker or an admin
	// tool with the same credentials).
	admin := rawClient(t, testZKDigest)
	if data, _, err := admin.Get(root + "/config/users/alice"); err != nil || !strings.Contains(string(data), "SCRAM-SHA-512") {
		t.Fatalf("authenticated get /config/users/alice = %s, %v", data, err)
	}

	// Every node under the chroot, and the chroot itself.
	creator := zk.DigestACL(zk.PermAll, "sluice", "s3cret-digest")
	open := append(slices.Clone(creator), zk.WorldACL(zk.PermRead)...)
	seen := checkTreeACLs(t, admin, root)
	for _, p := range []string{"/", "/brokers/ids/1", "/controller", "/controller_epoch", "/cluster/id",
		"/brokers/topics/orders/partitions/1/state", "/config/topics/plain", "/config/users/alice",
		"/admin/delete_topics/doomed", "/kafka-acl/Topic/orders", "/kafka-acl-extended/prefixed/Group/app-"} {
		if !seen[p] {
			t.Errorf("walk did not reach %s", p)
		}
	}
	notes := 0
	for p := range seen {
		if strings.HasPrefix(p, "/kafka-acl-changes/acl_changes_") || strings.HasPrefix(p, "/kafka-acl-extended-changes/acl_changes_") {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("found %d ACL change notifications, want 2", notes)
	}
	// The chroot's parent, created on demand, is public but read-only.
	parent := root[:strings.LastIndexByte(root, '/')]
	if acl, _, err := admin.GetACL(parent); err != nil || !slices.Equal(acl, open) {
		t.Errorf("ACL of chroot parent %s = %+v, %v; want %+v", parent, acl, err, open)
	}
	t.Logf("checked the ACLs of %d znodes", len(seen))
}

// A second broker with the same digest joins and sees everything; brokers
// with another digest or none fail at start with a clear NoAuth error
// rather than on their first write.
func TestZKSecureIdentityAtStart(t *testing.T) {
	t.Parallel()
	connect, _ := secureConnect(t)
	z1 := openTestZK(t, connect, 1, secureZK)
	if err := z1.PutScramCredential("alice", "SCRAM-SHA-256", testScram(t, "pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := z1.CreateTopic(Topic{Name: "shared", Partitions: []PartitionState{{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	z2 := openTestZK(t, connect, 2, secureZK)
	if _, ok, err := z2.ScramCredential("alice", "SCRAM-SHA-256"); err != nil || !ok {
		t.Fatalf("second broker ScramCredential: %v, %v", ok, err)
	}
	waitUntil(t, z2, "the topic on the second broker", func() bool { _, ok := z2.Topic("shared"); return ok })
	waitUntil(t, z1, "both brokers", func() bool { return len(z1.Brokers()) == 2 })

	for _, tc := range []struct {
		name string
		opts ZKOptions
		user string
	}{
		{"wrong password", ZKOptions{Security: ZKSecurity{Digest: "sluice:wrong", SetACL: true}}, `digest user "sluice"`},
		{"other user", ZKOptions{Security: ZKSecurity{Digest: "intruder:s3cret-digest"}}, `digest user "intruder"`},
		{"no credentials", ZKOptions{}, "an unauthenticated session"},
	} {
		tc.opts.SessionTimeout = 6 * time.Second
		tc.opts.Logger = testLogger(t)
		start := time.Now()
		z, err := OpenZK(connect, testBroker(3), tc.opts)
		if err == nil {
			z.Close()
			t.Fatalf("%s: OpenZK succeeded", tc.name)
		}
		var nae *ZKNoAuthError
		if !errors.Is(err, ErrNoAuth) || !errors.Is(err, zk.ErrNoAuth) || !errors.As(err, &nae) {
			t.Fatalf("%s: err = %v, want a *ZKNoAuthError", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.user) || !strings.Contains(err.Error(), "NoAuth") {
			t.Fatalf("%s: error %q does not name %s", tc.name, err, tc.user)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s: failing took %v", tc.name, d)
		}
	}
	// None of them registered.
	if ids := brokerIDs(z1.Brokers()); !slices.Equal(ids, []int32{1, 2}) {
		t.Fatalf("brokers %v, want [1 2]", ids)
	}
}

// A secured broker cut off for longer than its session timeout gets a new
// session; the client re-sends the digest on it before any request, so the
// broker registers again under the creator-only-writable /brokers/ids and
// writes credentials, topics and ACLs as before.
func TestZKSecureSessionExpiryReauthenticates(t *testing.T) {
	t.Parallel()
	connect, root := secureConnect(t)
	dialer := &cutDialer{}
	opts := secureZK
	opts.SessionTimeout = time.Second
	opts.Dialer = dialer.Dial
	paused := openTestZK(t, connect, 1, opts)
	other := openTestZK(t, connect, 2, secureZK)
	events := paused.SessionEvents()
	oldSession := paused.SessionID()
	waitUntil(t, other, "both brokers", func() bool { return len(other.Brokers()) == 2 })

	dialer.Cut()
	waitUntil(t, other, "the paused broker's registration to expire", func() bool {
		return slices.Equal(brokerIDs(other.Brokers()), []int32{2})
	})
	dialer.Heal()
	for {
		ev := nextSessionEvent(t, events)
		if ev.Kind != SessionRecreated {
			continue
		}
		if ev.Err != nil || ev.SessionID == oldSession {
			t.Fatalf("recreated event %+v, want a new session and no error", ev)
		}
		break
	}
	waitUntil(t, other, "the broker to register again", func() bool {
		return slices.Equal(brokerIDs(other.Brokers()), []int32{1, 2})
	})
	if err := paused.PutScramCredential("bob", "SCRAM-SHA-512", testScram(t, "bob-pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := paused.CreateTopic(Topic{Name: "after-expiry", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	acl := testACL(kmsg.ACLResourceTypeTopic, "after-expiry", kmsg.ACLResourcePatternTypeLiteral, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow)
	if err := paused.CreateACLs([]ACLBinding{acl}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(zkTestWait)
	for !slices.Contains(other.ACLs(), acl) {
		if time.Now().After(deadline) {
			t.Fatalf("the other broker never saw the ACL; has %v", other.ACLs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok, err := other.ScramCredential("bob", "SCRAM-SHA-512"); err != nil || !ok {
		t.Fatalf("other broker ScramCredential(bob) = %v, %v", ok, err)
	}
	// What it wrote on the new session is still secured.
	_, _, err := rawClient(t, "").Get(root + "/config/users/bob")
	wantNoAuth(t, "anonymous get /config/users/bob", err)
}

func TestZKSecurityOptions(t *testing.T) {
	t.Parallel()
	connect, _ := secureConnect(t)
	// Secure ACLs without credentials would lock everyone out: refused
	// before connecting.
	if _, err := OpenZK(connect, testBroker(1), ZKOptions{Security: ZKSecurity{SetACL: true}}); err == nil || !strings.Contains(err.Error(), "digest credentials") {
		t.Fatalf("SetACL without Digest: err = %v", err)
	}
	for _, bad := range []string{"nocolon", ":pw", "user:", "user:pw\nmore"} {
		if _, err := OpenZK(connect, testBroker(1), ZKOptions{Security: ZKSecurity{Digest: bad}}); err == nil {
			t.Fatalf("Digest %q accepted", bad)
		}
	}
	// Digest alone authenticates but keeps Kafka's default open ACLs. (Not
	// under /sluice-secure-test, whose parent must stay secured.)
	connect2 := testConnect(t)
	root := connect2[strings.IndexByte(connect2, '/'):]
	z := openTestZK(t, connect2, 1, ZKOptions{Security: ZKSecurity{Digest: testZKDigest}})
	if err := z.PutScramCredential("carol", "SCRAM-SHA-256", testScram(t, "pw")); err != nil {
		t.Fatal(err)
	}
	acl, _, err := rawClient(t, "").GetACL(root + "/config/users/carol")
	if err != nil || !slices.Equal(acl, zk.WorldACL(zk.PermAll)) {
		t.Fatalf("ACL without SetACL = %+v, %v; want world all", acl, err)
	}

	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"sluice:pw\n", "sluice:pw"},
		{"\n  sluice:p:w  \n", "sluice:p:w"},
	} {
		p := filepath.Join(dir, "digest")
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := LoadZKDigestFile(p); err != nil || got != tc.want {
			t.Fatalf("LoadZKDigestFile(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	for _, content := range []string{"", "\n\n", "nocolon\n", ":pw\n"} {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadZKDigestFile(p); err == nil {
			t.Fatalf("LoadZKDigestFile(%q) accepted", content)
		}
	}
}

// A ZooKeeper that itself requires authentication (docs/security.md:
// enforce.auth.enabled with the digest scheme) serves a broker with digest
// credentials and refuses an unauthenticated session's every request.
func TestZKEnforcedServerAuth(t *testing.T) {
	t.Parallel()
	srv := zktest.StartWith(t, "enforce.auth.enabled=true", "enforce.auth.schemes=digest")
	z := openTestZK(t, srv.Addr+"/sluice", 1, secureZK)
	if _, err := z.CreateTopic(Topic{Name: "t", Partitions: []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := z.PutScramCredential("alice", "SCRAM-SHA-256", testScram(t, "pw")); err != nil {
		t.Fatal(err)
	}
	anon := srv.Client(t)
	_, _, err := anon.Get("/sluice/brokers/ids/1")
	if err == nil {
		t.Fatal("an unauthenticated session read a world-readable node on an auth-enforcing server")
	}
	t.Logf("unauthenticated read refused: %v", err)
	// A broker without credentials cannot start there, and says why.
	_, err = OpenZK(srv.Addr+"/sluice", testBroker(2), ZKOptions{SessionTimeout: 6 * time.Second, Logger: testLogger(t)})
	var nae *ZKNoAuthError
	if !errors.As(err, &nae) || !nae.RequireAuth || !errors.Is(err, ErrNoAuth) || !strings.Contains(err.Error(), "zookeeper requires authentication") {
		t.Fatalf("broker without credentials: err = %v, want a *ZKNoAuthError with RequireAuth", err)
	}
	t.Logf("broker without credentials refused: %v", err)
}

// checkTreeACLs walks every node from root (a chroot) with an
// authenticated client and checks each one's ACL against the rule of
// docs/zookeeper-layout.md for testZKDigest; it returns the layout paths
// it saw.
func checkTreeACLs(t *testing.T, admin *zk.Conn, root string) map[string]bool {
	t.Helper()
	user, pass, _ := strings.Cut(testZKDigest, ":")
	creator := zk.DigestACL(zk.PermAll, user, pass)
	open := append(slices.Clone(creator), zk.WorldACL(zk.PermRead)...)
	seen := map[string]bool{}
	var walk func(p string)
	walk = func(p string) {
		acl, _, err := admin.GetACL(p)
		if err != nil {
			t.Fatalf("GetACL %s: %v", p, err)
		}
		rel := strings.TrimPrefix(p, root)
		if rel == "" {
			rel = "/"
		}
		want := open
		if zkSensitivePath(rel) {
			want = creator
		}
		if !slices.Equal(acl, want) {
			t.Errorf("ACL of %s = %+v, want %+v", rel, acl, want)
		}
		seen[rel] = true
		children, _, err := admin.Children(p)
		if err != nil {
			t.Fatalf("children %s: %v", p, err)
		}
		for _, c := range children {
			walk(strings.TrimSuffix(p, "/") + "/" + c)
		}
	}
	walk(root)
	return seen
}

// The procedure docs/security.md gives for securing an existing cluster
// (zkCli.sh: addauth, setAcl -R) run by ZooKeeper's own CLI leaves every
// node with the ACL a secured broker would have given it.
func TestZKSecureExistingCluster(t *testing.T) {
	t.Parallel()
	// Its own root: the open store creates the chroot's parent world-writable.
	root := fmt.Sprintf("/sluice-migrate-test/%s-%d", t.Name(), chrootSeq.Add(1))
	connect := zktest.Need(t, zkServer).Addr + root
	one := []PartitionState{{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}
	old := openTestZK(t, connect, 1, ZKOptions{})
	if _, err := old.CreateTopic(Topic{Name: "orders", Partitions: one, Configs: map[string]string{"retention.ms": "1000"}}); err != nil {
		t.Fatal(err)
	}
	if err := old.PutScramCredential("alice", "SCRAM-SHA-512", testScram(t, "pw")); err != nil {
		t.Fatal(err)
	}
	literal := testACL(kmsg.ACLResourceTypeTopic, "orders", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	prefixed := testACL(kmsg.ACLResourceTypeGroup, "app-", kmsg.ACLResourcePatternTypePrefixed, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	if err := old.CreateACLs([]ACLBinding{literal, prefixed}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if _, _, err := rawClient(t, "").Get(root + "/config/users/alice"); err != nil {
		t.Fatalf("before: anonymous read of credentials: %v (the open cluster should allow it)", err)
	}

	user, pass, _ := strings.Cut(testZKDigest, ":")
	hash := zk.DigestACL(zk.PermAll, user, pass)[0].ID // "user:HASH"
	script := []string{
		"addauth digest " + testZKDigest,
		"setAcl -R " + root + " digest:" + hash + ":cdrwa,world:anyone:r",
	}
	for _, p := range []string{"/config", "/kafka-acl", "/kafka-acl-extended", "/kafka-acl-changes", "/kafka-acl-extended-changes"} {
		script = append(script, "setAcl -R "+root+p+" digest:"+hash+":cdrwa")
	}
	out, err := zkServer.CLI(strings.Join(script, "\n"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	z := openTestZK(t, connect, 1, secureZK)
	if _, err := z.CreateTopic(Topic{Name: "new", Partitions: one}); err != nil {
		t.Fatal(err)
	}
	wantACLs(t, z.ACLs(), literal, prefixed)
	seen := checkTreeACLs(t, rawClient(t, testZKDigest), root)
	for _, p := range []string{"/config/users/alice", "/config/topics/orders", "/kafka-acl/Topic/orders", "/kafka-acl-extended/prefixed/Group/app-", "/brokers/topics/new", "/brokers/ids/1"} {
		if !seen[p] {
			t.Errorf("walk did not reach %s", p)
		}
	}
	if t.Failed() {
		t.Logf("zkCli output:\n%s", out)
	}
	anon := rawClient(t, "")
	_, _, err = anon.Get(root + "/config/users/alice")
	wantNoAuth(t, "after: anonymous get /config/users/alice", err)
	if _, _, err := anon.Get(root + "/brokers/topics/orders"); err != nil {
		t.Fatalf("after: anonymous get of an assignment: %v", err)
	}
}

// Every znode creation goes through ZK.create or ZK.createRequest, which
// apply the path's ACL: no other store file calls the client's Create or
// builds a zk.CreateRequest itself (TestZKSecureACLs checks the result on
// the nodes a broker makes; this catches create paths a test does not
// exercise).
func TestZKCreatesGoThroughTheACLHelper(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "zk_security.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "go-zookeeper/zk") {
			continue
		}
		checked++
		for _, banned := range []string{"conn.Create(", "zk.CreateRequest{", "WorldACL(", "CreateProtectedEphemeralSequential(", "CreateContainer(", "CreateTTL("} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %s: create znodes with z.create / z.createRequest so they get their ACL", f, banned)
			}
		}
	}
	if checked < 8 {
		t.Fatalf("checked only %d store files", checked)
	}
}
