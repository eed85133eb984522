package acl

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/meta"
)

const (
	lit    = kmsg.ACLResourcePatternTypeLiteral
	pre    = kmsg.ACLResourcePatternTypePrefixed
	allowP = kmsg.ACLPermissionTypeAllow
	denyP  = kmsg.ACLPermissionTypeDeny
)

func bind(rt auth.ResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op auth.Operation, perm kmsg.ACLPermissionType) meta.ACLBinding {
	return meta.ACLBinding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

func TestAuthorizeRules(t *testing.T) {
	alice := auth.Identity{Principal: "User:alice", Host: "10.0.0.1"}
	aliceOther := auth.Identity{Principal: "User:alice", Host: "10.0.0.2"}
	bob := auth.Identity{Principal: "User:bob", Host: "10.0.0.1"}
	admin := auth.Identity{Principal: "User:admin", Host: "10.0.0.9"}
	cases := []struct {
		name     string
		acls     []meta.ACLBinding
		id       auth.Identity
		op       auth.Operation
		rt       auth.ResourceType
		resource string
		want     bool
	}{
		{"no acls: denied", nil, alice, auth.OpRead, auth.ResTopic, "t", false},
		{"super user without acls", nil, admin, auth.OpDelete, auth.ResCluster, auth.ClusterResource, true},
		{"super user despite deny", []meta.ACLBinding{bind(auth.ResTopic, "*", lit, "User:*", "*", auth.OpAll, denyP)}, admin, auth.OpRead, auth.ResTopic, "t", true},
		{"literal allow", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResTopic, "t", true},
		{"literal other name", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResTopic, "t2", false},
		{"literal other principal", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, bob, auth.OpRead, auth.ResTopic, "t", false},
		{"literal other op", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpWrite, auth.ResTopic, "t", false},
		{"literal other type", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResGroup, "t", false},
		{"wildcard resource", []meta.ACLBinding{bind(auth.ResTopic, "*", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResTopic, "anything", true},
		{"wildcard principal", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:*", "*", auth.OpRead, allowP)}, bob, auth.OpRead, auth.ResTopic, "t", true},
		{"prefixed allow", []meta.ACLBinding{bind(auth.ResTopic, "orders-", pre, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTopic, "orders-eu", true},
		{"prefixed exact name", []meta.ACLBinding{bind(auth.ResTopic, "orders-", pre, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTopic, "orders-", true},
		{"prefixed no match", []meta.ACLBinding{bind(auth.ResTopic, "orders-", pre, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTopic, "orders", false},
		{"prefixed is not a wildcard", []meta.ACLBinding{bind(auth.ResTopic, "*", pre, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTopic, "orders", false},
		{"literal is not a prefix", []meta.ACLBinding{bind(auth.ResTopic, "orders-", lit, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTopic, "orders-eu", false},
		{"host exact", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "10.0.0.1", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResTopic, "t", true},
		{"host other", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "10.0.0.1", auth.OpRead, allowP)}, aliceOther, auth.OpRead, auth.ResTopic, "t", false},
		{"deny wins over allow", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, denyP)}, alice, auth.OpRead, auth.ResTopic, "t", false},
		{"wildcard deny wins over literal allow", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "*", lit, "User:*", "*", auth.OpRead, denyP)}, alice, auth.OpRead, auth.ResTopic, "t", false},
		{"prefixed deny wins", []meta.ACLBinding{
			bind(auth.ResTopic, "*", lit, "User:alice", "*", auth.OpAll, allowP),
			bind(auth.ResTopic, "secret-", pre, "User:alice", "*", auth.OpRead, denyP)}, alice, auth.OpRead, auth.ResTopic, "secret-x", false},
		{"host deny only for that host", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "10.0.0.2", auth.OpRead, denyP)}, alice, auth.OpRead, auth.ResTopic, "t", true},
		{"host deny applies", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "10.0.0.2", auth.OpRead, denyP)}, aliceOther, auth.OpRead, auth.ResTopic, "t", false},
		{"deny other op does not deny", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpWrite, denyP)}, alice, auth.OpRead, auth.ResTopic, "t", true},
		{"deny All denies everything", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpAll, denyP)}, alice, auth.OpDescribe, auth.ResTopic, "t", false},
		{"allow All", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpAll, allowP)}, alice, auth.OpDelete, auth.ResTopic, "t", true},
		{"Read implies Describe", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpDescribe, auth.ResTopic, "t", true},
		{"Write implies Describe", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpDescribe, auth.ResTopic, "t", true},
		{"Delete implies Describe", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpDelete, allowP)}, alice, auth.OpDescribe, auth.ResTopic, "t", true},
		{"Alter implies Describe", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpAlter, allowP)}, alice, auth.OpDescribe, auth.ResTopic, "t", true},
		{"Create does not imply Describe", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpCreate, allowP)}, alice, auth.OpDescribe, auth.ResTopic, "t", false},
		{"Describe does not imply Read", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpDescribe, allowP)}, alice, auth.OpRead, auth.ResTopic, "t", false},
		{"AlterConfigs implies DescribeConfigs", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpAlterConfigs, allowP)}, alice, auth.OpDescribeConfigs, auth.ResTopic, "t", true},
		{"DescribeConfigs does not imply AlterConfigs", []meta.ACLBinding{bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpDescribeConfigs, allowP)}, alice, auth.OpAlterConfigs, auth.ResTopic, "t", false},
		{"deny Read does not deny Describe", []meta.ACLBinding{
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpDescribe, allowP),
			bind(auth.ResTopic, "t", lit, "User:alice", "*", auth.OpRead, denyP)}, alice, auth.OpDescribe, auth.ResTopic, "t", true},
		{"cluster action", []meta.ACLBinding{bind(auth.ResCluster, auth.ClusterResource, lit, "User:broker", "*", auth.OpClusterAction, allowP)}, auth.Identity{Principal: "User:broker", Host: "x"}, auth.OpClusterAction, auth.ResCluster, auth.ClusterResource, true},
		{"group prefixed", []meta.ACLBinding{bind(auth.ResGroup, "app-", pre, "User:alice", "*", auth.OpRead, allowP)}, alice, auth.OpRead, auth.ResGroup, "app-1", true},
		{"transactional id", []meta.ACLBinding{bind(auth.ResTransactionalID, "tx", lit, "User:alice", "*", auth.OpWrite, allowP)}, alice, auth.OpWrite, auth.ResTransactionalID, "tx", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := New([]auth.Principal{"User:admin"})
			a.Set(tc.acls)
			if got := a.Authorize(tc.id, tc.op, tc.rt, tc.resource); got != tc.want {
				t.Fatalf("Authorize(%v, %v, %v, %q) = %v, want %v", tc.id, tc.op, tc.rt, tc.resource, got, tc.want)
			}
		})
	}
}

