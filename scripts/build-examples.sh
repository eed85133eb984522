#!/usr/bin/env bash
# Builds every example plugin under examples/plugins into a directory
# (first argument, default bin/plugins): each Go example as a WASI reactor
# (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) and each .wat file with
# wat2wasm (scripts/install-plugin-test-deps.sh installs it).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-bin/plugins}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
go="${GO:-go}"

cd "$root"
for dir in examples/plugins/*/; do
	name="$(basename "$dir")"
	if compgen -G "$dir*.go" >/dev/null; then
		echo "build-examples: $name.wasm (go)"
		GOOS=wasip1 GOARCH=wasm "$go" build -buildmode=c-shared -o "$out/$name.wasm" "./$dir"
	fi
	for wat in "$dir"*.wat; do
		[ -e "$wat" ] || continue
		echo "build-examples: $name.wasm (wat)"
		wat2wasm "$wat" -o "$out/$name.wasm"
	done
done
echo "build-examples: done -> $out"
