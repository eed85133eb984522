// Package plugbuild builds plugin modules from source for tests, in every
// language with an SDK, and caches them by the content of their sources:
// a module is built at most once per test run (concurrent callers wait for
// the one build) and not at all while nothing it is built from changed
// (the cache outlives the run, under Dir). Go builds of the Go SDK take
// about a minute each on a loaded machine, and the conformance suite and
// the example tests need a dozen.
//
// It imports nothing of the broker, so the wasm package's own tests can use
// it.
package plugbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Debian's toolchain (scripts/install-rust.sh): the rustup toolchain
// usually first on PATH has no wasm target and cannot fetch one offline.
const (
	Cargo = "/usr/bin/cargo"
	Rustc = "/usr/bin/rustc"
)

// ErrNoRust: Debian's Rust toolchain is not installed.
var ErrNoRust = errors.New("plugbuild: Debian's Rust toolchain (/usr/bin/cargo, /usr/bin/rustc, libstd-rust-dev-wasm32, lld) is missing: run scripts/install-rust.sh (make test-deps)")

// RustAvailable reports whether Debian's cargo and rustc are installed.
func RustAvailable() bool {
	for _, p := range []string{Cargo, Rustc} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	return true
}

// RepoRoot is the module root (the directory of go.mod).
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("plugbuild: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("plugbuild: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// Dir is the cache of built modules: $SLUICE_PLUGIN_BUILD_CACHE, else
// sluice/plugin-builds under the user cache directory.
func Dir() (string, error) {
	if d := os.Getenv("SLUICE_PLUGIN_BUILD_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("plugbuild: %w", err)
	}
	return filepath.Join(base, "sluice", "plugin-builds"), nil
}

type result struct {
	once sync.Once
	path string
	err  error
}

var (
	mu     sync.Mutex
	builds = map[string]*result{}
)

// once runs build at most once per key in this process.
func once(key string, build func() (string, error)) (string, error) {
	mu.Lock()
	r, ok := builds[key]
	if !ok {
		r = &result{}
		builds[key] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.path, r.err = build() })
	return r.path, r.err
}

// GoPlugin builds the Go plugin package in rel (relative to the repository
// root) as a WASI reactor and returns the path of the .wasm.
func GoPlugin(rel string) (string, error) {
	return once("go:"+rel, func() (string, error) {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		ver, err := exec.Command("go", "version").Output()
		if err != nil {
			return "", fmt.Errorf("plugbuild: go version: %w", err)
		}
		sum, err := hashTrees(root, []string{rel, "sdk", "wasm/abi", "go.mod", "go.sum"}, ver)
		if err != nil {
			return "", err
		}
		return cached("go-"+filepath.Base(rel), sum, func(out string) error {
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
			cmd.Dir = filepath.Join(root, rel)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			return run(cmd)
		})
	})
}

// RustPlugin builds crate (a cdylib member of the cargo workspace in
// workspace, relative to the repository root) for WASI with Debian's
// toolchain, release profile, offline, and returns the path of the .wasm.
// The SDK (sdk/rust) is part of the content hash.
func RustPlugin(workspace, crate string) (string, error) {
	return once("rust:"+workspace+":"+crate, func() (string, error) {
		if !RustAvailable() {
			return "", ErrNoRust
		}
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		target, err := RustTarget()
		if err != nil {
			return "", err
		}
		ver, err := exec.Command(Rustc, "--version").Output()
		if err != nil {
			return "", fmt.Errorf("plugbuild: rustc --version: %w", err)
		}
		sum, err := hashTrees(root, []string{workspace, "sdk/rust"}, append(ver, target...))
		if err != nil {
			return "", err
		}
		cache, err := Dir()
		if err != nil {
			return "", err
		}
		return cached("rust-"+crate, sum, func(out string) error {
			// One target directory per workspace, kept between runs, so
			// cargo rebuilds only what changed.
			ws := sha256.Sum256([]byte(filepath.Join(root, workspace)))
			targetDir := filepath.Join(cache, "cargo-target", hex.EncodeToString(ws[:8]))
			cmd := exec.Command(Cargo, "build", "--offline", "--release", "--target", target, "-p", crate)
			cmd.Dir = filepath.Join(root, workspace)
			cmd.Env = append(os.Environ(), "RUSTC="+Rustc, "CARGO_TARGET_DIR="+targetDir)
			if err := run(cmd); err != nil {
				return err
			}
			return copyFile(filepath.Join(targetDir, target, "release", strings.ReplaceAll(crate, "-", "_")+".wasm"), out)
		})
	})
}

// ErrNoAssemblyScript: node or the npm AssemblyScript compiler (installed
// into examples/plugins-as/node_modules by scripts/install-assemblyscript.sh)
// is missing.
var ErrNoAssemblyScript = errors.New("plugbuild: node or the AssemblyScript compiler (examples/plugins-as/node_modules) is missing: run scripts/install-assemblyscript.sh (make test-deps)")

