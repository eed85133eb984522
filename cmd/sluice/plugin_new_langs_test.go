package main

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	assdk "github.com/sluicemq/sluice/sdk/assemblyscript"
	rustsdk "github.com/sluicemq/sluice/sdk/rust"
	"github.com/sluicemq/sluice/wasm/conformance/plugbuild"
)

// runCLIEnv makes this test binary stand in for the sluice command (as
// `make test` of a generated AssemblyScript project runs `$(SLUICE) plugin
// test`): with it set, the binary runs the CLI on its arguments and exits
// before any test starts.
const runCLIEnv = "SLUICE_TEST_RUN_CLI"

func init() {
	if os.Getenv(runCLIEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
}

// langSampleOutputs: every language's template of a hook does what the Go
// one does, so `sluice plugin test` prints the same over the same sample
// records (a project named p).
var langSampleOutputs = []struct {
	hook  string
	flags []string
	want  string
}{
	{"partitioner", []string{"--partitions", "4"}, partitionerSampleOutput},
	{"transform", []string{"--config", "max-bytes=14"}, transformSampleOutput},
	{"filter", []string{"--principal", "User:acme"}, filterSampleOutput},
}

// dryRunExact runs the project's p.wasm with `sluice plugin test
// --records` over its sample records and checks the output exactly (the
// first line but for its ns/record).
func dryRunExact(t *testing.T, dir, hook string, flags []string, want string) {
	t.Helper()
	wasmFile := filepath.Join(dir, "p.wasm")
	if st, err := os.Stat(wasmFile); err != nil || st.Size() < 256 {
		t.Fatalf("p.wasm: %v", err)
	}
	args := append([]string{"plugin", "test", wasmFile, "--hook", hook, "--records", filepath.Join(dir, "testdata", "records.jsonl"), "--show", "-1"}, flags...)
	got := mustSluice(t, args...)
	first, rest, _ := strings.Cut(got, "\n")
	records := strings.Count(mustRead(t, filepath.Join(dir, "testdata", "records.jsonl")), "\n")
	if !strings.HasPrefix(first, "Dry run of a "+hook+" over topic \"test\" (") || !strings.Contains(first, ": "+strconv.Itoa(records)+" records in ") {
		t.Fatalf("first line %q", first)
	}
	if rest != want {
		t.Fatalf("plugin test printed:\n%s\nwant:\n%s", rest, want)
	}
}

func runMake(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// sameFiles checks that dir holds exactly the files of fsys (the SDK this
// binary embeds), byte for byte.
func sameFiles(t *testing.T, fsys fs.FS, dir string) {
	t.Helper()
	n := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want, _ := fs.ReadFile(fsys, p)
		if got := mustRead(t, filepath.Join(dir, filepath.FromSlash(p))); got != string(want) {
			t.Errorf("%s differs from the embedded SDK", p)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var have int
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			have++
		}
		return err
	})
	if n == 0 || have != n {
		t.Fatalf("%s holds %d files, the embedded SDK %d", dir, have, n)
	}
}

// TestPluginNewRustProjects scaffolds a Rust project of each hook, runs
// its own Makefile (cargo test natively, then the offline release build
// for wasm32-wasi(p1) with Debian's toolchain) and runs the module under
// the broker's runtime over the project's sample records: the output is
// the Go template's, exactly.
func TestPluginNewRustProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three Rust plugins")
	}
	if !plugbuild.RustAvailable() {
		t.Fatal(plugbuild.ErrNoRust)
	}
	for _, tc := range langSampleOutputs {
		t.Run(tc.hook, func(t *testing.T) {
			start := time.Now()
			dir := filepath.Join(t.TempDir(), "proj")
			out := mustSluice(t, "plugin", "new", "p", "--lang", "rust", "--hook", tc.hook, "--dir", dir)
			if !strings.HasPrefix(out, `Created the Rust `+tc.hook+` plugin "p" in `+dir+`. Next:`) {
				t.Fatalf("plugin new said:\n%s", out)
			}
			sameFiles(t, rustsdk.Source, filepath.Join(dir, "third_party", "sluice-plugin"))
			if c := mustRead(t, filepath.Join(dir, "Cargo.toml")); !strings.Contains(c, `sluice-plugin = { path = "third_party/sluice-plugin" }`) {
				t.Fatalf("Cargo.toml:\n%s", c)
			}
			// CARGO_HOME empty: no registry index or cached crate to fall
			// back on (the build is offline and needs none).
			env := []string{"CARGO_HOME=" + t.TempDir()}
			if out := runMake(t, dir, env, "test"); !strings.Contains(out, "test result: ok.") || strings.Contains(out, " 0 passed") {
				t.Fatalf("make test ran no tests:\n%s", out)
			}
			runMake(t, dir, env, "build")
			dryRunExact(t, dir, tc.hook, tc.flags, tc.want)
			t.Logf("%s: scaffold, make test, make build, plugin test in %v", tc.hook, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestPluginNewAssemblyScriptProjects scaffolds an AssemblyScript project
// of each hook and runs its own `make test`: the build (offline, with the
// compiler scripts/install-assemblyscript.sh installed, AS_MODULES) and
// `sluice plugin test` over the sample records compared with
// testdata/expected.txt, this test binary standing in for sluice. The
// expected file is the Go template's output, and the module's output is
// checked exactly here too.
func TestPluginNewAssemblyScriptProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three AssemblyScript plugins")
	}
	asc, err := plugbuild.ASCompiler()
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Dir(filepath.Dir(filepath.Dir(asc))) // .../node_modules
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range langSampleOutputs {
		t.Run(tc.hook, func(t *testing.T) {
			start := time.Now()
			dir := filepath.Join(t.TempDir(), "proj")
			out := mustSluice(t, "plugin", "new", "p", "--lang", "assemblyscript", "--hook", tc.hook, "--dir", dir)
			if !strings.HasPrefix(out, `Created the AssemblyScript `+tc.hook+` plugin "p" in `+dir+`. Next:`) {
				t.Fatalf("plugin new said:\n%s", out)
			}
			sameFiles(t, assdk.Source, filepath.Join(dir, "third_party", "sluice-plugin-sdk"))
			var pkg struct {
				Dependencies map[string]string `json:"dependencies"`
			}
			if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(dir, "package.json"))), &pkg); err != nil ||
				pkg.Dependencies["@sluicemq/plugin-sdk"] != "file:third_party/sluice-plugin-sdk" {
				t.Fatalf("package.json dependencies %v (%v)", pkg.Dependencies, err)
			}
			if got := mustRead(t, filepath.Join(dir, "testdata", "expected.txt")); got != tc.want {
				t.Fatalf("testdata/expected.txt:\n%s\nwant:\n%s", got, tc.want)
			}
			// NPM=false: any attempt to reach the registry fails the build.
			runMake(t, dir, []string{runCLIEnv + "=1"}, "test", "AS_MODULES="+modules, "SLUICE="+self, "NPM=false")
			dryRunExact(t, dir, tc.hook, tc.flags, tc.want)
			t.Logf("%s: scaffold, make test, plugin test in %v", tc.hook, time.Since(start).Round(time.Millisecond))
		})
	}
}