func TestAuthorizeAny(t *testing.T) {
	alice := auth.Identity{Principal: "User:alice", Host: "h"}
	a := New(nil)
	if a.AuthorizeAny(alice, auth.OpWrite, auth.ResTopic) {
		t.Fatal("no ACLs: Write on some topic allowed")
	}
	a.Set([]meta.ACLBinding{bind(auth.ResTopic, "logs-", pre, "User:alice", "*", auth.OpWrite, allowP)})
	if !a.AuthorizeAny(alice, auth.OpWrite, auth.ResTopic) {
		t.Fatal("prefixed Write not found")
	}
	if a.AuthorizeAny(auth.Identity{Principal: "User:bob", Host: "h"}, auth.OpWrite, auth.ResTopic) {
		t.Fatal("bob has no Write")
	}
	a.Set([]meta.ACLBinding{
		bind(auth.ResTopic, "logs-", pre, "User:alice", "*", auth.OpWrite, allowP),
		bind(auth.ResTopic, "*", lit, "User:alice", "*", auth.OpWrite, denyP),
	})
	if a.AuthorizeAny(alice, auth.OpWrite, auth.ResTopic) {
		t.Fatal("deny on * ignored")
	}
}

func TestFilterMatches(t *testing.T) {
	b := bind(auth.ResTopic, "orders-", pre, "User:alice", "*", auth.OpWrite, allowP)
	w := bind(auth.ResTopic, "*", lit, "User:bob", "*", auth.OpRead, allowP)
	l := bind(auth.ResTopic, "orders-eu", lit, "User:bob", "*", auth.OpRead, allowP)
	str := func(s string) *string { return &s }
	cases := []struct {
		name string
		f    meta.ACLFilter
		want [3]bool
	}{
		{"any", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, [3]bool{true, true, true}},
		{"match orders-eu", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: str("orders-eu"), PatternType: kmsg.ACLResourcePatternTypeMatch, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, [3]bool{true, true, true}},
		{"match other", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: str("x"), PatternType: kmsg.ACLResourcePatternTypeMatch, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, [3]bool{false, true, false}},
		{"literal only", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeTopic, PatternType: lit, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, [3]bool{false, true, true}},
		{"prefixed name", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: str("orders-"), PatternType: pre, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}, [3]bool{true, false, false}},
		{"principal bob read", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Principal: str("User:bob"), Operation: auth.OpRead, Permission: allowP}, [3]bool{false, true, true}},
		{"deny only", meta.ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationAny, Permission: denyP}, [3]bool{false, false, false}},
	}
	for _, tc := range cases {
		got := [3]bool{tc.f.Matches(b), tc.f.Matches(w), tc.f.Matches(l)}
		if got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// BenchmarkAuthorize checks one topic against 1,000 bindings: 700
// literal topic ACLs, 200 prefixed ones (20 distinct prefix lengths), 100
// group ACLs, a wildcard deny for another principal.
func BenchmarkAuthorize(b *testing.B) {
	var bs []meta.ACLBinding
	for i := 0; i < 700; i++ {
		bs = append(bs, bind(auth.ResTopic, fmt.Sprintf("topic-%d", i), lit, fmt.Sprintf("User:u%d", i%50), "*", auth.OpRead, allowP))
	}
	for i := 0; i < 200; i++ {
		bs = append(bs, bind(auth.ResTopic, fmt.Sprintf("p%0*d-", 1+i%20, i), pre, fmt.Sprintf("User:u%d", i%50), "*", auth.OpWrite, allowP))
	}
	for i := 0; i < 99; i++ {
		bs = append(bs, bind(auth.ResGroup, fmt.Sprintf("g-%d", i), lit, "User:u1", "*", auth.OpRead, allowP))
	}
	bs = append(bs, bind(auth.ResTopic, "*", lit, "User:evil", "*", auth.OpAll, denyP))
	a := New(nil)
	a.Set(bs)
	id := auth.Identity{Principal: "User:u7", Host: "127.0.0.1"}
	if !a.Authorize(id, auth.OpRead, auth.ResTopic, "topic-357") {
		b.Fatal("expected allowed")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Authorize(id, auth.OpRead, auth.ResTopic, "topic-357")
	}
}
