package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/sluicemq/sluice/sdk"
	assdk "github.com/sluicemq/sluice/sdk/assemblyscript"
	rustsdk "github.com/sluicemq/sluice/sdk/rust"
)

// The project templates of `sluice plugin new`: templates/LANG/common/
// is written into every project of that language and templates/LANG/HOOK/
// holds what depends on the hook (the code, its test, sample records).
// Files are text/template sources named NAME.tmpl; "gitignore.tmpl" is
// written as .gitignore. Go's SDK copy of wasm/abi lives in
// templates/go/_sdk/abi (a package cannot embed files above its own
// directory; TestPluginNewABICopyIsCurrent keeps the copy identical).
//
//go:generate sh -c "rm -f templates/go/_sdk/abi/*.go && for f in ../../wasm/abi/*.go; do case ${DOLLAR}f in *_test.go) ;; *) cp ${DOLLAR}f templates/go/_sdk/abi/ ;; esac; done"
//go:embed all:templates
var pluginTemplates embed.FS

// pluginLang is one language `sluice plugin new` can scaffold. Adding a
// language is a templates/LANG directory and a row in pluginLangs.
type pluginLang struct {
	name  string // --lang value
	title string // for messages
	// sdk writes the SDK the project depends on into the project
	// directory (nil: the templates depend on a published package); see
	// copyTree.
	sdk func(dir string) error
	// next is printed after scaffolding: the commands to run in the
	// project directory.
	next []string
}

var pluginLangs = []pluginLang{
	{name: "go", title: "Go", sdk: writeGoSDK, next: []string{
		"make test      # go test: the hook run natively (package sdktest)",
		"make build     # NAME.wasm (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)",
		"make dry-run   # NAME.wasm under the broker's runtime over testdata/records.jsonl",
	}},
	{name: "rust", title: "Rust", sdk: writeRustSDK, next: []string{
		"make test      # cargo test --offline: the hook's logic, natively",
		"make build     # NAME.wasm (Debian's cargo, --offline --release, wasm32-wasi(p1))",
		"make dry-run   # NAME.wasm under the broker's runtime over testdata/records.jsonl",
	}},
	{name: "assemblyscript", title: "AssemblyScript", sdk: writeAssemblyScriptSDK, next: []string{
		"make build     # NAME.wasm (npm install fetches the compiler once; offline: make build AS_MODULES=DIR/node_modules)",
		"make test      # NAME.wasm under sluice plugin test over testdata/records.jsonl, compared with testdata/expected.txt",
		"make dry-run   # the same, printed",
	}},
}

// hookTemplate is what the templates know about each hook.
type hookTemplate struct {
	hook string
	// dryRunFlags are the extra `sluice plugin test` flags the project's
	// dry run passes.
	dryRunFlags string
	testReturns string // README: what sdktest gives back
	// testFlags are the `sluice plugin test` flags of the tests that
	// compare its output with testdata/expected.txt (AssemblyScript).
	testFlags string
}

var hookTemplates = []hookTemplate{
	{hook: "partitioner", dryRunFlags: " --partitions 4", testFlags: " --partitions 4", testReturns: "each record's partition"},
	{hook: "transform", testFlags: " --config max-bytes=14", testReturns: "what is stored, what is emitted and each record's outcome (kept, changed, dropped), or the batch's refusal"},
	{hook: "filter", dryRunFlags: " --principal User:acme", testFlags: " --principal User:acme", testReturns: "what the reader sees and each record's outcome (kept, changed, dropped)"},
}

// pluginNameRE: a name that is a file name, a Go module path and a Rust
// crate or npm package name alike.
var pluginNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// errLangUnavailable: the language is known but this build carries no
// templates for it.
var errLangUnavailable = errors.New("not yet available in this build")

// templateData is what templates see.
type templateData struct {
	Name, Hook, Lang string
	Module           string // Go module path
	DryRunFlags      string
	TestReturns      string
	TestFlags        string
}

