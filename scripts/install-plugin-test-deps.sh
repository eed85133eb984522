#!/usr/bin/env bash
# Installs what the plugin tests (wasm/, plugins/) need beyond Go: wat2wasm
# from Debian's wabt, which assembles the WebAssembly text-format plugins.
# Idempotent: does nothing when wat2wasm is already on PATH.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"


if command -v wat2wasm >/dev/null 2>&1; then
	echo "install-plugin-test-deps: wat2wasm present ($(command -v wat2wasm))"
	exit 0
fi

apt_install wabt

command -v wat2wasm >/dev/null 2>&1 || { echo "install-plugin-test-deps: wat2wasm still missing" >&2; exit 1; }
echo "install-plugin-test-deps: done"
