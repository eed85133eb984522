package kgowasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A client program pays only for wazero, kgo, the ABI package and the
// deadline package wasm/fuel: no broker package (wasm, core, plugins) and
// no Prometheus. Before, the
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
				if !clientSide[pkg] {
					t.Errorf("depends on the server package %s", pkg)
				}
			}
		}
	}
	if strings.Join(sluice, " ") != "github.com/sluicemq/sluice/wasm/abi github.com/sluicemq/sluice/wasm/fuel" {
		t.Errorf("sluice packages %v, want only wasm/abi and wasm/fuel", sluice)
	}
	if !strings.Contains(string(out), "github.com/tetratelabs/wazero\n") || !strings.Contains(string(out), "github.com/twmb/franz-go/pkg/kgo\n") {
		t.Fatalf("wazero or kgo missing from the dependencies:\n%s", out)
	}
	// Those two must stay dependency-free (the standard library and each
	// other) for this to mean much.
	for own := range clientSide {
		deps, err := exec.Command("go", "list", "-deps", own).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, deps)
		}
		for _, pkg := range strings.Fields(string(deps)) {
			if strings.Contains(pkg, ".") && !clientSide[pkg] {
				t.Errorf("%s depends on %s", own, pkg)
			}
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

// clientSide are the sluice packages a client program may depend on.
var clientSide = map[string]bool{
	"github.com/sluicemq/sluice/wasm/abi":  true,
	"github.com/sluicemq/sluice/wasm/fuel": true,
}
