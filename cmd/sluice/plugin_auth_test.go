package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/auth/httpauth"
	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

type testPasswords map[string]string

func (p testPasswords) VerifyPassword(u, pw string) bool { v, ok := p[u]; return ok && v == pw }

// TestPluginCommandAuthenticates: `sluice plugin` against an admin API
// that needs an administrator: refused without credentials, served with a
// token file or a user and password file.
func TestPluginCommandAuthenticates(t *testing.T) {
	const token = "cli-admin-token-0123456789"
	n := testkit.StartNode(t, testkit.WithOptions(node.Options{
		PasswordVerifier: testPasswords{"alice": "wonderland"},
		Admin:            node.AdminOptions{Tokens: []httpauth.Token{{Principal: auth.User("admin"), Secret: token}}},
	}))
	base := n.HTTPBase
	dir := t.TempDir()
	tokenFile, pwFile := filepath.Join(dir, "token"), filepath.Join(dir, "pw")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	os.WriteFile(pwFile, []byte("wonderland\n"), 0o600)

	r := runSluice("plugin", "list", "--http", base)
	if r.code == exitOK || !strings.Contains(r.stderr, "authentication required") || !strings.Contains(r.stderr, "HTTP 401") {
		t.Fatalf("without credentials: exit %d, stderr %s", r.code, r.stderr)
	}
	if out := mustSluice(t, "plugin", "list", "--http", base, "--admin-token-file", tokenFile); strings.TrimSpace(out) != "No plugins." {
		t.Fatalf("with token: %q", out)
	}
	if out := mustSluice(t, "plugin", "list", "--http", base, "--user", "alice", "--password-file", pwFile); strings.TrimSpace(out) != "No plugins." {
		t.Fatalf("with user: %q", out)
	}
	os.WriteFile(pwFile, []byte("wrong\n"), 0o600)
	if r := runSluice("plugin", "list", "--http", base, "--user", "alice", "--password-file", pwFile); r.code == exitOK || !strings.Contains(r.stderr, "HTTP 401") {
		t.Fatalf("wrong password: exit %d, stderr %s", r.code, r.stderr)
	}
}
