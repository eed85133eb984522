package kgowasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A client program pays only for wazero, kgo and the ABI package: no
// broker package (wasm, core, plugins) and no Prometheus. Before, the
// package ran the broker's own wasm.Engine and a producer with it was
// 21.5 MB; now the example producer is about 4.5 MB over a plain kgo one.
func TestClientDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = "github.com/sluicemq/sluice/plugins/kgowasm"
	var sluice []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "prometheus") {
			t.Errorf("depends on %s", pkg)
		}
		if !strings.HasPrefix(pkg, "github.com/sluicemq/sluice/") || pkg == self {
			continue
		}
		sluice = append(sluice, pkg)
		for _, server := range []string{"wasm", "plugins", "core", "bridge", "internal"} {
			if pkg == "github.com/sluicemq/sluice/"+server || strings.HasPrefix(pkg, "github.com/sluicemq/sluice/"+server+"/") {
				if pkg != "github.com/sluicemq/sluice/wasm/abi" {
					t.Errorf("depends on the server package %s", pkg)
				}
			}
		}
	}
	if strings.Join(sluice, " ") != "github.com/sluicemq/sluice/wasm/abi" {
		t.Errorf("sluice packages %v, want only wasm/abi", sluice)
	}
	if !strings.Contains(string(out), "github.com/tetratelabs/wazero\n") || !strings.Contains(string(out), "github.com/twmb/franz-go/pkg/kgo\n") {
		t.Fatalf("wazero or kgo missing from the dependencies:\n%s", out)
	}
	// The ABI package must stay dependency-free for this to mean much.
	abiDeps, err := exec.Command("go", "list", "-deps", "github.com/sluicemq/sluice/wasm/abi").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, abiDeps)
	}
	for _, pkg := range strings.Fields(string(abiDeps)) {
		if strings.Contains(pkg, ".") && pkg != "github.com/sluicemq/sluice/wasm/abi" {
			t.Errorf("wasm/abi depends on %s", pkg)
		}
	}
	if testing.Short() {
		return
	}
	bin := filepath.Join(t.TempDir(), "example")
	if out, err := exec.Command("go", "build", "-o", bin, "./example").CombinedOutput(); err != nil {
		t.Fatalf("go build ./example: %v\n%s", err, out)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("example producer binary: %.1f MB", float64(fi.Size())/1e6)
}
