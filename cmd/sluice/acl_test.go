package main

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// startSluiceACL runs a node with --authorizer acl and the given super
// users; it returns the Kafka address.
func startSluiceACL(t *testing.T, supers ...auth.Principal) string {
	t.Helper()
	return testkit.StartNode(t, testkit.WithoutHTTP(), testkit.WithLogCapture(slog.LevelDebug),
		testkit.WithOptions(node.Options{AuthorizerKind: "acl", SuperUsers: supers})).Addrs.Kafka
}

// TestACLCommandsEndToEnd: sluice acl create/list/delete with kafka-acls'
// flags against a broker whose super user is the (anonymous) CLI.
func TestACLCommandsEndToEnd(t *testing.T) {
	addr := startSluiceACL(t, auth.Anonymous)
	brokers := "--brokers=" + addr
	t.Setenv("SLUICE_BROKERS", "")

	if got := mustSluice(t, "acl", "list", brokers); got != "No ACLs.\n" {
		t.Fatalf("empty list: %q", got)
	}
	out := mustSluice(t, "acl", "create", brokers, "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Describe", "--topic", "orders", "--group", "app-", "--resource-pattern-type", "prefixed")
	if n := strings.Count(out, "Created "); n != 4 {
		t.Fatalf("create: %d created:\n%s", n, out)
	}
	mustSluice(t, "acl", "create", brokers, "--deny-principal", "User:bob", "--operation", "Write", "--topic", "orders", "--host", "10.0.0.7")
	mustSluice(t, "acl", "create", brokers, "--allow-principal", "User:ops", "--operation", "Alter", "--cluster")

	out = mustSluice(t, "acl", "list", brokers)
	wantLines(t, "list all", out,
		`RESOURCE-TYPE +NAME +PATTERN +PRINCIPAL +HOST +OPERATION +PERMISSION`,
		`CLUSTER +kafka-cluster +literal +User:ops +\* +ALTER +ALLOW`,
		`GROUP +app- +prefixed +User:alice +\* +DESCRIBE +ALLOW`,
		`GROUP +app- +prefixed +User:alice +\* +READ +ALLOW`,
		`TOPIC +orders +literal +User:bob +10.0.0.7 +WRITE +DENY`,
		`TOPIC +orders +prefixed +User:alice +\* +DESCRIBE +ALLOW`,
		`TOPIC +orders +prefixed +User:alice +\* +READ +ALLOW`,
	)
	if n := strings.Count(out, "\n"); n != 7 {
		t.Fatalf("list has %d lines:\n%s", n, out)
	}
	// match: every ACL that applies to topic orders-eu.
	out = mustSluice(t, "acl", "list", brokers, "--topic", "orders-eu", "--resource-pattern-type", "match")
	if strings.Count(out, "\n") != 3 || !strings.Contains(out, "User:alice") || strings.Contains(out, "User:bob") {
		t.Fatalf("match orders-eu:\n%s", out)
	}
	out = mustSluice(t, "acl", "list", brokers, "--allow-principal", "User:ops")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "kafka-cluster") {
		t.Fatalf("list ops:\n%s", out)
	}

	out = mustSluice(t, "acl", "delete", brokers, "--topic", "orders", "--resource-pattern-type", "prefixed", "--operation", "Read")
	if strings.Count(out, "Deleted ") != 1 || !strings.Contains(out, "operation=READ") {
		t.Fatalf("delete:\n%s", out)
	}
	if got := mustSluice(t, "acl", "delete", brokers, "--topic", "nothing"); got != "No matching ACLs.\n" {
		t.Fatalf("delete nothing: %q", got)
	}
	if out := mustSluice(t, "acl", "list", brokers); strings.Count(out, "\n") != 6 {
		t.Fatalf("after delete:\n%s", out)
	}

	// Mistakes are refused before anything is sent.
	for _, args := range [][]string{
		{"acl", "create", brokers, "--operation", "Read", "--topic", "x"},
		{"acl", "create", brokers, "--allow-principal", "alice", "--topic", "x"},
		{"acl", "create", brokers, "--allow-principal", "User:a", "--operation", "Fly", "--topic", "x"},
		{"acl", "create", brokers, "--allow-principal", "User:a"},
		{"acl", "create", brokers, "--allow-principal", "User:a", "--cluster", "--resource-pattern-type", "prefixed"},
		{"acl", "delete", brokers},
	} {
		if r := runSluice(args...); r.code != exitError || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

// TestACLCommandsNeedClusterAlter: without a grant, the CLI's principal is
// refused with CLUSTER_AUTHORIZATION_FAILED.
func TestACLCommandsNeedClusterAlter(t *testing.T) {
	addr := startSluiceACL(t)
	r := runSluice("acl", "create", "--brokers="+addr, "--allow-principal", "User:ANONYMOUS", "--operation", "All", "--cluster")
	if r.code != exitError || !strings.Contains(r.stderr, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Fatalf("create: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runSluice("acl", "list", "--brokers="+addr)
	if r.code != exitError || !strings.Contains(r.stderr, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Fatalf("list: exit %d, stderr %q", r.code, r.stderr)
	}
}
