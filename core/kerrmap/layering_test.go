package kerrmap

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// One error style per layer: the packages below the protocol edge return
// typed errors of their own (with a core/errkind kind), and only the edge
// (core/kafka, the bridge, this package, the coordinators that answer in
// Kafka codes) knows Kafka's codes. A listed package whose non-test code imports kerr fails this
// test; their test files may (they check codes end to end).
func TestInnerLayersDoNotImportKerr(t *testing.T) {
	const module = "github.com/sluicemq/sluice"
	const kerrPkg = "github.com/twmb/franz-go/pkg/kerr"
	inner := []string{"core/partition", "core/storage", "core/records", "core/meta", "core/broker", "core/pipeline", "core/errkind"}
	// Direct imports only: core/broker runs the group coordinator, which
	// answers in Kafka codes, and core/records uses kgo's and kmsg's codecs,
	// which import kerr themselves. core/pipeline's internal producer
	// relays a remote broker's answer as kerrmap.FromCode decodes it and
	// asks kerrmap.Retriable whether to resend: it never names a code.
	args := []string{"list", "-f", `{{.ImportPath}} {{join .Imports " "}}`}
	for _, p := range inner {
		args = append(args, module+"/"+p)
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(inner) {
		t.Fatalf("go list answered %d packages, want %d:\n%s", len(lines), len(inner), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module+"/")
		if slices.Contains(fields[1:], kerrPkg) {
			t.Errorf("%s imports %s: return a typed error and map it in core/kerrmap", pkg, kerrPkg)
		}
	}
}
