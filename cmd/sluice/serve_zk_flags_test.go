package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/meta"
)

func TestZKSecurityFlags(t *testing.T) {
	parse := func(args ...string) (serveSettings, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseServeArgs(fs, args)
	}
	dir := t.TempDir()
	authFile := filepath.Join(dir, "zk-digest")
	if err := os.WriteFile(authFile, []byte("sluice:pa:ss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFile := filepath.Join(dir, "bad")
	if err := os.WriteFile(badFile, []byte("no-colon\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s, err := parse("--zookeeper", "127.0.0.1:2181")
	if err != nil || s.node.ZooKeeperSecurity != (meta.ZKSecurity{}) {
		t.Fatalf("defaults: %+v, %v", s.node.ZooKeeperSecurity, err)
	}
	s, err = parse("--zookeeper", "127.0.0.1:2181/sluice", "--zookeeper-auth-file", authFile, "--zookeeper-set-acl")
	if want := (meta.ZKSecurity{Digest: "sluice:pa:ss", SetACL: true}); err != nil || s.node.ZooKeeperSecurity != want {
		t.Fatalf("flags: %+v, %v; want %+v", s.node.ZooKeeperSecurity, err, want)
	}
	// The same from a config file, as `flag value` lines.
	cfg := filepath.Join(dir, "sluice.conf")
	conf := "zookeeper 127.0.0.1:2181\nzookeeper-auth-file " + authFile + "\nzookeeper.set.acl true\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = parse("--config", cfg)
	if want := (meta.ZKSecurity{Digest: "sluice:pa:ss", SetACL: true}); err != nil || s.node.ZooKeeperSecurity != want {
		t.Fatalf("config file: %+v, %v; want %+v", s.node.ZooKeeperSecurity, err, want)
	}
	// Digest alone: authenticated session, open ACLs.
	s, err = parse("--zookeeper", "127.0.0.1:2181", "--zookeeper-auth-file", authFile)
	if want := (meta.ZKSecurity{Digest: "sluice:pa:ss"}); err != nil || s.node.ZooKeeperSecurity != want {
		t.Fatalf("auth file alone: %+v, %v", s.node.ZooKeeperSecurity, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--zookeeper", "127.0.0.1:2181", "--zookeeper-set-acl"}, "needs --zookeeper-auth-file"},
		{[]string{"--zookeeper-auth-file", authFile}, "applies only with --zookeeper"},
		{[]string{"--zookeeper", "127.0.0.1:2181", "--zookeeper-auth-file", badFile}, `"user:password"`},
		{[]string{"--zookeeper", "127.0.0.1:2181", "--zookeeper-auth-file", filepath.Join(dir, "missing")}, "no such file"},
	} {
		_, err := parse(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %s", tc.args, err, tc.want)
		}
	}
}
