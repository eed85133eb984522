#!/usr/bin/env bash
# Installs the real programs the HTTP bridge tests (bridge/) and the bridge
# bench drive, only when they are absent: headless Chromium (browser beacon and
# EventSource tests), rsyslog with omelasticsearch (log-shipper test against
# /_bulk), syslog-ng's http() unpacked privately (it conflicts with rsyslog)
# and wrk (beacon throughput bench). All come from Debian.
# Idempotent: a second run installs nothing. Exits non-zero if an install fails.
set -euo pipefail

. "$(dirname "$0")/apt-lib.sh"

# syslog-ng (http() destination) beside rsyslog: unpacked privately.
"$(dirname "$0")/install-syslog-ng-private.sh"


missing=()

need_cmd() { # need_cmd COMMAND PACKAGE...
	local cmd=$1
	shift
	if command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ]; then
		echo "install-bridge-test-deps: $cmd present"
	else
		echo "install-bridge-test-deps: $cmd missing"
		missing+=("$@")
	fi
}

need_cmd chromium chromium
need_cmd rsyslogd rsyslog
need_cmd wrk wrk
# omelasticsearch is a loadable rsyslog module shipped separately.
if ls /usr/lib/*/rsyslog/omelasticsearch.so >/dev/null 2>&1 || [ -e /usr/lib/rsyslog/omelasticsearch.so ]; then
	echo "install-bridge-test-deps: rsyslog omelasticsearch present"
else
	echo "install-bridge-test-deps: rsyslog omelasticsearch missing"
	missing+=(rsyslog-elasticsearch)
fi

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-bridge-test-deps: nothing to install"
	exit 0
fi

# policy-rc.d-less containers may fail to start the rsyslog service at install
# time; the tests run rsyslogd themselves, so a service start is not needed.
apt_install "${missing[@]}"

command -v chromium >/dev/null 2>&1 || { echo "install-bridge-test-deps: chromium still missing" >&2; exit 1; }
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || { echo "install-bridge-test-deps: rsyslogd still missing" >&2; exit 1; }
command -v wrk >/dev/null 2>&1 || { echo "install-bridge-test-deps: wrk still missing" >&2; exit 1; }
echo "install-bridge-test-deps: done"
