package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/node"
)

func TestServeSafeDefaults(t *testing.T) {
	clearServeEnv(t)
	cases := []struct {
		name            string
		args            []string
		kafka, http     string
		wantErrFlag     string
		wantErrContains string
	}{
		{name: "no auth: loopback", kafka: "127.0.0.1:9092", http: "127.0.0.1:8080"},
		{name: "no auth, explicit loopback", args: []string{"--kafka-addr", "localhost:1", "--http-addr", "[::1]:2"}, kafka: "localhost:1", http: "[::1]:2"},
		{name: "no auth, all interfaces", args: []string{"--kafka-addr", "0.0.0.0:9092"}, wantErrFlag: "kafka-addr", wantErrContains: "--allow-anonymous"},
		{name: "no auth, empty host", args: []string{"--kafka-addr", ":9092"}, wantErrFlag: "kafka-addr", wantErrContains: "--allow-anonymous"},
		{name: "no auth, public http", args: []string{"--http-addr", "10.1.2.3:80"}, wantErrFlag: "http-addr", wantErrContains: "--allow-anonymous"},
		{name: "allow anonymous", args: []string{"--kafka-addr", "0.0.0.0:9092", "--http-addr", ":8080", "--allow-anonymous"}, kafka: "0.0.0.0:9092", http: ":8080"},
		{name: "TLS without client auth is not authentication", args: []string{"--kafka-security-protocol", "SSL", "--tls-cert", "c", "--tls-key", "k", "--kafka-addr", ":9093"}, wantErrFlag: "kafka-addr"},
		{name: "SASL: all interfaces by default", args: []string{"--kafka-security-protocol", "sasl_ssl", "--tls-cert", "c", "--tls-key", "k"}, kafka: ":9092", http: "127.0.0.1:8080"},
		{name: "mTLS: all interfaces by default", args: []string{"--kafka-security-protocol", "SSL", "--tls-cert", "c", "--tls-key", "k", "--tls-client-ca", "ca"}, kafka: ":9092", http: "127.0.0.1:8080"},
		{name: "SASL: public HTTP still needs --allow-anonymous (admin API)", args: []string{"--kafka-security-protocol", "SASL_PLAINTEXT", "--http-addr", ":8080"}, wantErrFlag: "http-addr", wantErrContains: "--allow-anonymous"},
		{name: "SSL needs a certificate", args: []string{"--kafka-security-protocol", "SSL"}, wantErrFlag: "kafka-security-protocol", wantErrContains: "--tls-cert"},
		{name: "unknown protocol", args: []string{"--kafka-security-protocol", "KERBEROS"}, wantErrFlag: "kafka-security-protocol"},
		{name: "unknown mechanism", args: []string{"--kafka-security-protocol", "SASL_PLAINTEXT", "--sasl-mechanisms", "PLAIN,GSSAPI"}, wantErrFlag: "kafka-security-protocol", wantErrContains: "GSSAPI"},
		{name: "bootstrap needs its password file", args: []string{"--bootstrap-user", "admin"}, wantErrFlag: "kafka-security-protocol", wantErrContains: "--bootstrap-password-file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseServe(t, c.args...)
			if c.wantErrFlag != "" {
				var ife *invalidFlagError
				if !errors.As(err, &ife) || ife.flag != c.wantErrFlag || !strings.Contains(err.Error(), c.wantErrContains) {
					t.Fatalf("err = %v, want --%s error containing %q", err, c.wantErrFlag, c.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.broker.KafkaAddr != c.kafka || s.broker.HTTPAddr != c.http {
				t.Fatalf("addrs = %q %q, want %q %q", s.broker.KafkaAddr, s.broker.HTTPAddr, c.kafka, c.http)
			}
		})
	}
	s, err := parseServe(t, "--kafka-security-protocol", "SASL_PLAINTEXT", "--sasl-mechanisms", "plain, SCRAM-SHA-512", "--connections-max-reauth", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if s.node.Security.Protocol != node.ProtocolSASLPlaintext || strings.Join(s.node.Security.SASLMechanisms, ",") != "PLAIN,SCRAM-SHA-512" || s.node.Security.Reauth.Seconds() != 60 {
		t.Fatalf("security = %+v", s.node.Security)
	}
}
