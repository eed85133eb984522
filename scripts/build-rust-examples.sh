#!/usr/bin/env bash
# Builds the Rust example plugins (examples/plugins-rust) with Debian's
# toolchain (scripts/install-rust.sh), offline, into <dir>/rust/<name>.wasm
# (first argument, default bin/plugins).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-bin/plugins}/rust"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
target="$(bash "$root/scripts/rust-wasm-target.sh")"

cd "$root/examples/plugins-rust"
echo "build-rust-examples: cargo build --release --target $target"
RUSTC=/usr/bin/rustc /usr/bin/cargo build --offline --release --target "$target"
for dir in */; do
	name="$(basename "$dir")"
	[ -f "$dir/Cargo.toml" ] || continue
	cp "target/$target/release/${name//-/_}.wasm" "$out/$name.wasm"
	echo "build-rust-examples: $name.wasm (rust)"
done
echo "build-rust-examples: done -> $out"
