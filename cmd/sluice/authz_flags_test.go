package main

import (
	"flag"
	"io"
	"slices"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
)

func TestAuthzFlags(t *testing.T) {
	parse := func(args ...string) (serveSettings, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return parseServeArgs(fs, args)
	}
	s, err := parse()
	if err != nil || s.node.AuthorizerKind != "none" || len(s.node.SuperUsers) != 0 {
		t.Fatalf("defaults: %q %v %v", s.node.AuthorizerKind, s.node.SuperUsers, err)
	}
	s, err = parse("--authorizer", "acl", "--super-users", "User:admin, User:broker")
	if err != nil || s.node.AuthorizerKind != "acl" || !slices.Equal(s.node.SuperUsers, []auth.Principal{"User:admin", "User:broker"}) {
		t.Fatalf("acl: %q %v %v", s.node.AuthorizerKind, s.node.SuperUsers, err)
	}
	t.Setenv("SLUICE_AUTHORIZER", "acl")
	if s, err = parse(); err != nil || s.node.AuthorizerKind != "acl" {
		t.Fatalf("env: %q %v", s.node.AuthorizerKind, err)
	}
	for _, bad := range [][]string{{"--authorizer", "simple"}, {"--super-users", "admin"}, {"--super-users", "User:"}} {
		if _, err := parse(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
