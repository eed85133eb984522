#!/usr/bin/env bash
# Installs the real Kafka clients the integration tests (core/itest) drive,
# only when they are absent: kcat, kafka-python and confluent-kafka (Debian
# packages; confluent-kafka drives librdkafka's transactions), and
# gcc for the race detector (make test-race), and Burrow.
# Idempotent: a second run installs nothing. Exits non-zero if an install fails.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"


# Debian packages to install, collected from the checks below.
missing=()

if command -v kcat >/dev/null 2>&1; then
	echo "install-test-deps: kcat present ($(command -v kcat))"
else
	echo "install-test-deps: kcat missing"
	missing+=(kcat)
fi

if /usr/bin/python3 -c 'import kafka' >/dev/null 2>&1; then
	echo "install-test-deps: python3-kafka present"
else
	echo "install-test-deps: python3-kafka missing (or /usr/bin/python3 absent)"
	missing+=(python3 python3-kafka)
fi

if /usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1; then
	echo "install-test-deps: python3-confluent-kafka present"
else
	echo "install-test-deps: python3-confluent-kafka missing (or /usr/bin/python3 absent)"
	missing+=(python3 python3-confluent-kafka)
fi

# Burrow (LinkedIn's consumer lag monitor) reads __consumer_offsets as
# Kafka lays it out (core/itest/burrow_test.go).
if command -v Burrow >/dev/null 2>&1; then
	echo "install-test-deps: burrow present ($(command -v Burrow))"
else
	echo "install-test-deps: burrow missing"
	missing+=(burrow)
fi

# `make test-race`: the race detector needs cgo, so a C compiler.
if command -v gcc >/dev/null 2>&1; then
	echo "install-test-deps: gcc present (for go test -race)"
else
	echo "install-test-deps: gcc missing (go test -race needs it)"
	missing+=(gcc libc6-dev)
fi

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-test-deps: nothing to install"
	exit 0
fi

apt_install "${missing[@]}"

# Verify, so a package that installed but does not provide what the tests
# need fails here rather than deep inside a test.
command -v kcat >/dev/null 2>&1 || { echo "install-test-deps: kcat still missing" >&2; exit 1; }
/usr/bin/python3 -c 'import kafka' || { echo "install-test-deps: python3-kafka still not importable" >&2; exit 1; }
/usr/bin/python3 -c 'import confluent_kafka' || { echo "install-test-deps: python3-confluent-kafka still not importable" >&2; exit 1; }
command -v gcc >/dev/null 2>&1 || { echo "install-test-deps: gcc still missing" >&2; exit 1; }
command -v Burrow >/dev/null 2>&1 || { echo "install-test-deps: Burrow still missing" >&2; exit 1; }
echo "install-test-deps: done"
