// Package wasmtest builds plugin modules for tests: the example plugins
// under examples/plugins (Go ones with the Go toolchain as WASI reactors,
// .wat ones with wat2wasm) and WAT test modules. Builds reuse the Go build
// cache, so a test binary pays for them once (call from TestMain).
package wasmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sluicemq/sluice/internal/testkit/buildcache"
)

// RepoRoot is the module root (the directory of go.mod).
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("wasmtest: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("wasmtest: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// BuildExamples builds every example plugin into dir and returns the
// .wasm path of each by example name (its directory name).
func BuildExamples(dir string) (map[string]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, "examples", "plugins"))
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
		sem  = make(chan struct{}, 2)
	)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name, src := e.Name(), filepath.Join(root, "examples", "plugins", e.Name())
		out := filepath.Join(dir, name+".wasm")
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			err := buildExample(src, out)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				return
			}
			paths[name] = out
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

func buildExample(src, out string) error {
	wats, _ := filepath.Glob(filepath.Join(src, "*.wat"))
	if len(wats) == 1 {
		return WAT(wats[0], out)
	}
	return GoPlugin(src, out)
}

// GoPlugin builds the Go plugin package in dir as a WASI reactor. What it
// built is kept in the shared test build cache (internal/testkit/buildcache)
// under a key of every input, so an unchanged plugin is copied out instead
// of built again: seconds per module on a loaded machine.
func GoPlugin(dir, out string) error {
	env := []string{"GOOS=wasip1", "GOARCH=wasm"}
	build := func() error {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		return run(cmd)
	}
	key, err := buildcache.Key(dir, env, ".", "-buildmode=c-shared")
	if err != nil {
		return build() // the build reports what is wrong
	}
	return buildcache.Build(key+".wasm", out, build)
}

func run(cmd *exec.Cmd) error {
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return nil
}
