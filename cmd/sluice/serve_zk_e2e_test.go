package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicemq/sluice/core/meta/zktest"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// startSecureZKNode runs `serve` settings parsed from args (plus loopback
// listeners) in-process until the test ends; it returns the Kafka
// address, or the error if the node stopped before serving.
func startSecureZKNode(t *testing.T, args ...string) (string, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The ACL authorizer keeps its ACLs in ZooKeeper; the test's client is
	// anonymous, so make that principal a super user.
	args = append(args, "--kafka-addr", "127.0.0.1:0", "--http-addr", "off", "--zookeeper-session-timeout", "4s",
		"--authorizer", "acl", "--super-users", "User:ANONYMOUS")
	s, err := parseServeArgs(fs, args)
	if err != nil {
		t.Fatal(err)
	}
	opts := s.node
	opts.Bridge, opts.Plugins = s.bridge, s.plugins
	n, err := testkit.TryStartNode(t, testkit.WithConfig(func(c *node.Config) {
		dataDir := c.DataDir // the kit's temporary directory
		*c = s.broker
		c.DataDir = dataDir
	}), testkit.WithOptions(opts), testkit.WithLogCapture(slog.LevelDebug), testkit.WithStartTimeout(60*time.Second))
	if err != nil {
		return "", err
	}
	return n.Addrs.Kafka, nil
}

// `serve --zookeeper-auth-file F --zookeeper-set-acl`: Kafka clients
// create a topic, a SCRAM user and an ACL through the broker; ZooKeeper
// holds them behind the digest identity, and a broker started with another
// digest refuses to start, naming the problem.
func TestServeSecureZooKeeper(t *testing.T) {
	zks := zktest.Start(t)
	dir := t.TempDir()
	authFile := filepath.Join(dir, "zk-digest")
	if err := os.WriteFile(authFile, []byte("sluice:zk-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const chroot = "/secure-cluster"
	connect := zks.Addr + chroot
	addr, err := startSecureZKNode(t, "--zookeeper", connect, "--zookeeper-auth-file", authFile, "--zookeeper-set-acl")
	if err != nil {
		t.Fatal(err)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r, err := adm.CreateTopic(ctx, 2, 1, nil, "payments"); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic: %v, %v", err, r.Err)
	}
	alt, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"}})
	if err != nil || alt["alice"].Err != nil {
		t.Fatalf("AlterUserSCRAMs: %v, %+v", err, alt)
	}
	acl := kadm.NewACLs().Allow("User:alice").Topics("payments").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral)
	cr, err := adm.CreateACLs(ctx, acl)
	if err != nil || len(cr) != 1 || cr[0].Err != nil {
		t.Fatalf("CreateACLs: %v, %+v", err, cr)
	}
	users, err := adm.DescribeUserSCRAMs(ctx, "alice")
	if err != nil || users["alice"].Err != nil || len(users["alice"].CredInfos) != 1 {
		t.Fatalf("DescribeUserSCRAMs: %v, %+v", err, users)
	}

	anon := zks.Client(t)
	for _, p := range []string{"/config/users/alice", "/kafka-acl/Topic/payments", "/config/topics/payments"} {
		if _, _, err := anon.Get(chroot + p); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous get %s: err = %v, want zk.ErrNoAuth", p, err)
		}
	}
	if _, err := anon.Set(chroot+"/kafka-acl/Topic/payments", []byte(`{"version":1,"acls":[]}`), -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("anonymous set of an ACL node: err = %v, want zk.ErrNoAuth", err)
	}
	if ids, _, err := anon.Children(chroot + "/brokers/ids"); err != nil || !slices.Equal(ids, []string{"0"}) {
		t.Errorf("anonymous children /brokers/ids = %v, %v; want [0]", ids, err)
	}
	if parts, _, err := anon.Children(chroot + "/brokers/topics/payments/partitions"); err != nil || len(parts) != 2 {
		t.Errorf("anonymous children of payments' partitions = %v, %v; want 2", parts, err)
	}

	// A second broker with another digest: a clear error at start.
	wrongFile := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrongFile, []byte("sluice:not-the-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = startSecureZKNode(t, "--zookeeper", connect, "--broker-id", "1", "--zookeeper-auth-file", wrongFile, "--zookeeper-set-acl")
	if err == nil {
		t.Fatal("a broker with the wrong digest started")
	}
	if !strings.Contains(err.Error(), `zookeeper denied digest user "sluice" access to `+chroot+"/config (NoAuth)") {
		t.Fatalf("wrong digest: error %q", err)
	}
	t.Logf("wrong digest refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
