package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/internal/testkit"
	"github.com/sluicemq/sluice/node"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestUserCommandsOverSASLSSL: the client flags log in with SCRAM over TLS;
// user create/list/delete manage users, and a created user can log in.
func TestUserCommandsOverSASLSSL(t *testing.T) {
	clearServeEnv(t)
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	adminPW := filepath.Join(dir, "admin.pw")
	os.WriteFile(adminPW, []byte("admin-pw\n"), 0o600)
	sec := node.Security{Protocol: node.ProtocolSASLSSL, TLSCert: cert, TLSKey: key,
		BootstrapUser: "admin", BootstrapPasswordFile: adminPW}
	addrs := testkit.StartNode(t, testkit.WithLogCapture(slog.LevelInfo), testkit.WithOptions(node.Options{Security: sec})).Addrs
	addr := addrs.Kafka
	conn := []string{"--brokers", addr, "--tls-ca", cert, "--timeout", "15s"}
	admin := append([]string{"--user", "admin", "--password-file", adminPW}, conn...)

	passwordInput = strings.NewReader("bob-secret\n")
	t.Cleanup(func() { passwordInput = os.Stdin })
	out := mustSluice(t, append([]string{"user", "create", "bob", "--mechanism", "SCRAM-SHA-256", "--password-stdin"}, admin...)...)
	if out != "User \"bob\": SCRAM-SHA-256 credential set.\n" {
		t.Fatalf("create printed %q", out)
	}
	out = mustSluice(t, append([]string{"user", "list"}, admin...)...)
	want := "USER   MECHANISM      ITERATIONS\nadmin  SCRAM-SHA-256  4096\nadmin  SCRAM-SHA-512  4096\nbob    SCRAM-SHA-256  8192\n"
	if out != want {
		t.Fatalf("list printed:\n%s\nwant:\n%s", out, want)
	}
	// bob logs in through the environment variables.
	t.Setenv("SLUICE_USER", "bob")
	t.Setenv("SLUICE_PASSWORD", "bob-secret")
	t.Setenv("SLUICE_SASL_MECHANISM", "SCRAM-SHA-256")
	mustSluice(t, append([]string{"topic", "create", "by-bob"}, conn...)...)
	// The HTTP bridge reaches the SASL_SSL listener with the node's own
	// credential: a REST produce is stored.
	resp, err := http.Post("http://"+addrs.HTTP+"/topics/by-bob", "application/vnd.kafka.json.v2+json",
		strings.NewReader(`{"records":[{"value":{"a":1}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"offset":0`) {
		t.Fatalf("bridge produce over SASL_SSL: %d %s", resp.StatusCode, body)
	}
	t.Setenv("SLUICE_PASSWORD", "wrong")
	if r := runSluice(append([]string{"topic", "list"}, conn...)...); r.code != exitError || !strings.Contains(r.stderr, "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("wrong password: exit %d, stderr %q", r.code, r.stderr)
	}
	os.Unsetenv("SLUICE_USER")
	os.Unsetenv("SLUICE_PASSWORD")
	os.Unsetenv("SLUICE_SASL_MECHANISM")
	// No credentials at all: refused.
	if r := runSluice(append([]string{"user", "list", "--timeout", "3s"}, conn...)...); r.code != exitError {
		t.Fatalf("anonymous user list: exit %d, stdout %q", r.code, r.stdout)
	}
	out = mustSluice(t, append([]string{"user", "delete", "bob"}, admin...)...)
	if out != "User \"bob\" deleted.\n" {
		t.Fatalf("delete printed %q", out)
	}
	if r := runSluice(append([]string{"user", "delete", "bob"}, admin...)...); r.code != exitError || !strings.Contains(r.stderr, "RESOURCE_NOT_FOUND") {
		t.Fatalf("second delete: exit %d, stderr %q", r.code, r.stderr)
	}
	r := runSluice(append([]string{"user", "create", "carol"}, admin...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "--password-stdin is required") {
		t.Fatalf("create without --password-stdin: %+v", r)
	}
}
