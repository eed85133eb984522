package needs

import "testing"

// Burrow is LinkedIn's consumer lag monitor (Debian's burrow package
// installs it as /usr/bin/Burrow).
func Burrow(tb testing.TB) string {
	tb.Helper()
	Short(tb, "Burrow")
	return lookPath(tb, "Burrow", "scripts/install-test-deps.sh")
}
