package main

import (
	"bytes"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicemq/sluice/wasm/wasmtest"
)

// partitionerSampleOutput is `sluice plugin test --records --partitions 4
// --show -1` of an FNV-1a key-hash partitioner (the Go template's, and the
// WAT example's) over the partitioner template's sample records, after
// the summary's first line.
const partitionerSampleOutput = `partitions 0:2 1:1 2:1 3:2; moved 4 (records whose partition differs from where they are stored)
errors 0
{"partition":3,"key":"tenant-a","value":"{\"page\":\"/home\"}"}
{"partition":2,"key":"tenant-b","value":"{\"page\":\"/cart\"}"}
{"partition":3,"key":"tenant-a","value":"{\"page\":\"/checkout\"}","headers":{"source":"web"}}
{"partition":1,"timestamp":1767225600000,"key":"tenant-c","value":"{\"page\":\"/home\"}"}
{"partition":0,"value":"no key"}
{"partition":0,"key":"\u0000\u0001\u0002","value_b64":"3q2+7w=="}
`

// transformSampleOutput is the same for the transform template (trim,
// drop empty, dead-letter unkeyed, refuse over max-bytes) of a project
// named p over its sample records, with --config max-bytes=14.
const transformSampleOutput = `kept 2, changed 1, dropped 2, added 0, emitted 1
errors 1
  error at partition 0 offset 4: plugin "p.wasm": record 0: a value of 18 bytes, over the limit of 14
{"partition":0,"key":"a","value":"GET /home 200"}
{"partition":0,"key":"b","value":"GET /cart 200"}
{"topic":"test.dlq","value":"no key"}
{"partition":0,"key":"e"}
`

// filterSampleOutput is the same for the filter template (tenant of the
// principal) over its sample records, with --principal User:acme.
const filterSampleOutput = `kept 2, changed 0, dropped 2
errors 0
{"partition":0,"offset":0,"key":"1","value":"acme order","headers":{"tenant":"acme"}}
{"partition":0,"offset":2,"key":"3","value":"acme refund","headers":{"tenant":"acme","trace":"\u0000\u0001"}}
`

// TestPluginNewGoProjects scaffolds a Go project of each hook, builds and
// tests it with its own Makefile offline (GOPROXY=off, GOFLAGS=-mod=mod:
// any missing module would be an error, not a download) and runs the
// built module under the broker's runtime with `sluice plugin test
// --records` over the project's sample records. The three builds run one
// after another: wasip1 builds are slow and the machine is shared.
func TestPluginNewGoProjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three Go plugins for wasip1")
	}
	cases := []struct {
		hook  string
		flags []string
		// want is the summary after its first line (whose ns/record
		// varies), then the output records.
		want string
	}{
		{"partitioner", []string{"--partitions", "4"}, partitionerSampleOutput},
		{"transform", []string{"--config", "max-bytes=14"}, transformSampleOutput},
		{"filter", []string{"--principal", "User:acme"}, filterSampleOutput},
	}
	firstLine := regexp.MustCompile(`^Dry run of a (\w+) over topic "test" \((\d+) partitions\) from records\.jsonl: (\d+) records in (\d+) calls, \d+ ns/record\.$`)
	for _, tc := range cases {
		t.Run(tc.hook, func(t *testing.T) {
			start := time.Now()
			dir := filepath.Join(t.TempDir(), "proj")
			out := mustSluice(t, "plugin", "new", "p", "--hook", tc.hook, "--dir", dir)
			if !strings.HasPrefix(out, `Created the Go `+tc.hook+` plugin "p" in `+dir+`. Next:`) {
				t.Fatalf("plugin new said:\n%s", out)
			}
			gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err != nil {
				t.Fatal(err)
			}
			for _, target := range []string{"test", "build"} {
				cmd := exec.Command("make", target)
				cmd.Dir = dir
				cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOTOOLCHAIN=local", "GOWORK=off")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("make %s: %v\n%s", target, err, out)
				}
			}
			// Nothing was resolved from outside: go.mod is as written
			// and no go.sum was needed.
			if after, _ := os.ReadFile(filepath.Join(dir, "go.mod")); !bytes.Equal(after, gomod) {
				t.Fatalf("go.mod changed by the build:\n%s", after)
			}
			if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
				t.Fatal("the build wrote a go.sum")
			}
			wasmFile := filepath.Join(dir, "p.wasm")
			if st, err := os.Stat(wasmFile); err != nil || st.Size() < 1<<10 {
				t.Fatalf("p.wasm: %v", err)
			}
			args := append([]string{"plugin", "test", wasmFile, "--hook", tc.hook, "--records", filepath.Join(dir, "testdata", "records.jsonl"), "--show", "-1"}, tc.flags...)
			got := mustSluice(t, args...)
			first, rest, _ := strings.Cut(got, "\n")
			m := firstLine.FindStringSubmatch(first)
			records := strings.Count(mustRead(t, filepath.Join(dir, "testdata", "records.jsonl")), "\n")
			if m == nil || m[1] != tc.hook {
				t.Fatalf("first line %q", first)
			}
			if m[3] != strconv.Itoa(records) {
				t.Fatalf("first line %q: want %d records", first, records)
			}
			if rest != tc.want {
				t.Fatalf("plugin test printed:\n%s\nwant:\n%s", rest, tc.want)
			}
			t.Logf("%s: scaffold, make test, make build, plugin test in %v", tc.hook, time.Since(start).Round(time.Millisecond))
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPluginNewRefusals(t *testing.T) {
	dir := t.TempDir()
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(busy, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(busy, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"p", "--lang", "cobol", "--hook", "filter"}, exitError,
			`sluice: plugin new: unknown language "cobol" (want go, rust, assemblyscript)` + "\n"},
		{[]string{"p", "--hook", "router"}, exitError,
			`sluice: plugin new: unknown hook "router" (want partitioner, transform or filter)` + "\n"},
		{[]string{"My Plugin", "--hook", "filter"}, exitError,
			`sluice: plugin new: name "My Plugin": use lower-case letters, digits, - and _, starting with a letter` + "\n"},
		{[]string{"p", "--hook", "filter", "--dir", busy}, exitError,
			"sluice: plugin new: " + busy + " exists and is not empty\n"},
		{[]string{"p"}, exitUsage, "sluice: plugin new: --hook is required\n"},
	}
	for _, tc := range cases {
		r := runSluice(append([]string{"plugin", "new"}, tc.args...)...)
		first, _, _ := strings.Cut(r.stderr, "\n")
		if r.code != tc.code || first+"\n" != tc.want || r.stdout != "" {
			t.Errorf("plugin new %v: exit %d stdout %q stderr %q, want exit %d and %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("refused commands left files behind: %v", entries)
	}
}

// TestPluginNewABICopyIsCurrent: the Go SDK copy a project gets must
// carry wasm/abi exactly as this build speaks it (go generate
// ./cmd/sluice refreshes the copy).
func TestPluginNewABICopyIsCurrent(t *testing.T) {
	root, err := wasmtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "wasm", "abi")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			want = append(want, e.Name())
		}
	}
	copied, err := fs.ReadDir(pluginTemplates, "templates/go/_sdk/abi")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range copied {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("embedded wasm/abi files %v, repository has %v: run go generate ./cmd/sluice", got, want)
	}
	for _, name := range want {
		a, _ := os.ReadFile(filepath.Join(src, name))
		b, _ := fs.ReadFile(pluginTemplates, "templates/go/_sdk/abi/"+name)
		if !bytes.Equal(a, b) {
			t.Errorf("embedded wasm/abi/%s differs from the repository's: run go generate ./cmd/sluice", name)
		}
	}
}

