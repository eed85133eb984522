#!/usr/bin/env bash
# Runs every Go native fuzz target in the module for FUZZTIME each (default
# 30s), one after another (`make fuzz`). Their seed corpora (f.Add and
# testdata/fuzz/<Target>/) also run as plain unit tests in `go test`.
# A failure leaves the crashing input in the package's testdata/fuzz/.
set -euo pipefail
FUZZTIME="${FUZZTIME:-30s}"
GO="${GO:-go}"
status=0
for pkg in $($GO list ./...); do
	for target in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
		echo "== $pkg $target ($FUZZTIME)"
		if ! $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
			status=1
		fi
	done
done
exit $status
