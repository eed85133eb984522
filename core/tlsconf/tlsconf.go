// Package tlsconf builds the TLS configurations of Sluice's listeners and
// of its own clients: TLS 1.2 or newer, a certificate reloaded from its
// files without a restart, optional client-certificate verification.
package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// recheckEvery bounds how often handshakes look at the files' modification
// times: a renewed certificate is picked up within this long.
const recheckEvery = time.Second

// Reloader serves a certificate and key from files and reloads them when
// either file changes (checked at most once a second, on handshakes) or
// when Reload is called (on SIGHUP). A reload that fails (e.g. the
// certificate was written but not yet the key) keeps the previous pair.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // modification times and sizes of both files
	lastCheck time.Time
}

// NewReloader loads the pair once; it fails if they do not load.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) fileStamp() string {
	var b bytes.Buffer
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			b.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&b, "%d:%d;", st.ModTime().UnixNano(), st.Size())
	}
	return b.String()
}

// Reload reads the files now.
func (r *Reloader) Reload() error {
	stamp := r.fileStamp()
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s / %s: %w", r.certFile, r.keyFile, err)
	}
	if cert.Leaf == nil && len(cert.Certificate) > 0 {
		cert.Leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	r.mu.Lock()
	r.cert, r.stamp, r.lastCheck = &cert, stamp, time.Now()
	r.mu.Unlock()
	if cert.Leaf != nil {
		r.logger.Info("TLS certificate loaded", "file", r.certFile, "subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	}
	return nil
}

// current returns the certificate, reloading first if the files changed.
func (r *Reloader) current() *tls.Certificate {
	r.mu.Lock()
	check := time.Since(r.lastCheck) >= recheckEvery
	if check {
		r.lastCheck = time.Now()
	}
	cert, stamp := r.cert, r.stamp
	r.mu.Unlock()
	if check && r.fileStamp() != stamp {
		if err := r.Reload(); err != nil {
			r.logger.Warn("TLS certificate changed but did not load; keeping the previous one", "err", err)
		} else {
			r.mu.Lock()
			cert = r.cert
			r.mu.Unlock()
		}
	}
	return cert
}

// Leaf is the current certificate, parsed.
func (r *Reloader) Leaf() *x509.Certificate { return r.current().Leaf }

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate (a broker's own
// clients present its certificate for mutual TLS).
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// LoadPool reads PEM certificates into a pool.
func LoadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: no PEM certificates in %s", file)
	}
	return pool, nil
}

// Server is a listener's TLS configuration: TLS 1.2+, the reloader's
// certificate and, with clientCAFile, required client certificates signed
// by those CAs (mutual TLS).
func Server(r *Reloader, clientCAFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
	if clientCAFile != "" {
		pool, err := LoadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client is a client TLS configuration trusting caFile (the system roots
// when empty).
func Client(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// ErrNoPeerCert: the peer presented no certificate.
var ErrNoPeerCert = errors.New("tls: peer presented no certificate")

// BrokerClient is the TLS configuration of a broker's own clients (replica
// fetchers, the plugin registry, the HTTP bridge) connecting to brokers
// whose advertised names need not match their certificates: the peer's
// chain is verified against roots (the CA file, else the broker's own
// certificate as the only trust anchor) without a host name check, and
// with r the broker presents its own certificate for mutual TLS.
func BrokerClient(r *Reloader, caFile string) (*tls.Config, error) {
	var roots *x509.CertPool
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		roots = pool
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done below without the host name check.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrNoPeerCert
			}
			pool := roots
			if pool == nil {
				pool = x509.NewCertPool()
				if leaf := r.Leaf(); leaf != nil {
					pool.AddCert(leaf)
				}
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			return err
		},
	}
	if r != nil {
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	return cfg, nil
}
