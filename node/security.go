package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/core/auth"
	"github.com/sluicemq/sluice/core/kafka"
	"github.com/sluicemq/sluice/core/meta"
	"github.com/sluicemq/sluice/core/tlsconf"
)

// Kafka security protocols, as Kafka names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// Security configures authentication on the Kafka port (docs/security.md).
type Security struct {
	// Protocol is PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL.
	Protocol string
	// TLSCert and TLSKey are PEM files (SSL, SASL_SSL), reloaded when they
	// change or on SIGHUP.
	TLSCert, TLSKey string
	// TLSClientCA requires client certificates signed by these CAs (mutual
	// TLS); on SSL the principal is User:<subject CN>.
	TLSClientCA string
	// TLSCA verifies other brokers' certificates for this node's own
	// clients (replication, plugins, bridge); default: trust this broker's
	// own certificate only (fine for one node or a shared certificate).
	TLSCA string
	// SASLMechanisms enabled; default SCRAM-SHA-256 and SCRAM-SHA-512.
	SASLMechanisms []string
	// Reauth is connections.max.reauth.ms (0: sessions do not expire).
	Reauth time.Duration
	// BootstrapUser gets SCRAM credentials (both mechanisms) with the
	// password in BootstrapPasswordFile at start, unless it has some.
	BootstrapUser, BootstrapPasswordFile string
	// InterBrokerUser authenticates this node's own clients (replica
	// fetchers, the plugin registry, the HTTP bridge) on a SASL listener,
	// with SCRAM-SHA-512 (or PLAIN if that is all that is enabled).
	// Required in a cluster; a single node without it uses a random
	// credential that lives in memory only (user __sluice_node).
	InterBrokerUser, InterBrokerPasswordFile string
}

// NodeUser is the user of a single node's own clients when no
// inter-broker user is configured. Its credential is random, created at
// start and never stored.
const NodeUser = "__sluice_node"

// SASL reports whether the protocol uses SASL.
func (s Security) SASL() bool {
	return s.Protocol == ProtocolSASLPlaintext || s.Protocol == ProtocolSASLSSL
}

// TLS reports whether the protocol uses TLS.
func (s Security) TLS() bool { return s.Protocol == ProtocolSSL || s.Protocol == ProtocolSASLSSL }

// Authenticated reports whether the Kafka port authenticates clients
// (SASL, or mutual TLS).
func (s Security) Authenticated() bool {
	return s.SASL() || (s.TLS() && s.TLSClientCA != "")
}

// Validate checks the combination of settings.
func (s *Security) Validate() error {
	if s.Protocol == "" {
		s.Protocol = ProtocolPlaintext
	}
	s.Protocol = strings.ToUpper(s.Protocol)
	switch s.Protocol {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
	default:
		return fmt.Errorf("security protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.Protocol)
	}
	if s.TLS() && (s.TLSCert == "" || s.TLSKey == "") {
		return fmt.Errorf("security protocol %s needs --tls-cert and --tls-key", s.Protocol)
	}
	if !s.TLS() && (s.TLSCert != "" || s.TLSClientCA != "") {
		return fmt.Errorf("--tls-cert/--tls-client-ca need security protocol SSL or SASL_SSL (got %s)", s.Protocol)
	}
	if len(s.SASLMechanisms) == 0 {
		s.SASLMechanisms = []string{kafka.MechScramSHA256, kafka.MechScramSHA512}
	}
	for i, m := range s.SASLMechanisms {
		m = strings.ToUpper(strings.TrimSpace(m))
		s.SASLMechanisms[i] = m
		if m != kafka.MechPLAIN && m != kafka.MechScramSHA256 && m != kafka.MechScramSHA512 {
			return fmt.Errorf("SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
		}
	}
	if (s.BootstrapUser == "") != (s.BootstrapPasswordFile == "") {
		return errors.New("--bootstrap-user and --bootstrap-password-file go together")
	}
	if (s.InterBrokerUser == "") != (s.InterBrokerPasswordFile == "") {
		return errors.New("--inter-broker-user and --inter-broker-password-file go together")
	}
	if s.Reauth < 0 {
		return errors.New("--connections-max-reauth must not be negative")
	}
	return nil
}

// ReadPasswordFile reads a password file: its first line, without the
// line ending. An empty password is refused.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("password file %s is empty", path)
	}
	return pw, nil
}

// security is the running form of Security for one node.
type security struct {
	cfg      Security
	reloader *tlsconf.Reloader
	// kafka is the protocol server's TLS and SASL configuration.
	tls  *tls.Config
	sasl *kafka.SASLConfig
	// clientOpts authenticate this node's own Kafka clients (SASL and the
	// TLS dial): the replica fetchers use them.
	clientOpts []kgo.Opt
	// saslOpts and remoteDial are clientOpts split for clients that dial
	// through the in-process dialer (bridge, plugin registry): kgo takes
	// either a Dialer or a TLS config, so TLS goes into remoteDial, which
	// reaches other brokers.
	saslOpts   []kgo.Opt
	remoteDial func(ctx context.Context, network, host string) (net.Conn, error)
}

// overlayCredentials answers for the in-memory node user first.
type overlayCredentials struct {
	user string
	cred map[string]auth.ScramCredential
	base auth.CredentialLookup
}

func (o overlayCredentials) ScramCredential(user, mech string) (auth.ScramCredential, bool, error) {
	if user == o.user {
		c, ok := o.cred[mech]
		return c, ok, nil
	}
	return o.base.ScramCredential(user, mech)
}

