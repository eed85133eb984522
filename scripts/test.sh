#!/usr/bin/env bash
# make test's runner: every test package once, and the core and node
# packages again under -race.
#
# Why not `go test ./...` then the race run: on two cores that took 10–11
# minutes, with the cores idle a third of the time. The ZooKeeper cluster
# package (core/itest/cluster) mostly waits (session expiries, leader
# moves, a 90 s fault run, franz-go's suite) and go test started it only
# once the packages before it in the list were done; so did core/itest and
# cmd/sluice, the other long ones, and the race run waited for the end of
# everything. Here:
#   - the cluster tests start first, as three runs of one test binary (its
#     two longest tests each on their own, the rest together);
#   - the other packages run beside them, three test binaries at a time
#     (TEST_PARALLEL), the longest first;
#   - the race run starts as soon as either of those two is done.
# Every part's output is printed as go test prints it; the cluster runs'
# and the race run's when they end. The script says how long each part took.
#
# Environment: GO (go command), TEST_TIMEOUT (per test binary, default
# 20m), TEST_PARALLEL (default 3), RACE_PKGS (packages for the race run;
# default ./core/... and ./node/... without the cluster package),
# TEST_JSON_DIR (when set, go test -json output is kept there).
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
json() { [[ -n ${TEST_JSON_DIR:-} ]] && echo -json; }
# keep passes go test's output on, or with TEST_JSON_DIR keeps the JSON
# and passes on only the packages' results.
keep() {
	if [[ -n ${TEST_JSON_DIR:-} ]]; then
		tee "$TEST_JSON_DIR/$1.json" | grep -E '"Action":"(pass|fail)","Package":"[^"]*","Elapsed'
	else
		cat
	fi
}

# One compile of the cluster tests, three runs of it, each in the package
# directory as go test would run it.
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
			status=$?
			echo "test.sh: ended $SECONDS s into the run"
			exit $status
		) >"$out/cluster-$name.log" 2>&1 &
		cluster_pids[$name]=$!
	done
fi

# The race run, in the background: it starts once the other packages'
# run or all of the cluster runs are done, so that at most two heavy
# parts share the cores.
race_pkgs=${RACE_PKGS:-$($GO list ./core/... ./node/... | grep -vx "$cluster_pkg")}
# core/itest first: the longest under -race.
race_pkgs=$(printf '%s\n' $race_pkgs | grep -x "$module/core/itest"; printf '%s\n' $race_pkgs | grep -vx "$module/core/itest")
(
	cluster_running() {
		local pid
		for pid in "${cluster_pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && return 0
		done
		return 1
	}
	while [[ ! -e $out/others.done ]] && cluster_running; do
		sleep 1
	done
	start=$SECONDS
	echo "go test -race (core and node packages), started $SECONDS s into the run"
	# shellcheck disable=SC2086 # one word per package
	$GO test $(json) -race -count=1 -timeout "$TIMEOUT" $race_pkgs | keep race
	status=${PIPESTATUS[0]}
	echo "test.sh: the race run took $((SECONDS - start)) s, ended $SECONDS s into the run"
	exit "$status"
) >"$out/race.log" 2>&1 &
race_pid=$!

# The other packages, the longest first (go test starts them in the
# order given): measured on 2 cores, 60–200 s each under this load.
slow_first="cmd/sluice core/itest bridge console cmd/sluice-bench clients/js core/meta core/kafka cmd/sluice-soak wasm"
all=$($GO list ./... | grep -vx "$cluster_pkg")
others=$(for p in $slow_first; do echo "$all" | grep -x "$module/$p"; done; echo "$all" | grep -vxF "$(printf "$module/%s\n" $slow_first)")
start=$SECONDS
# shellcheck disable=SC2086
$GO test $(json) -p "${TEST_PARALLEL:-3}" -count=1 -timeout "$TIMEOUT" $others | keep others
[[ ${PIPESTATUS[0]} == 0 ]] || fail "go test (packages other than $cluster_pkg) failed"
echo "test.sh: packages other than $cluster_pkg took $((SECONDS - start)) s"
touch "$out/others.done"

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

wait "$race_pid" || fail "go test -race failed"
cat "$out/race.log"
exit $rc
