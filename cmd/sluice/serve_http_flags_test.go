package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeHTTPSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "admin-tokens")
	if err := os.WriteFile(tokens, []byte("User:ops 0123456789abcdefgh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := parseServe(t, "--admin-addr", "127.0.0.1:9644", "--admin-token-file", tokens,
		"--admin-allowed-origins", "https://a.example, https://b.example", "--http-tls-cert", "c.pem", "--http-tls-key", "k.pem")
	if err != nil {
		t.Fatal(err)
	}
	o := s.node
	if o.Admin.Addr != "127.0.0.1:9644" || len(o.Admin.Tokens) != 1 || o.Admin.Tokens[0].Principal != "User:ops" ||
		strings.Join(o.Admin.AllowedOrigins, "|") != "https://a.example|https://b.example" ||
		o.HTTPTLS.CertFile != "c.pem" || o.HTTPTLS.KeyFile != "k.pem" {
		t.Fatalf("%+v", o)
	}
	if _, err := parseServe(t, "--http-tls-cert", "c.pem"); err == nil || !strings.Contains(err.Error(), "--http-tls-key go together") {
		t.Fatalf("cert without key: %v", err)
	}
	if _, err := parseServe(t, "--admin-token-file", filepath.Join(dir, "missing")); err == nil {
		t.Fatal("missing token file accepted")
	}
}
