#!/usr/bin/env bash
# make test's runner: every test package once, then the core and node
# packages again under -race.
#
# Why not one `go test ./...`: the ZooKeeper cluster package
# (core/itest/cluster) is mostly waiting (session expiries, leader moves,
# a 90 s fault run, franz-go's suite), about 4 of the run's 10 minutes, and
# go test started it only once the packages before it in the list were
# done. Here it starts first, as three runs of one test binary (its two
# longest tests each on their own, the rest together), beside the other
# packages and then the race run, so its waits overlap their work.
#
# Environment: GO (go command), TEST_TIMEOUT (per test binary, default
# 20m), RACE_PKGS (packages for the race run; default as the Makefile's).
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
TIMEOUT=${TEST_TIMEOUT:-20m}
module=$($GO list -m)
cluster_pkg=$module/core/itest/cluster
cluster_dir=core/itest/cluster

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

rc=0
fail() { echo "test.sh: $*" >&2; rc=1; }

# One compile of the cluster tests, three runs of it. The binary runs in
# its package directory, as go test would run it.
if ! $GO test -c -o "$out/cluster.test" "./$cluster_dir"; then
	fail "building $cluster_pkg tests"
fi
declare -A cluster_runs=(
	[kgo-suite]='-test.run=^TestKgoSuite$'
	[chaos]='-test.run=^TestChaos$'
	[rest]='-test.skip=^(TestKgoSuite|TestChaos)$'
)
declare -A cluster_pids=()
if [[ -x $out/cluster.test ]]; then
	for name in "${!cluster_runs[@]}"; do
		(
			cd "$cluster_dir" || exit 1
			"$out/cluster.test" -test.count=1 -test.timeout="$TIMEOUT" "${cluster_runs[$name]}"
			rc=$?
			echo "test.sh: ended $SECONDS s into the run"
			exit $rc
		) >"$out/cluster-$name.log" 2>&1 &
		cluster_pids[$name]=$!
	done
fi

# The other packages' tests: TEST_PARALLEL test binaries at a time (go
# test -p; default 3: many of them wait on brokers, browsers and clients
# more than they compute, and two left the two cores idle a third of the
# time). TEST_JSON_DIR, when set, keeps go test -json output there.
others=$($GO list ./... | grep -vx "$cluster_pkg")
json() { [[ -n ${TEST_JSON_DIR:-} ]] && echo -json; }
keep() { if [[ -n ${TEST_JSON_DIR:-} ]]; then tee "$TEST_JSON_DIR/$1.json" | grep -E '"Action":"(pass|fail)","Package":"[^"]*","Elapsed' ; else cat; fi; }
start=$SECONDS
# shellcheck disable=SC2086 # one word per package
$GO test $(json) -p "${TEST_PARALLEL:-3}" -count=1 -timeout "$TIMEOUT" $others | keep others
[[ ${PIPESTATUS[0]} == 0 ]] || fail "go test (packages other than $cluster_pkg) failed"
echo "test.sh: packages other than $cluster_pkg took $((SECONDS - start)) s"

race_pkgs=${RACE_PKGS:-$($GO list ./core/... ./node/... | grep -vx "$cluster_pkg")}
echo "go test -race (core and node packages)"
start=$SECONDS
# shellcheck disable=SC2086
$GO test $(json) -race -count=1 -timeout "$TIMEOUT" $race_pkgs | keep race
[[ ${PIPESTATUS[0]} == 0 ]] || fail "go test -race failed"
echo "test.sh: the race run took $((SECONDS - start)) s"

for name in rest kgo-suite chaos; do
	pid=${cluster_pids[$name]:-}
	[[ -n $pid ]] || continue
	if wait "$pid"; then
		echo "ok  	$cluster_pkg ($name), $(grep -o 'ended [0-9]* s into the run' "$out/cluster-$name.log")"
	else
		echo "--- $cluster_pkg ($name) output:"
		cat "$out/cluster-$name.log"
		echo "FAIL	$cluster_pkg ($name)"
		fail "$cluster_pkg ($name) failed"
	fi
done
exit $rc