// setupSecurity loads certificates, creates the bootstrap user and
// prepares the node's client credentials. store holds the credentials;
// cluster tells whether other brokers exist.
func setupSecurity(ctx context.Context, cfg Security, store meta.CredentialStore, cluster bool, logger *slog.Logger) (*security, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &security{cfg: cfg}
	if store == nil && (cfg.SASL() || cfg.BootstrapUser != "") {
		return nil, errors.New("security: the metadata store keeps no credentials")
	}
	if cfg.BootstrapUser != "" {
		if err := bootstrapUser(store, cfg.BootstrapUser, cfg.BootstrapPasswordFile, logger); err != nil {
			return nil, err
		}
	}
	if cfg.TLS() {
		r, err := tlsconf.NewReloader(cfg.TLSCert, cfg.TLSKey, logger)
		if err != nil {
			return nil, err
		}
		s.reloader = r
		if s.tls, err = tlsconf.Server(r, cfg.TLSClientCA); err != nil {
			return nil, err
		}
		reloadOnSIGHUP(ctx, r, logger)
		ctls, err := tlsconf.BrokerClient(r, cfg.TLSCA)
		if err != nil {
			return nil, err
		}
		s.clientOpts = append(s.clientOpts, kgo.DialTLSConfig(ctls))
		s.remoteDial = tlsDialer(ctls)
	}
	if cfg.SASL() {
		var lookup auth.CredentialLookup = store
		user, pass := cfg.InterBrokerUser, ""
		if user != "" {
			var err error
			if pass, err = ReadPasswordFile(cfg.InterBrokerPasswordFile); err != nil {
				return nil, err
			}
		} else {
			if cluster {
				return nil, errors.New("a cluster with SASL needs --inter-broker-user and --inter-broker-password-file (the brokers authenticate to each other)")
			}
			b := make([]byte, 32)
			rand.Read(b)
			user, pass = NodeUser, hex.EncodeToString(b)
			ov := overlayCredentials{user: user, cred: map[string]auth.ScramCredential{}, base: store}
			for _, m := range auth.ScramMechanisms {
				c, err := m.NewCredential(pass, auth.MinScramIterations)
				if err != nil {
					return nil, err
				}
				ov.cred[m.Name] = c
			}
			lookup = ov
		}
		s.sasl = &kafka.SASLConfig{Mechanisms: cfg.SASLMechanisms, Credentials: lookup, Reauth: cfg.Reauth}
		a := scram.Auth{User: user, Pass: pass}
		switch {
		case slices.Contains(cfg.SASLMechanisms, kafka.MechScramSHA512):
			s.saslOpts = append(s.saslOpts, kgo.SASL(a.AsSha512Mechanism()))
		case slices.Contains(cfg.SASLMechanisms, kafka.MechScramSHA256):
			s.saslOpts = append(s.saslOpts, kgo.SASL(a.AsSha256Mechanism()))
		default:
			s.saslOpts = append(s.saslOpts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		}
		s.clientOpts = append(s.clientOpts, s.saslOpts...)
	}
	if !cfg.Authenticated() {
		logger.Warn("the Kafka port does not authenticate clients: anyone who can reach it can read, write and delete every topic (see docs/security.md)", "security_protocol", cfg.Protocol)
	}
	return s, nil
}

// bootstrapUser creates user's SCRAM-SHA-512 and -256 credentials from the
// password file unless the user already has credentials (so a changed
// password is never overwritten by a stale file at restart).
func bootstrapUser(store meta.CredentialStore, user, passwordFile string, logger *slog.Logger) error {
	for _, m := range auth.ScramMechanisms {
		if _, ok, err := store.ScramCredential(user, m.Name); err != nil {
			return fmt.Errorf("bootstrap user: %w", err)
		} else if ok {
			logger.Info("bootstrap user already has credentials; left unchanged", "user", user)
			return nil
		}
	}
	pass, err := ReadPasswordFile(passwordFile)
	if err != nil {
		return fmt.Errorf("bootstrap user: %w", err)
	}
	for _, m := range auth.ScramMechanisms {
		c, err := m.NewCredential(pass, auth.MinScramIterations)
		if err != nil {
			return err
		}
		if err := store.PutScramCredential(user, m.Name, c); err != nil {
			return fmt.Errorf("bootstrap user: %w", err)
		}
	}
	logger.Info("bootstrap user created", "user", user, "mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256")
	return nil
}

// reloadOnSIGHUP reloads the certificate on every SIGHUP until ctx ends.
// The handler is installed before it returns.
func reloadOnSIGHUP(ctx context.Context, r *tlsconf.Reloader, logger *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				logger.Info("SIGHUP: reloading the TLS certificate")
				if err := r.Reload(); err != nil {
					logger.Warn("SIGHUP: TLS certificate reload failed; keeping the previous one", "err", err)
				}
			}
		}
	}()
}

// tlsDialer dials other brokers over TLS with cfg, naming the server as
// kgo's DialTLSConfig does.
func tlsDialer(cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		c := cfg.Clone()
		if c.ServerName == "" {
			if h, _, err := net.SplitHostPort(host); err == nil {
				c.ServerName = h
			}
		}
		return (&tls.Dialer{NetDialer: nd, Config: c}).DialContext(ctx, network, host)
	}
}
