#!/usr/bin/env bash
# Prints the WASI preview 1 target name of Debian's rustc that has a
# standard library installed: wasm32-wasip1 (rustc 1.78 and later) or
# wasm32-wasi (older, e.g. Debian 12's 1.63). Fails when neither has one.
set -euo pipefail

rustc="${RUSTC:-/usr/bin/rustc}"
sysroot="$("$rustc" --print sysroot)"
targets="$("$rustc" --print target-list)"
for t in wasm32-wasip1 wasm32-wasi; do
	if grep -qx "$t" <<<"$targets" && [ -d "$sysroot/lib/rustlib/$t/lib" ]; then
		echo "$t"
		exit 0
	fi
done
echo "rust-wasm-target: $rustc has no wasm32-wasi(p1) standard library (run scripts/install-rust.sh)" >&2
exit 1
