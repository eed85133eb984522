# Shared by the install-*-deps.sh scripts (source it): installs Debian
# packages non-interactively, as root or through sudo, retrying apt-get so a
# mirror hiccup does not fail the whole test run.

export DEBIAN_FRONTEND=noninteractive

# retry runs a command up to three times.
retry() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		echo "$(basename "$0"): attempt $n of '$*' failed" >&2
		sleep $((n * 5))
	done
	return 1
}

# apt_install PACKAGE...: apt-get update, then install without recommends.
apt_install() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	echo "$(basename "$0"): apt-get update"
	retry "${sudo[@]}" apt-get update
	echo "$(basename "$0"): apt-get install -y $*"
	retry "${sudo[@]}" apt-get install -y --no-install-recommends "$@"
}