func (c *cli) pluginNewCommand() *ffcli.Command {
	fs := c.newFlagSet("plugin new")
	lang := fs.String("lang", "go", "go, rust or assemblyscript")
	hook := fs.String("hook", "", "partitioner, transform or filter (required)")
	dir := fs.String("dir", "", "directory to create (default ./NAME)")
	module := fs.String("module", "", "Go module path (default NAME)")
	cmd := &ffcli.Command{
		Name:       "new",
		ShortUsage: "sluice plugin new NAME --hook partitioner|transform|filter [--lang go|rust|assemblyscript] [--dir DIR] [--module PATH]",
		ShortHelp:  "Create a plugin project that builds, tests and dry-runs offline (docs/plugin-authoring.md).",
		FlagSet:    fs,
	}
	cmd.Exec = func(_ context.Context, args []string) error {
		args, err := parseInterspersed(fs, args)
		if err != nil {
			return newUsageError(cmd, "%v", err)
		}
		if len(args) != 1 {
			return newUsageError(cmd, "plugin new: want NAME")
		}
		if *hook == "" {
			return newUsageError(cmd, "plugin new: --hook is required")
		}
		p, err := scaffoldPlugin(args[0], *lang, *hook, *dir, *module)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "Created the %s %s plugin %q in %s. Next:\n  cd %s\n", p.lang.title, *hook, args[0], p.dir, p.dir)
		for _, line := range p.lang.next {
			fmt.Fprintf(c.stdout, "  %s\n", strings.ReplaceAll(line, "NAME", args[0]))
		}
		return nil
	}
	return cmd
}

type scaffolded struct {
	lang *pluginLang
	dir  string
}

// scaffoldPlugin writes a new project; it refuses an existing non-empty
// directory rather than mixing a template into someone's files.
func scaffoldPlugin(name, lang, hook, dir, module string) (*scaffolded, error) {
	if !pluginNameRE.MatchString(name) {
		return nil, fmt.Errorf("plugin new: name %q: use lower-case letters, digits, - and _, starting with a letter", name)
	}
	var l *pluginLang
	var names []string
	for i := range pluginLangs {
		names = append(names, pluginLangs[i].name)
		if pluginLangs[i].name == lang {
			l = &pluginLangs[i]
		}
	}
	if l == nil {
		return nil, fmt.Errorf("plugin new: unknown language %q (want %s)", lang, strings.Join(names, ", "))
	}
	var h *hookTemplate
	for i := range hookTemplates {
		if hookTemplates[i].hook == hook {
			h = &hookTemplates[i]
		}
	}
	if h == nil {
		return nil, fmt.Errorf("plugin new: unknown hook %q (want partitioner, transform or filter)", hook)
	}
	root := "templates/" + l.name
	if !langAvailable(l) {
		var avail []string
		for i := range pluginLangs {
			if langAvailable(&pluginLangs[i]) {
				avail = append(avail, pluginLangs[i].name)
			}
		}
		return nil, fmt.Errorf("plugin new: --lang %s is %w of sluice (available: %s)", l.name, errLangUnavailable, strings.Join(avail, ", "))
	}
	if dir == "" {
		dir = name
	}
	if module == "" {
		module = name
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("plugin new: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("plugin new: %w", err)
	}
	data := templateData{Name: name, Hook: hook, Lang: l.name, Module: module, DryRunFlags: h.dryRunFlags, TestReturns: h.testReturns, TestFlags: h.testFlags}
	for _, sub := range []string{root + "/common", root + "/" + hook} {
		if err := writeTemplates(sub, dir, data); err != nil {
			return nil, fmt.Errorf("plugin new: %w", err)
		}
	}
	if l.sdk != nil {
		if err := l.sdk(dir); err != nil {
			return nil, fmt.Errorf("plugin new: writing the SDK: %w", err)
		}
	}
	return &scaffolded{lang: l, dir: dir}, nil
}

// langAvailable: this build carries templates for l (a language's row
// may come before its templates do).
func langAvailable(l *pluginLang) bool {
	_, err := fs.Stat(pluginTemplates, "templates/"+l.name+"/common")
	return err == nil
}

// writeTemplates renders every file under the embedded directory src into
// dst, keeping the relative layout.
func writeTemplates(src, dst string, data templateData) error {
	return fs.WalkDir(pluginTemplates, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, src+"/")
		if strings.HasPrefix(path.Base(rel), "_") || !strings.HasSuffix(rel, ".tmpl") {
			return nil
		}
		rel = strings.TrimSuffix(rel, ".tmpl")
		if path.Base(rel) == "gitignore" {
			rel = path.Join(path.Dir(rel), ".gitignore")
		}
		text, err := pluginTemplates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := t.Execute(&out, data); err != nil {
			return err
		}
		return writeFile(filepath.Join(dst, filepath.FromSlash(rel)), out.Bytes())
	})
}