// TestPluginNewGoFilesAreFormatted: every Go file of every hook's
// project is as gofmt writes it.
func TestPluginNewGoFilesAreFormatted(t *testing.T) {
	for _, h := range hookTemplates {
		dir := filepath.Join(t.TempDir(), h.hook)
		mustSluice(t, "plugin", "new", "x", "--hook", h.hook, "--dir", dir)
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if out, err := format.Source(src); err != nil || !bytes.Equal(out, src) {
				t.Errorf("%s: not gofmt-formatted (%v)", p, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestPluginNewWritesSDKModule: the project's SDK copy is a module whose
// path matches the import path plugins use, with no test files and no
// reference to the repository's other packages.
func TestPluginNewWritesSDKModule(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	mustSluice(t, "plugin", "new", "x", "--hook", "transform", "--dir", dir, "--module", "example.com/team/x")
	gomod := mustRead(t, filepath.Join(dir, "go.mod"))
	if !strings.HasPrefix(gomod, "module example.com/team/x\n") ||
		!strings.Contains(gomod, "replace github.com/sluicemq/sluice/sdk => ./third_party/sluice-sdk\n") {
		t.Fatalf("go.mod:\n%s", gomod)
	}
	sdkMod := mustRead(t, filepath.Join(dir, "third_party", "sluice-sdk", "go.mod"))
	if !strings.Contains(sdkMod, "\nmodule github.com/sluicemq/sluice/sdk\n") {
		t.Fatalf("SDK go.mod:\n%s", sdkMod)
	}
	err := filepath.WalkDir(filepath.Join(dir, "third_party"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, "_test.go") {
			t.Errorf("test file copied: %s", p)
		}
		data, _ := os.ReadFile(p)
		if bytes.Contains(data, []byte(`"github.com/sluicemq/sluice/wasm`)) {
			t.Errorf("%s imports the repository's wasm packages", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Makefile", "README.md", ".gitignore", "main.go", "main_test.go", "testdata/records.jsonl",
		"third_party/sluice-sdk/sdktest/sdktest.go", "third_party/sluice-sdk/internal/abi/abi.go"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if mk := mustRead(t, filepath.Join(dir, "Makefile")); !strings.Contains(mk, "\tGOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(NAME).wasm .\n") {
		t.Fatalf("Makefile build rule:\n%s", mk)
	}
}
