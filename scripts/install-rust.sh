#!/usr/bin/env bash
# Installs Debian's Rust toolchain for the Rust plugin SDK (sdk/rust) and
# the Rust example plugins: rustc, cargo, the wasm32 standard library
# (libstd-rust-dev-wasm32, target wasm32-wasi) and lld-14, the linker
# behind Debian's /usr/bin/rust-lld (only recommended by the std package,
# so --no-install-recommends would leave rust-lld dangling). Debian's toolchain is used
# on purpose (/usr/bin/rustc, /usr/bin/cargo): a rustup toolchain on PATH
# usually has no wasm target and cannot fetch one offline. Idempotent:
# installs only what is missing.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"

missing=()
[ -x /usr/bin/rustc ] || missing+=(rustc)
[ -x /usr/bin/cargo ] || missing+=(cargo)
dpkg -s libstd-rust-dev-wasm32 >/dev/null 2>&1 || missing+=(libstd-rust-dev-wasm32)
[ -e /usr/bin/rust-lld ] || missing+=(lld-14) # rustc ships the link; -e follows it

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-rust: rustc, cargo, the wasm32 std and lld present ($(/usr/bin/rustc --version))"
	exit 0
fi

apt_install "${missing[@]}"

# Debian's rustc (1.63) calls the target wasm32-wasi; rustc 1.78 and later
# call it wasm32-wasip1. scripts/rust-wasm-target.sh picks whichever has a
# standard library installed.
bash "$(dirname "$0")/rust-wasm-target.sh" >/dev/null
echo "install-rust: done ($(/usr/bin/rustc --version))"
