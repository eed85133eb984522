#!/usr/bin/env sh
# Builds each AssemblyScript example (every directory here with an
# index.ts) into OUTDIR/NAME.wasm (default: build/) with the npm
# AssemblyScript compiler and the SDK's asconfig.json (asconfig.json here
# extends it). Run `npm ci` here first (scripts/install-assemblyscript.sh
# does).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/build}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
asc="$here/node_modules/assemblyscript/bin/asc.js"
if [ ! -f "$asc" ]; then
	echo "build.sh: no AssemblyScript compiler in $here/node_modules: run scripts/install-assemblyscript.sh (or npm ci here)" >&2
	exit 1
fi
for dir in "$here"/*/; do
	[ -f "$dir/index.ts" ] || continue
	name="$(basename "$dir")"
	echo "build-examples: $name.wasm (assemblyscript)"
	(cd "$dir" && node "$asc" index.ts --config ../asconfig.json -o "$out/$name.wasm")
done
