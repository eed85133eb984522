#!/usr/bin/env bash
# Installs what the plugin tests (wasm/, plugins/) need beyond Go: wat2wasm
# from Debian's wabt, which assembles the WebAssembly text-format plugins.
# Idempotent: does nothing when wat2wasm is already on PATH.
set -euo pipefail

# retry runs a command up to three times: a mirror hiccup should not fail
# the whole test run.
retry() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		echo "$(basename "$0"): attempt $n of '$*' failed" >&2
		sleep $((n * 5))
	done
	return 1
}

export DEBIAN_FRONTEND=noninteractive

if command -v wat2wasm >/dev/null 2>&1; then
	echo "install-plugin-test-deps: wat2wasm present ($(command -v wat2wasm))"
	exit 0
fi

# Root is needed for apt-get; use sudo only when we are not root already.
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi

echo "install-plugin-test-deps: wat2wasm missing; apt-get update"
retry "${sudo[@]}" apt-get update
echo "install-plugin-test-deps: apt-get install -y wabt"
retry "${sudo[@]}" apt-get install -y --no-install-recommends wabt

command -v wat2wasm >/dev/null 2>&1 || { echo "install-plugin-test-deps: wat2wasm still missing" >&2; exit 1; }
echo "install-plugin-test-deps: done"
