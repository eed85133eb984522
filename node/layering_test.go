package node

import (
	"os/exec"
	"strings"
	"testing"
)

// The module's layers, inside out: core/ (storage, protocol, broker,
// cluster, metadata) knows nothing of the plugin runtime, the plugin
// registry, the HTTP bridge or the wiring; node/ assembles them all. A
// core package that imports one of these (directly or through another
// package) fails this test. Test files are not checked: integration tests
// under core/itest and core/pipeline's benchmarks load real plugins.
func TestCoreImportsNoOuterLayer(t *testing.T) {
	const module = "github.com/sluicemq/sluice"
	outer := []string{module + "/bridge", module + "/plugins", module + "/wasm", module + "/node"}
	isOuter := func(p string) bool {
		for _, o := range outer {
			if p == o || strings.HasPrefix(p, o+"/") {
				return true
			}
		}
		return false
	}
	// One line per core package: its path, then its direct imports, then
	// (after "|") everything it depends on.
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}} {{join .Imports " "}} | {{join .Deps " "}}`, module+"/core/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found %d core packages, want the whole tree:\n%s", len(lines), out)
	}
	for _, line := range lines {
		direct, deps, _ := strings.Cut(line, " | ")
		fields := strings.Fields(direct)
		pkg := fields[0]
		for _, imp := range fields[1:] {
			if isOuter(imp) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
		for _, dep := range strings.Fields(deps) {
			if isOuter(dep) {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