// ASExamples is the npm project whose node_modules holds the
// AssemblyScript compiler and the SDK (linked by path), and whose
// asconfig.json extends the SDK's build options.
const ASExamples = "examples/plugins-as"

// ASCompiler returns the path of the npm compiler's asc.js (under
// ASExamples' node_modules), or ErrNoAssemblyScript.
func ASCompiler() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", ErrNoAssemblyScript
	}
	asc := filepath.Join(root, ASExamples, "node_modules", "assemblyscript", "bin", "asc.js")
	if _, err := os.Stat(asc); err != nil {
		return "", ErrNoAssemblyScript
	}
	return asc, nil
}

// AssemblyScriptPlugin builds the AssemblyScript plugin whose entry is
// rel/index.ts (rel relative to the repository root) with the npm
// compiler and the SDK's build options (ASExamples/asconfig.json), and
// returns the path of the .wasm. The SDK (sdk/assemblyscript), the
// options, the lock file, node's and the compiler's versions are part of
// the content hash.
func AssemblyScriptPlugin(rel string) (string, error) {
	return once("as:"+rel, func() (string, error) {
		asc, err := ASCompiler()
		if err != nil {
			return "", err
		}
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		ver, err := exec.Command("node", "--version").Output()
		if err != nil {
			return "", fmt.Errorf("plugbuild: node --version: %w", err)
		}
		ascPkg, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(asc)), "package.json"))
		if err != nil {
			return "", err
		}
		ex := filepath.Join(root, ASExamples)
		sum, err := hashTrees(root, []string{rel, "sdk/assemblyscript", ASExamples + "/asconfig.json", ASExamples + "/package-lock.json"}, append(ver, ascPkg...))
		if err != nil {
			return "", err
		}
		return cached("as-"+filepath.Base(rel), sum, func(out string) error {
			cmd := exec.Command("node", asc, "index.ts",
				"--config", filepath.Join(ex, "asconfig.json"),
				"--path", filepath.Join(ex, "node_modules"),
				"-o", out)
			cmd.Dir = filepath.Join(root, rel)
			return run(cmd)
		})
	})
}

var (
	targetOnce sync.Once
	targetName string
	targetErr  error
)

// RustTarget is the WASI preview 1 target of Debian's rustc with a
// standard library installed: wasm32-wasi (rustc 1.63 in Debian 12) or
// wasm32-wasip1 (rustc 1.78 and later). scripts/rust-wasm-target.sh
// answers the same for the Makefile.
func RustTarget() (string, error) {
	targetOnce.Do(func() {
		sysroot, err := exec.Command(Rustc, "--print", "sysroot").Output()
		if err != nil {
			targetErr = fmt.Errorf("plugbuild: rustc --print sysroot: %w", err)
			return
		}
		list, err := exec.Command(Rustc, "--print", "target-list").Output()
		if err != nil {
			targetErr = fmt.Errorf("plugbuild: rustc --print target-list: %w", err)
			return
		}
		known := map[string]bool{}
		for _, t := range strings.Fields(string(list)) {
			known[t] = true
		}
		for _, t := range []string{"wasm32-wasip1", "wasm32-wasi"} {
			lib := filepath.Join(strings.TrimSpace(string(sysroot)), "lib", "rustlib", t, "lib")
			if _, err := os.Stat(lib); err == nil && known[t] {
				targetName = t
				return
			}
		}
		targetErr = fmt.Errorf("%w (no wasm32-wasi standard library)", ErrNoRust)
	})
	return targetName, targetErr
}

// cached returns the cached module name-sum.wasm, building it with build
// (into a temporary file, then renamed: concurrent test binaries never
// see half a module) when it is not there.
func cached(name, sum string, build func(out string) error) (string, error) {
	dir, err := Dir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name+"-"+sum[:24]+".wasm")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp, err := os.CreateTemp(dir, name+"-*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := build(tmp.Name()); err != nil {
		return "", fmt.Errorf("plugbuild: %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// hashTrees hashes the regular files under each of rels (files or
// directories relative to root; build output directories "target" left
// out, and npm's node_modules) with their paths, plus extra (the
// toolchain's version).
func hashTrees(root string, rels []string, extra []byte) (string, error) {
	h := sha256.New()
	h.Write(extra)
	for _, rel := range rels {
		var files []string
		err := filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "target" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() && d.Name() != "Cargo.lock" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("plugbuild: hashing %s: %w", rel, err)
		}
		sort.Strings(files)
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return "", err
			}
			r, _ := filepath.Rel(root, p)
			fmt.Fprintf(h, "%s\x00%d\x00", r, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return nil
}
