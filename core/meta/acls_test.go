package meta

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testACL(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACLBinding {
	return ACLBinding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: perm}
}

var (
	aclReadT   = testACL(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:alice", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	aclWriteT  = testACL(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLResourcePatternTypeLiteral, "User:bob", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeAllow)
	aclPrefix  = testACL(kmsg.ACLResourceTypeTopic, "logs-", kmsg.ACLResourcePatternTypePrefixed, "User:alice", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny)
	aclGroup   = testACL(kmsg.ACLResourceTypeGroup, "g", kmsg.ACLResourcePatternTypeLiteral, "User:*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	aclCluster = testACL(kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLResourcePatternTypeLiteral, "User:broker", kmsg.ACLOperationClusterAction, kmsg.ACLPermissionTypeAllow)
)

func aclSet(bs []ACLBinding) map[ACLBinding]int {
	m := map[ACLBinding]int{}
	for _, b := range bs {
		m[b]++
	}
	return m
}

func wantACLs(t *testing.T, got []ACLBinding, want ...ACLBinding) {
	t.Helper()
	g, w := aclSet(got), aclSet(want)
	if len(got) != len(want) || len(g) != len(w) {
		t.Fatalf("got %d ACLs %v, want %d %v", len(got), got, len(want), want)
	}
	for b, n := range w {
		if g[b] != n {
			t.Fatalf("missing %+v in %v", b, got)
		}
	}
}

// exerciseACLStore runs the same create/dedup/delete sequence on any store.
func exerciseACLStore(t *testing.T, s ACLStore) {
	ch := s.ACLChanges()
	if err := s.CreateACLs([]ACLBinding{aclReadT, aclWriteT, aclPrefix, aclGroup, aclCluster, aclReadT}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("ACLChanges did not fire")
	}
	wantACLs(t, s.ACLs(), aclReadT, aclWriteT, aclPrefix, aclGroup, aclCluster)
	// Invalid bindings are refused whole.
	bad := aclReadT
	bad.PatternType = kmsg.ACLResourcePatternTypeMatch
	if err := s.CreateACLs([]ACLBinding{bad}); err == nil {
		t.Fatal("MATCH pattern accepted")
	}
	name := "t"
	removed, err := s.DeleteACLs([]ACLFilter{
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: &name, PatternType: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAny},
		{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypePrefixed, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny},
		{ResourceType: kmsg.ACLResourceTypeUser, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Fatalf("removed has %d results", len(removed))
	}
	wantACLs(t, removed[0], aclReadT)
	wantACLs(t, removed[1], aclPrefix)
	wantACLs(t, removed[2])
	wantACLs(t, s.ACLs(), aclWriteT, aclGroup, aclCluster)
}

func TestLocalACLs(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLocal(dir, testBroker(1))
	if err != nil {
		t.Fatal(err)
	}
	wantACLs(t, l.ACLs())
	exerciseACLStore(t, l)
	// They survive a restart.
	l2, err := OpenLocal(dir, testBroker(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.StartACLs(); err != nil {
		t.Fatal(err)
	}
	wantACLs(t, l2.ACLs(), aclWriteT, aclGroup, aclCluster)
}

func TestZKACLs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ZooKeeper")
	}
	connect := testConnect(t)
	z1 := openTestZK(t, connect, 1, ZKOptions{})
	z2 := openTestZK(t, connect, 2, ZKOptions{})
	wantACLs(t, z2.ACLs())
	ch2 := z2.ACLChanges()
	start := time.Now()
	exerciseACLStore(t, z1)
	// Broker 2 follows broker 1's writes through the notifications.
	select {
	case <-ch2:
	case <-time.After(time.Second):
		t.Fatal("broker 2 not notified within a second")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(z2.ACLs()) != 3 && time.Now().Before(deadline) {
		select {
		case <-z2.ACLChanges():
		case <-time.After(100 * time.Millisecond):
		}
	}
	wantACLs(t, z2.ACLs(), aclWriteT, aclGroup, aclCluster)
	t.Logf("broker 2 converged in %v", time.Since(start))

	// Kafka's layout: one znode per resource, Kafka's JSON.
	data, _, err := z1.conn.Get(z1.abs("/kafka-acl/Topic/t"))
	if err != nil {
		t.Fatal(err)
	}
	var n zkACLNode
	if err := json.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	if n.Version != 1 || len(n.ACLs) != 1 || n.ACLs[0] != (zkACLEntry{Principal: "User:bob", PermissionType: "Allow", Operation: "Write", Host: "*"}) {
		t.Fatalf("/kafka-acl/Topic/t = %s", data)
	}
	if _, _, err := z1.conn.Get(z1.abs("/kafka-acl-extended/prefixed/Topic/logs-")); err != zk.ErrNoNode {
		t.Fatalf("deleted prefixed node still there: %v", err)
	}
	kids, _, err := z1.conn.Children(z1.abs("/kafka-acl-changes"))
	if err != nil || len(kids) == 0 {
		t.Fatalf("no change notifications: %v %v", kids, err)
	}
	// A binding written by another tool (Kafka's layout) is picked up.
	ext := `{"version":1,"acls":[{"principal":"User:carol","permissionType":"Allow","operation":"IdempotentWrite","host":"10.1.1.1"}]}`
	if _, err := z1.conn.Create(z1.abs("/kafka-acl/Cluster/kafka-cluster2"), []byte(ext), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := z1.conn.Create(z1.abs("/kafka-acl-changes/acl_changes_"), []byte("Cluster:kafka-cluster2"), zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	carol := ACLBinding{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: "kafka-cluster2", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:carol", Host: "10.1.1.1", Operation: kmsg.ACLOperationIdempotentWrite, Permission: kmsg.ACLPermissionTypeAllow}
	deadline = time.Now().Add(10 * time.Second) // generous: ZooKeeper watches under a loaded CI machine
	for len(z2.ACLs()) != 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	wantACLs(t, z2.ACLs(), aclWriteT, aclGroup, aclCluster, carol)

	// A prefixed one, with Kafka's extended notification.
	ext = `{"version":1,"acls":[{"principal":"User:dan","permissionType":"Deny","operation":"Read","host":"*"}]}`
	if _, err := z1.conn.Create(z1.abs("/kafka-acl-extended/prefixed/Group"), nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
		t.Fatal(err)
	}
	if _, err := z1.conn.Create(z1.abs("/kafka-acl-extended/prefixed/Group/app-"), []byte(ext), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	note := `{"version":1,"resourceType":"Group","name":"app-","patternType":"PREFIXED"}`
	if _, err := z1.conn.Create(z1.abs("/kafka-acl-extended-changes/acl_changes_"), []byte(note), zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	dan := ACLBinding{ResourceType: kmsg.ACLResourceTypeGroup, ResourceName: "app-", PatternType: kmsg.ACLResourcePatternTypePrefixed,
		Principal: "User:dan", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeDeny}
	deadline = time.Now().Add(10 * time.Second) // generous: ZooKeeper watches under a loaded CI machine
	for len(z2.ACLs()) != 5 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	wantACLs(t, z2.ACLs(), aclWriteT, aclGroup, aclCluster, carol, dan)
	wantACLs(t, z1.ACLs(), aclWriteT, aclGroup, aclCluster, carol, dan)
}

func TestParseACLChange(t *testing.T) {
	for _, tc := range []struct {
		path, data string
		want       zkACLResource
		ok         bool
	}{
		{zkACLChangesPath, "Topic:orders", zkACLResource{kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypeLiteral, "orders"}, true},
		{zkACLChangesPath, "Group:a:b", zkACLResource{kmsg.ACLResourceTypeGroup, kmsg.ACLResourcePatternTypeLiteral, "a:b"}, true},
		{zkACLChangesPath, "Nope:x", zkACLResource{}, false},
		{zkACLChangesPath, "Topic:", zkACLResource{}, false},
		{zkACLExtendedChangesPath, `{"version":1,"resourceType":"Topic","name":"logs-","patternType":"PREFIXED"}`, zkACLResource{kmsg.ACLResourceTypeTopic, kmsg.ACLResourcePatternTypePrefixed, "logs-"}, true},
		{zkACLExtendedChangesPath, `{"version":1,"resourceType":"Topic","name":"logs-","patternType":"LITERAL"}`, zkACLResource{}, false},
		{zkACLExtendedChangesPath, `garbage`, zkACLResource{}, false},
	} {
		got, ok := parseACLChange(tc.path, []byte(tc.data))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s %q: %+v %v, want %+v %v", tc.path, tc.data, got, ok, tc.want, tc.ok)
		}
	}
}
