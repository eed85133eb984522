#!/usr/bin/env bash
# Installs Apache ZooKeeper from Debian (package `zookeeper`) when it is absent.
# The cluster-mode tests (core/meta, zktest) start their own ZooKeeper server
# from the jars it ships in /usr/share/zookeeper on a free loopback port; the
# package `zookeeperd` (a system service) is deliberately not installed.
# Idempotent: a second run installs nothing. Exits non-zero if an install fails.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"


zk_present() {
	compgen -G '/usr/share/java/zookeeper*.jar' >/dev/null ||
		compgen -G '/usr/share/zookeeper/lib/zookeeper*.jar' >/dev/null ||
		compgen -G '/usr/share/zookeeper/zookeeper*.jar' >/dev/null
}
java_present() { command -v java >/dev/null 2>&1; }

if zk_present && java_present; then
	echo "install-zk-test-deps: zookeeper and java present, nothing to install"
	exit 0
fi

missing=(zookeeper)
if ! java_present; then
	missing+=(default-jre-headless)
fi

apt_install "${missing[@]}"

zk_present || { echo "install-zk-test-deps: zookeeper jars still missing" >&2; exit 1; }
java_present || { echo "install-zk-test-deps: java still missing" >&2; exit 1; }
echo "install-zk-test-deps: done"