func writeFile(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, data, 0o644)
}

// The Go SDK copy: module goSDKModule in third_party/sluice-sdk, holding
// package sdk at its root, sdk/sdktest, and wasm/abi as internal/abi.
const (
	goSDKModule = "github.com/sluicemq/sluice/sdk"
	goSDKDir    = "third_party/sluice-sdk"
	abiImport   = `"github.com/sluicemq/sluice/wasm/abi"`
	abiInternal = `"github.com/sluicemq/sluice/sdk/internal/abi"`
)

// writeGoSDK writes the SDK this sluice was built with (sdk.Source and
// the embedded wasm/abi copy) into dir/third_party/sluice-sdk, without
// its tests, as the module the project's go.mod replaces. Package sdk's
// import of wasm/abi becomes the copy's internal/abi.
func writeGoSDK(dir string) error {
	base := filepath.Join(dir, filepath.FromSlash(goSDKDir))
	gomod := "// Written by `sluice plugin new`: the Sluice Go SDK of " + versionString() + ".\nmodule " +
		goSDKModule + "\n\ngo 1.24\n"
	if err := writeFile(filepath.Join(base, "go.mod"), []byte(gomod)); err != nil {
		return err
	}
	goSource := func(name string) bool { return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") }
	internalABI := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(abiImport), []byte(abiInternal)) }
	if err := copyTree(sdk.Source, ".", base, goSource, internalABI); err != nil {
		return err
	}
	return copyTree(pluginTemplates, "templates/go/_sdk/abi", filepath.Join(base, "internal", "abi"), goSource, nil)
}

// rustSDKDir holds the Rust SDK copy (crate sluice-plugin), a path
// dependency of the project's Cargo.toml.
const rustSDKDir = "third_party/sluice-plugin"

// writeRustSDK writes the Rust SDK this sluice was built with
// (rustsdk.Source: Cargo.toml, README.md, src/) into
// dir/third_party/sluice-plugin.
func writeRustSDK(dir string) error {
	all := func(string) bool { return true }
	return copyTree(rustsdk.Source, ".", filepath.Join(dir, filepath.FromSlash(rustSDKDir)), all, nil)
}

// asSDKDir holds the AssemblyScript SDK copy (npm package
// @sluicemq/plugin-sdk), a file: dependency of the project's
// package.json.
const asSDKDir = "third_party/sluice-plugin-sdk"

// writeAssemblyScriptSDK writes the AssemblyScript SDK this sluice was
// built with (assdk.Source) into dir/third_party/sluice-plugin-sdk.
func writeAssemblyScriptSDK(dir string) error {
	all := func(string) bool { return true }
	return copyTree(assdk.Source, ".", filepath.Join(dir, filepath.FromSlash(asSDKDir)), all, nil)
}

// copyTree copies the files under src in fsys that keep accepts to dst,
// passing each through edit when it is not nil. A language whose SDK is
// not a published package can ship it in templates/LANG/_sdk (kept
// current by go generate, like Go's wasm/abi copy) and have its sdk
// function copy it with this.
func copyTree(fsys fs.FS, src, dst string, keep func(name string) bool, edit func([]byte) []byte) error {
	return fs.WalkDir(fsys, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(path.Base(p)) {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if edit != nil {
			data = edit(data)
		}
		rel := p
		if src != "." {
			rel = strings.TrimPrefix(p, src+"/")
		}
		return writeFile(filepath.Join(dst, filepath.FromSlash(rel)), data)
	})
}
