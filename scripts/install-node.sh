#!/usr/bin/env bash
# Installs what the Node client (clients/js, @sluicemq/kafkajs-partitioner)
# and its tests need: node and npm from Debian, only when node is absent,
# then the package's locked npm dependencies (kafkajs) with `npm ci`.
# Idempotent; run by `make test-deps` and `make examples`.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"

root="$(cd "$(dirname "$0")/.." && pwd)"

if command -v node >/dev/null 2>&1; then
	echo "install-node: node present ($(command -v node), $(node --version))"
else
	apt_install nodejs npm
fi
if ! command -v npm >/dev/null 2>&1; then
	apt_install npm
fi

# npm ci installs exactly package-lock.json; skip it when that is what
# node_modules already holds (npm records the installed tree there).
lock="$root/clients/js/package-lock.json"
installed="$root/clients/js/node_modules/.package-lock.json"
if [ -f "$installed" ] && [ "$installed" -nt "$lock" ]; then
	echo "install-node: clients/js dependencies present"
else
	retry npm ci --prefix "$root/clients/js" --no-audit --no-fund
fi
node -e 'require.resolve("kafkajs", { paths: [process.argv[1]] })' "$root/clients/js" ||
	{ echo "install-node: kafkajs still missing in clients/js" >&2; exit 1; }
echo "install-node: done"
