#!/usr/bin/env bash
# Installs the AssemblyScript toolchain the AssemblyScript SDK
# (sdk/assemblyscript) and its examples (examples/plugins-as) build with:
# node and npm from Debian when node is absent, then the npm packages
# pinned by each package-lock.json (`npm ci`, only when node_modules does
# not match the lock file already).
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	apt_install nodejs npm
fi
command -v node >/dev/null 2>&1 || { echo "install-assemblyscript: node still missing" >&2; exit 1; }

for dir in sdk/assemblyscript examples/plugins-as; do
	# npm writes node_modules/.package-lock.json on install; equal to the
	# lock file's packages means nothing to do.
	if [ -f "$root/$dir/node_modules/.package-lock.json" ] &&
		node -e '
const fs = require("fs");
const [lock, inst] = process.argv.slice(1).map(f => JSON.parse(fs.readFileSync(f, "utf8")).packages || {});
const norm = p => JSON.stringify(Object.keys(p).filter(k => k !== "").sort().map(k => [k, p[k].version, p[k].resolved]));
process.exit(norm(lock) === norm(inst) ? 0 : 1);
' "$root/$dir/package-lock.json" "$root/$dir/node_modules/.package-lock.json"; then
		echo "install-assemblyscript: $dir/node_modules up to date"
		continue
	fi
	echo "install-assemblyscript: npm ci in $dir"
	(cd "$root/$dir" && retry npm ci --no-audit --no-fund)
done
echo "install-assemblyscript: done"
