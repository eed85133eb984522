package tlsreload_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicemq/sluice/core/auth/tlsreload"
)

// writePair writes a fresh self-signed certificate for 127.0.0.1 with the
// given serial number.
func writePair(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "sluice-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	// Write to temporaries and rename, as certificate tools do.
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{keyFile, "EC PRIVATE KEY", kder}, {certFile, "CERTIFICATE", der}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// servedSerial connects over TLS and returns the serial the server shows.
func servedSerial(t *testing.T, addr string) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func TestReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, certFile, keyFile, 1)
	rl, err := tlsreload.New(certFile, keyFile, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", rl.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	if s := servedSerial(t, ln.Addr().String()); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	writePair(t, certFile, keyFile, 2)
	deadline := time.Now().Add(5 * time.Second)
	for servedSerial(t, ln.Addr().String()) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("certificate not reloaded within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken file keeps the last good certificate.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := rl.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if s := servedSerial(t, ln.Addr().String()); s != 2 {
		t.Fatalf("after a failed reload serial %d, want 2", s)
	}
	// TLS 1.1 and older are refused.
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestNewFailsWithoutAPair(t *testing.T) {
	dir := t.TempDir()
	if _, err := tlsreload.New(filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), 0, nil); err == nil {
		t.Fatal("missing files accepted")
	}
	if _, err := tlsreload.New("a", "", 0, nil); err == nil {
		t.Fatal("missing key accepted")
	}
}

// TestReloadOnSIGHUP: with file polling effectively off, SIGHUP reloads.
func TestReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, certFile, keyFile, 10)
	rl, err := tlsreload.New(certFile, keyFile, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	serial := func() int64 {
		c, _ := rl.GetCertificate(nil)
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x.SerialNumber.Int64()
	}
	writePair(t, certFile, keyFile, 11)
	if s := serial(); s != 10 {
		t.Fatalf("serial %d before SIGHUP, want 10", s)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for serial() != 11 {
		if time.Now().After(deadline) {
			t.Fatal("not reloaded on SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
