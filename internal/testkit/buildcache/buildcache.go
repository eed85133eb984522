// Package buildcache keeps what tests build with the go command (the
// sluice binary for process-level tests, Go plugin modules) between runs,
// keyed by everything the build reads, so a test binary copies it out
// instead of building it again.
//
// Why: the go build cache serves the compile steps, but every `go build
// -o` still starts the go command and links: 15-18 s of wall time for
// cmd/sluice and 3-4 s per plugin module on a loaded two-core machine,
// paid by each test binary that needs one on every run (`-count=1` or
// not). SLUICE_TESTKIT_PLUGIN_CACHE=off turns this off as it does the
// shared wazero cache.
package buildcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
)

var cache struct {
	once sync.Once
	dir  string
}

// Dir is the cache directory ("" when off or not creatable).
func Dir() string {
	cache.once.Do(func() {
		d := wasmcache.Dir()
		if d == "" {
			return
		}
		dir := filepath.Join(filepath.Dir(d), "go-build")
		if os.Getenv(wasmcache.Env) != "" {
			dir = filepath.Join(d, "go-build") // inside a directory the caller chose
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return
		}
		cache.dir = dir
	})
	return cache.dir
}

// depsTemplate prints one line per input of the build: "G file" for each
// file a main-module package compiles or embeds (test files are not
// inputs), "F go.mod" of the main module, "M path@version" for a
// dependency module (immutable in the module cache), and the build
// context (platform, cgo, tags).
const depsTemplate = `{{if not .Standard}}{{with .Module}}{{if .Main}}` +
	`{{range $.GoFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range $.CgoFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}` +
	`{{range $.SFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range $.CFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}` +
	`{{range $.HFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range $.SysoFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}` +
	`{{range $.EmbedFiles}}G {{$.Dir}}/{{.}}{{"\n"}}{{end}}F {{.GoMod}}{{"\n"}}` +
	`{{else}}M {{.Path}}@{{.Version}}{{with .Replace}} => {{.Path}}@{{.Version}} {{.Dir}}{{end}}{{"\n"}}{{end}}{{end}}{{end}}` +
	`C {{context.GOOS}}/{{context.GOARCH}} cgo={{context.CgoEnabled}} {{context.BuildTags}}{{"\n"}}`

// Key hashes the inputs of `go build args...` of pkg run in dir with env
// added to this process's environment: the toolchain, the arguments, the
// build context, every file the main-module packages it depends on
// compile or embed, the module's go.mod and go.sum, and the versions of
// the other modules.
func Key(dir string, env []string, pkg string, args ...string) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", depsTemplate, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("buildcache: go list: %w: %s", err, stderr.String())
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n%q\n%s\n", runtime.Version(), args, env, os.Getenv("GOFLAGS"))
	lines := strings.Split(string(out), "\n")
	// The key names main-module files relative to the module's root, so a
	// second checkout of the same sources (a fresh clone, a worktree) finds
	// the first one's builds: only content decides.
	root := ""
	for _, line := range lines {
		if mod, ok := strings.CutPrefix(line, "F "); ok {
			root = filepath.Dir(mod) + string(filepath.Separator)
			break
		}
	}
	seen := map[string]bool{}
	for _, line := range lines {
		if line == "" || seen[line] {
			continue
		}
		seen[line] = true
		if root != "" {
			fmt.Fprintln(h, strings.Replace(line, " "+root, " ", 1))
		} else {
			fmt.Fprintln(h, line)
		}
		kind, path, _ := strings.Cut(line, " ")
		var files []string
		switch kind {
		case "F":
			files = []string{path, strings.TrimSuffix(path, ".mod") + ".sum"}
		case "G":
			files = []string{path}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if os.IsNotExist(err) {
				continue // a module without go.sum
			}
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// KeyFiles hashes what a build that is not the go command's reads: salt
// (the tool and its flags) and every regular file under each path (a
// file or a directory, symbolic links resolved; directories named
// node_modules, build, target and .git are left out: tools and outputs,
// which the salt or a named path covers). Files are named relative to
// their path, so another checkout of the same sources finds the entry.
func KeyFiles(salt string, paths ...string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%q\n", runtime.Version(), salt)
	for i, p := range paths {
		root, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", fmt.Errorf("buildcache: %w", err)
		}
		fmt.Fprintf(h, "path %d\n", i)
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				switch d.Name() {
				case "node_modules", "build", "target", ".git":
					if path != root {
						return filepath.SkipDir
					}
				}
				return nil
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("buildcache: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Build puts the build's output at out: from the cache under key (a Key
// plus the kind of thing, e.g. "sluice"), or by running build, which must
// write out, and storing the result. A failure of the cache itself falls
// back to the build; a failed build is not stored.
func Build(key, out string, build func() error) error {
	dir := Dir()
	if dir == "" || key == "" {
		return build()
	}
	cached := filepath.Join(dir, key)
	if link(cached, out) == nil {
		now := time.Now()
		_ = os.Chtimes(cached, now, now) // recently used: pruned last
		return nil
	}
	if err := build(); err != nil {
		return err
	}
	// Written beside the entry and renamed into place, so a concurrent
	// test binary never reads half a file.
	tmp, err := os.CreateTemp(dir, key+".*.tmp")
	if err != nil {
		return nil
	}
	tmp.Close()
	// copyFile keeps the existing file's mode: give it out's (CreateTemp
	// made it 0600; a binary must stay executable through the link).
	if st, err := os.Stat(out); err != nil || os.Chmod(tmp.Name(), st.Mode().Perm()) != nil ||
		copyFile(out, tmp.Name()) != nil || os.Rename(tmp.Name(), cached) != nil {
		os.Remove(tmp.Name())
	}
	prune(dir, filepath.Ext(key))
	return nil
}

// keepPerKind bounds the cache: every source change adds an entry, so
// only the most recently used of each kind (file extension) stay. A
// sluice binary is ~40 MB and one run needs one: a dozen covers several
// worktrees and branches. A run needs some twenty plugin modules of ~3 MB.
func keepPerKind(ext string) int {
	if ext == ".sluice" {
		return 12
	}
	return 256
}

func prune(dir, ext string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type entry struct {
		name string
		mod  time.Time
	}
	var kind []entry
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ext || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil {
			kind = append(kind, entry{e.Name(), info.ModTime()})
		}
	}
	keep := keepPerKind(ext)
	if len(kind) <= keep {
		return
	}
	sort.Slice(kind, func(i, j int) bool { return kind[i].mod.After(kind[j].mod) })
	for _, e := range kind[keep:] {
		os.Remove(filepath.Join(dir, e.name))
	}
}

// link hard-links from to to (a copy across file systems). Entries are
// never rewritten in place (only replaced by rename), so a link stays
// what it was when made.
func link(from, to string) error {
	st, err := os.Stat(from)
	if err != nil {
		return err
	}
	os.Remove(to)
	if err := os.Link(from, to); err == nil {
		return nil
	}
	if err := copyFile(from, to); err != nil {
		return err
	}
	return os.Chmod(to, st.Mode().Perm())
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		os.Remove(to)
		return err
	}
	return dst.Close()
}
