// Package itest drives a real `sluice serve` process with real Kafka clients
// (franz-go, IBM/sarama, segmentio/kafka-go, kcat, kafka-python) and raw
// protocol frames, asserting exact Kafka behaviour end to end.
//
// Everything lives in the package's tests; this file only documents them.
// TestMain builds ./cmd/sluice once; each test starts its own broker on a
// free 127.0.0.1 port with its own data directory, so tests run in parallel.
//
// Run with `go test ./core/itest/`. Set SLUICE_ITEST_BINARY to a prebuilt
// binary (for example one built with -race) to skip the build.
// kcat and /usr/bin/python3 with kafka-python are required:
// scripts/install-test-deps.sh installs them. Under -short the tests that
// drive them (and the long ones) skip (internal/needs).
package itest
