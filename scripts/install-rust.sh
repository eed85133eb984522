#!/usr/bin/env bash
# Installs Debian's Rust toolchain for the Rust plugin SDK (sdk/rust) and
# the Rust example plugins: rustc, cargo, the wasm32 standard library
# (libstd-rust-dev-wasm32, target wasm32-wasi) and the linker behind
# Debian's /usr/bin/rust-lld (a link to lld-N that rustc ships; the std
# package only recommends lld-N, so --no-install-recommends leaves the link
# dangling). Debian's toolchain is used on purpose (/usr/bin/rustc,
# /usr/bin/cargo): a rustup toolchain on PATH usually has no wasm target
# and cannot fetch one offline. Idempotent: installs only what is missing.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"

missing=()
[ -x /usr/bin/rustc ] || missing+=(rustc)
[ -x /usr/bin/cargo ] || missing+=(cargo)
dpkg -s libstd-rust-dev-wasm32 >/dev/null 2>&1 || missing+=(libstd-rust-dev-wasm32)
if [ ${#missing[@]} -gt 0 ]; then
	apt_install "${missing[@]}"
fi

# rust-lld -> lld-14 on Debian 12: the link's target names the package.
if [ ! -e /usr/bin/rust-lld ]; then
	lld="$(readlink /usr/bin/rust-lld || true)"
	apt_install "${lld:-lld}"
fi
[ -e /usr/bin/rust-lld ] || { echo "install-rust: /usr/bin/rust-lld still missing" >&2; exit 1; }

# Debian 12's rustc (1.63) calls the target wasm32-wasi; rustc 1.78 and later
# call it wasm32-wasip1. scripts/rust-wasm-target.sh picks whichever has a
# standard library installed.
target="$(bash "$(dirname "$0")/rust-wasm-target.sh")"
echo "install-rust: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version), target $target"
