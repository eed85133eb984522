// Package needs is the one place where tests ask for an external tool
// (kcat, kafka-python, confluent-kafka, Chromium, rsyslog, syslog-ng) or declare themselves
// long. Under `go test -short` such tests skip with the reason, so a
// contributor with only Go installed gets a quick, green loop; without
// -short nothing skips and a missing tool fails the test (`make test`
// installs every tool first: scripts/install-*.sh).
//
// ZooKeeper is asked for the same way in package zktest (Start, RunMain,
// Need), which already owns locating it.
package needs

import (
	"os"
	"os/exec"
	"testing"
)

// Short skips tb under -short because it needs what (a tool, a server).
func Short(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("needs %s (skipped by -short)", what)
	}
}

// Long skips tb under -short because it runs long (what says why).
func Long(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("long: %s (skipped by -short)", what)
	}
}

// Kcat is the kcat (librdkafka) command to run.
func Kcat(tb testing.TB) string {
	tb.Helper()
	Short(tb, "kcat")
	return lookPath(tb, "kcat", "scripts/install-test-deps.sh")
}

// Wat2wasm is wabt's WebAssembly text assembler, for the tests that need
// more than the recorded assemblies (wasmtest) give them.
func Wat2wasm(tb testing.TB) string {
	tb.Helper()
	Short(tb, "wat2wasm")
	return lookPath(tb, "wat2wasm", "scripts/install-plugin-test-deps.sh")
}

// Python is the Python interpreter with kafka-python: Debian's, since
// python3-kafka is a Debian package (a pyenv or venv python3 earlier on
// PATH would not see it).
func Python(tb testing.TB) string {
	tb.Helper()
	Short(tb, "python3 with kafka-python")
	return file(tb, "/usr/bin/python3", "scripts/install-test-deps.sh")
}

// ConfluentKafka is the Python interpreter with confluent-kafka
// (librdkafka's Python binding, Debian's python3-confluent-kafka): Debian's
// /usr/bin/python3, checked to import the module so a missing package
// fails here with the fix rather than as a traceback mid-test.
func ConfluentKafka(tb testing.TB) string {
	tb.Helper()
	Short(tb, "python3 with confluent-kafka")
	py := file(tb, "/usr/bin/python3", "scripts/install-test-deps.sh")
	if out, err := exec.Command(py, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		tb.Fatalf("%s cannot import confluent_kafka (%v: %s): run scripts/install-test-deps.sh, or go test -short to skip this test", py, err, out)
	}
	return py
}

// Chromium is the headless browser the bridge's browser tests drive.
func Chromium(tb testing.TB) string {
	tb.Helper()
	Short(tb, "Chromium")
	return file(tb, "/usr/bin/chromium", "scripts/install-bridge-test-deps.sh")
}

// Rsyslogd is rsyslog's daemon; /usr/sbin is often not on a test's PATH.
func Rsyslogd(tb testing.TB) string {
	tb.Helper()
	Short(tb, "rsyslogd")
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	return file(tb, "/usr/sbin/rsyslogd", "scripts/install-bridge-test-deps.sh")
}

// SyslogNG skips under -short; the caller locates its private syslog-ng
// install (scripts/install-syslog-ng-private.sh) and fails without it.
func SyslogNG(tb testing.TB) {
	tb.Helper()
	Short(tb, "syslog-ng")
}

func lookPath(tb testing.TB, cmd, installer string) string {
	tb.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		tb.Fatalf("%s not found (%v): run %s, or go test -short to skip this test", cmd, err, installer)
	}
	return p
}

func file(tb testing.TB, path, installer string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		tb.Fatalf("%s not found (%v): run %s, or go test -short to skip this test", path, err, installer)
	}
	return path
}
