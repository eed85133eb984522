package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicemq/sluice/core/tlsconf"
	"github.com/sluicemq/sluice/node"
)

// clientAuth are the authentication flags of every client subcommand
// (docs/security.md): SASL user and password, mechanism, TLS.
type clientAuth struct {
	user          string
	passwordFile  string
	saslMechanism string
	tlsCA         string
	tls           bool
}

// clientAuthFlagNames are filled from SLUICE_<NAME> when not given.
var clientAuthFlagNames = []string{"user", "password-file", "sasl-mechanism", "tls-ca", "tls"}

func (a *clientAuth) register(fs *flag.FlagSet) {
	fs.StringVar(&a.user, "user", "", "SASL user `NAME` (env SLUICE_USER)")
	fs.StringVar(&a.passwordFile, "password-file", "", "read the SASL password from the first line of `FILE` (env SLUICE_PASSWORD_FILE, or the password itself in SLUICE_PASSWORD)")
	fs.StringVar(&a.saslMechanism, "sasl-mechanism", "SCRAM-SHA-512", "SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (env SLUICE_SASL_MECHANISM)")
	fs.StringVar(&a.tlsCA, "tls-ca", "", "connect with TLS, trusting the CAs in this PEM `FILE` (env SLUICE_TLS_CA)")
	fs.BoolVar(&a.tls, "tls", false, "connect with TLS, trusting the system's CAs (env SLUICE_TLS)")
}

// kgoOpts turns the flags into client options.
func (a *clientAuth) kgoOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if a.tls || a.tlsCA != "" {
		var cfg *tls.Config
		var err error
		if cfg, err = tlsconf.Client(a.tlsCA); err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if a.user == "" {
		if a.passwordFile != "" {
			return nil, errors.New("--password-file needs --user")
		}
		return opts, nil
	}
	pass := os.Getenv(envPrefix + "_PASSWORD")
	if a.passwordFile != "" {
		p, err := node.ReadPasswordFile(a.passwordFile)
		if err != nil {
			return nil, err
		}
		pass = p
	}
	if pass == "" {
		return nil, errors.New("--user needs a password: --password-file FILE or SLUICE_PASSWORD")
	}
	switch strings.ToUpper(a.saslMechanism) {
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: a.user, Pass: pass}.AsSha512Mechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: a.user, Pass: pass}.AsSha256Mechanism()))
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: a.user, Pass: pass}.AsMechanism()))
	default:
		return nil, fmt.Errorf("--sasl-mechanism %q: want SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", a.saslMechanism)
	}
	return opts, nil
}
