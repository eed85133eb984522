package main

import "testing"

// TestServeTxnPartitionVerificationFlag: KIP-890's verification is on by
// default and turned off by --transaction-partition-verification-enable=false,
// its environment variable or a config file line; a bad value is refused.
func TestServeTxnPartitionVerificationFlag(t *testing.T) {
	clearServeEnv(t)
	for _, c := range []struct {
		name string
		env  string
		file string
		args []string
		off  bool
	}{
		{name: "default"},
		{name: "flag false", args: []string{"--transaction-partition-verification-enable=false"}, off: true},
		{name: "flag true", args: []string{"--transaction-partition-verification-enable=true"}},
		{name: "bare flag", args: []string{"--transaction-partition-verification-enable"}},
		{name: "env", env: "false", off: true},
		{name: "file", file: "transaction-partition-verification-enable false\n", off: true},
		{name: "flag over env", env: "false", args: []string{"--transaction-partition-verification-enable=true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := parseServeLayers(t, "SLUICE_TRANSACTION_PARTITION_VERIFICATION_ENABLE", c.env, c.file, c.args...)
			if got := s.broker.TransactionPartitionVerificationOff; got != c.off {
				t.Fatalf("verification off = %v, want %v", got, c.off)
			}
		})
	}
	clearServeEnv(t)
	if _, err := parseServe(t, "--transaction-partition-verification-enable=maybe"); err == nil {
		t.Fatal("--transaction-partition-verification-enable=maybe accepted")
	}
}
