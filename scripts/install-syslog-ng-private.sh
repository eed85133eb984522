#!/usr/bin/env bash
# Unpacks syslog-ng (core and its http() module) into a private directory
# for the bridge's shipper tests. Debian's syslog-ng packages conflict with
# rsyslog, which the same tests use, so they are not installed: they are
# fetched with `apt-get download` and extracted with `dpkg -x`; only their
# non-conflicting shared-library dependencies are installed.
# Idempotent. Directory: $SLUICE_SYSLOG_NG_ROOT, default /opt/sluice-test/syslog-ng
# (bridge/syslogng_test.go looks there).
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"

root=${SLUICE_SYSLOG_NG_ROOT:-/opt/sluice-test/syslog-ng}
if [ -x "$root/usr/sbin/syslog-ng" ] && ls "$root"/usr/lib/syslog-ng/*/libhttp.so >/dev/null 2>&1; then
	echo "install-syslog-ng-private: present in $root"
	exit 0
fi

libs=()
for p in libivykis0 libnet1 libwrap0 libpcre3 libjson-c5 libcurl4 libglib2.0-0; do
	dpkg -s "$p" >/dev/null 2>&1 || libs+=("$p")
done
if [ "${#libs[@]}" -gt 0 ]; then
	apt_install "${libs[@]}"
else
	retry apt-get update >/dev/null || true
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp" # apt-get download runs as _apt where it can
(cd "$tmp" && retry apt-get download syslog-ng-core syslog-ng-mod-http)
"${sudo[@]}" mkdir -p "$root"
for deb in "$tmp"/*.deb; do
	"${sudo[@]}" dpkg -x "$deb" "$root"
done
[ -x "$root/usr/sbin/syslog-ng" ] || { echo "install-syslog-ng-private: syslog-ng missing after unpacking" >&2; exit 1; }
echo "install-syslog-ng-private: unpacked into $root"
