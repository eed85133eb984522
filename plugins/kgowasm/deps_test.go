package kgowasm

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A client program pays only for wazero, kgo, the ABI package, the
// deadline package wasm/fuel and the host-side ABI wasm/hostabi (shared
// with the broker's runtime): no broker package (wasm, core, plugins) and
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
				if _, ok := clientSide[pkg]; !ok {
					t.Errorf("depends on the server package %s", pkg)
				}
			}
		}
	}
	sort.Strings(sluice)
	if strings.Join(sluice, " ") != "github.com/sluicemq/sluice/wasm/abi github.com/sluicemq/sluice/wasm/fuel github.com/sluicemq/sluice/wasm/hostabi" {
		t.Errorf("sluice packages %v, want only wasm/abi, wasm/fuel and wasm/hostabi", sluice)
	}
	if !strings.Contains(string(out), "github.com/tetratelabs/wazero\n") || !strings.Contains(string(out), "github.com/twmb/franz-go/pkg/kgo\n") {
		t.Fatalf("wazero or kgo missing from the dependencies:\n%s", out)
	}
	// Those must stay (nearly) dependency-free for this to mean much: the
	// standard library, each other and, for wasm/hostabi, wazero (and
	// what wazero itself needs).
	nonStandard := func(pkgs ...string) []string {
		args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	wazeroDeps := map[string]bool{}
	for _, pkg := range nonStandard("github.com/tetratelabs/wazero", "github.com/tetratelabs/wazero/api") {
		wazeroDeps[pkg] = true
	}
	for own, wazeroOK := range clientSide {
		for _, pkg := range nonStandard(own) {
			if _, ok := clientSide[pkg]; ok || wazeroOK && wazeroDeps[pkg] {
				continue
			}
			t.Errorf("%s depends on %s", own, pkg)
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

// clientSide are the sluice packages a client program may depend on, and
// whether each may depend on wazero (the rest only on the standard library
// and each other).
var clientSide = map[string]bool{
	"github.com/sluicemq/sluice/wasm/abi":     false,
	"github.com/sluicemq/sluice/wasm/fuel":    false,
	"github.com/sluicemq/sluice/wasm/hostabi": true,
}
