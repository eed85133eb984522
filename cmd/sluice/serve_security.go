package main

import (
	"flag"
	"net"
	"strings"

	"github.com/sluicemq/sluice/node"
)

// securityFlags are serve's authentication flags (docs/security.md).
type securityFlags struct {
	sec            node.Security
	mechanisms     string
	allowAnonymous bool
}

func addSecurityFlags(fs *flag.FlagSet) *securityFlags {
	f := &securityFlags{}
	s := &f.sec
	fs.StringVar(&s.Protocol, "kafka-security-protocol", node.ProtocolPlaintext, "Kafka listener security: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (security.protocol)")
	fs.StringVar(&s.TLSCert, "tls-cert", "", "PEM certificate `FILE` of the Kafka listener (SSL, SASL_SSL); reloaded when it changes or on SIGHUP")
	fs.StringVar(&s.TLSKey, "tls-key", "", "PEM private key `FILE` for --tls-cert")
	fs.StringVar(&s.TLSClientCA, "tls-client-ca", "", "require client certificates signed by the CAs in this PEM `FILE` (mutual TLS; on SSL the principal is User:<subject CN>)")
	fs.StringVar(&s.TLSCA, "inter-broker-tls-ca", "", "PEM `FILE` of CAs that sign the other brokers' certificates (default: trust this broker's own certificate)")
	fs.StringVar(&f.mechanisms, "sasl-mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512", "enabled SASL mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (sasl.enabled.mechanisms)")
	fs.DurationVar(&s.Reauth, "connections-max-reauth", 0, "SASL session lifetime; clients must re-authenticate within it, 0 never expires (connections.max.reauth.ms)")
	fs.StringVar(&s.BootstrapUser, "bootstrap-user", "", "create this user's SCRAM credentials at start unless it has some (the first administrator)")
	fs.StringVar(&s.BootstrapPasswordFile, "bootstrap-password-file", "", "`FILE` holding --bootstrap-user's password (first line)")
	fs.StringVar(&s.InterBrokerUser, "inter-broker-user", "", "user this broker's own clients (replication, plugins, bridge) authenticate as on a SASL listener")
	fs.StringVar(&s.InterBrokerPasswordFile, "inter-broker-password-file", "", "`FILE` holding --inter-broker-user's password (first line)")
	fs.BoolVar(&f.allowAnonymous, "allow-anonymous", false, "allow binding a non-loopback address without authentication (anyone reaching it has full access)")
	return f
}

// Default listen addresses: all interfaces when clients must authenticate,
// loopback otherwise (safe by default).
const (
	defaultKafkaPort = "9092"
	defaultHTTPPort  = "8080"
)

// securitySettings validates the security flags and resolves the listen
// addresses: empty ones default to loopback without authentication, and a
// non-loopback address without authentication needs --allow-anonymous.
func (f *securityFlags) settings(kafkaAddr, httpAddr *string, httpAuthn bool) (node.Security, error) {
	s := f.sec
	s.SASLMechanisms = nil
	for _, m := range strings.Split(f.mechanisms, ",") {
		if m = strings.TrimSpace(m); m != "" {
			s.SASLMechanisms = append(s.SASLMechanisms, m)
		}
	}
	if err := s.Validate(); err != nil {
		return s, &invalidFlagError{"kafka-security-protocol", s.Protocol, err.Error()}
	}
	authn := s.Authenticated()
	host := "127.0.0.1"
	if authn {
		host = ""
	}
	if *kafkaAddr == "" {
		*kafkaAddr = net.JoinHostPort(host, defaultKafkaPort)
	}
	if *httpAddr == "" {
		h := "127.0.0.1"
		if httpAuthn {
			h = ""
		}
		*httpAddr = net.JoinHostPort(h, defaultHTTPPort)
	}
	if !f.allowAnonymous {
		if !authn && !loopbackAddr(*kafkaAddr) {
			return s, &invalidFlagError{"kafka-addr", *kafkaAddr, "binding a non-loopback address without authentication gives anyone who reaches it full access; configure --kafka-security-protocol SASL_SSL/SASL_PLAINTEXT (or SSL with --tls-client-ca), or pass --allow-anonymous"}
		}
		if *httpAddr != "off" && !httpAuthn && !loopbackAddr(*httpAddr) {
			return s, &invalidFlagError{"http-addr", *httpAddr, "binding a non-loopback address without authentication exposes the bridge and admin API to anyone who reaches it; configure authentication (docs/security.md) or pass --allow-anonymous"}
		}
	}
	return s, nil
}

// httpDoorsAuthenticated reports whether every door of the HTTP listener
// asks for credentials: the bridge has tokens (anonymous access is then
// only what public topics grant) and the admin API is either off, on its
// own listener, or guarded by admin tokens. Only then may the HTTP
// listener bind beyond loopback without --allow-anonymous.
// With SASL on the Kafka port, admin HTTP Basic checks the same SCRAM
// users.
func httpDoorsAuthenticated(bridgeTokens int, admin node.AdminOptions, sasl bool) bool {
	if bridgeTokens == 0 {
		return false
	}
	return admin.Addr != "" || len(admin.Tokens) > 0 || sasl
}

// loopbackAddr reports whether host:port only listens on loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
