package conformance_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// TestRustUnitTests runs the Rust SDK's and the Rust examples' own unit
// tests natively with Debian's cargo (murmur2 against Kafka's test
// vectors, the e-mail scan), so `make test` runs them too.
func TestRustUnitTests(t *testing.T) {
	if !plugbuild.RustAvailable() {
		if testing.Short() {
			t.Skip(plugbuild.ErrNoRust)
		}
		t.Fatal(plugbuild.ErrNoRust)
	}
	root, err := plugbuild.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cache, err := plugbuild.Dir()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"sdk/rust", "examples/plugins-rust"} {
		cmd := exec.Command(plugbuild.Cargo, "test", "--offline", "--workspace")
		cmd.Dir = filepath.Join(root, dir)
		// Doc tests run rustdoc, and native test binaries link with cc:
		// Debian's, beside its rustc and cargo, also when /usr/bin is not
		// on PATH (a Go-only PATH, as the -short check runs with).
		cmd.Env = append(cmd.Environ(), "PATH="+filepath.Dir(plugbuild.Cargo)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"RUSTC="+plugbuild.Rustc, "RUSTDOC="+filepath.Join(filepath.Dir(plugbuild.Rustc), "rustdoc"),
			"CARGO_TARGET_DIR="+nativeTargetDir(cache, root, dir))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cargo test in %s: %v\n%s", dir, err, out)
		}
		if !strings.Contains(string(out), "test result: ok") {
			t.Fatalf("cargo test in %s ran no tests:\n%s", dir, out)
		}
	}
}

// nativeTargetDir is the cargo target directory of the workspace in dir
// of the checkout at root, kept between runs. Keyed by the absolute path
// as plugbuild's are: cargo's fingerprints hold absolute paths, so two
// checkouts (worktrees) sharing one directory rebuilt everything (~50 s
// on a loaded machine) whenever the other had run last.
func nativeTargetDir(cache, root, dir string) string {
	ws := sha256.Sum256([]byte(filepath.Join(root, dir)))
	return filepath.Join(cache, "cargo-native", strings.ReplaceAll(dir, "/", "-")+"-"+hex.EncodeToString(ws[:8]))
}
