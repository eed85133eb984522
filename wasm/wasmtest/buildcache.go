package wasmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sluicemq/sluice/internal/testkit/wasmcache"
)

// A Go plugin build is a `go build` whose compile steps the go build cache
// serves, but it still costs the go command's start, the link of a
// ~3 MB module and its write: 3-4 s of wall time each on a loaded
// two-core machine, and the wasm, plugins and bridge test binaries build
// a dozen between them on every run. GoPlugin therefore keeps what it
// built in the shared test cache (wasmcache.BuildDir) under a key of
// everything the build reads, and copies it out when nothing changed.

// goPluginKey hashes the build's inputs: the toolchain version, the
// command line, and every file in the directory of each non-standard
// package the plugin depends on (as `go list -deps` reports them for
// wasip1/wasm) plus the go.mod and go.sum of their modules. Any edit to
// the plugin, the SDK or the module's requirements changes the key.
func goPluginKey(dir string, args []string) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}{{"\n"}}{{with .Module}}{{.GoMod}}{{"\n"}}{{end}}{{end}}`, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", runtime.Version(), strings.Join(args, " "))
	seen := map[string]bool{}
	for _, p := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		var files []string
		if strings.HasSuffix(p, ".mod") {
			files = []string{p, strings.TrimSuffix(p, ".mod") + ".sum"}
		} else {
			entries, err := os.ReadDir(p)
			if err != nil {
				return "", err
			}
			for _, e := range entries {
				if e.Type().IsRegular() {
					files = append(files, filepath.Join(p, e.Name()))
				}
			}
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if os.IsNotExist(err) {
				continue // a module without go.sum
			}
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %d\n", f, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cachedGoPlugin serves out from the build cache, or runs build and
// stores what it wrote. Any failure of the cache itself falls back to a
// plain build.
func cachedGoPlugin(dir, out string, args []string, build func() error) error {
	cacheDir := wasmcache.BuildDir()
	if cacheDir == "" {
		return build()
	}
	key, err := goPluginKey(dir, args)
	if err != nil {
		return build()
	}
	cached := filepath.Join(cacheDir, key+".wasm")
	if copyFile(cached, out) == nil {
		return nil
	}
	if err := build(); err != nil {
		return err
	}
	// Written beside the entry and renamed into place, so a concurrent
	// test binary never reads half a module.
	tmp, err := os.CreateTemp(cacheDir, key+".*.tmp")
	if err != nil {
		return nil
	}
	tmp.Close()
	if copyFile(out, tmp.Name()) != nil || os.Rename(tmp.Name(), cached) != nil {
		os.Remove(tmp.Name())
	}
	return nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
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
