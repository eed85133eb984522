package buildcache

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain points the cache at a directory of this test binary's own
// (the variable is read once per process, at the first use).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "buildcache-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SLUICE_TESTKIT_PLUGIN_CACHE", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// A build runs once per key; later calls link the stored output, which
// keeps the built file's mode (an executable stays executable).
func TestBuildStoresAndServes(t *testing.T) {
	if Dir() == "" {
		t.Fatal("no cache directory")
	}
	builds := 0
	build := func(out string) func() error {
		return func() error {
			builds++
			return os.WriteFile(out, []byte("binary"), 0o755)
		}
	}
	key := fmt.Sprintf("test-%d.sluice", time.Now().UnixNano())
	for i := range 3 {
		out := filepath.Join(t.TempDir(), "out")
		if err := Build(key, out, build(out)); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil || st.Mode().Perm() != 0o755 {
			t.Fatalf("call %d: out %v, %v; want mode 0755", i, st, err)
		}
		if b, _ := os.ReadFile(out); string(b) != "binary" {
			t.Fatalf("call %d: out holds %q", i, b)
		}
	}
	if builds != 1 {
		t.Fatalf("%d builds, want 1", builds)
	}
}

// prune keeps the most recently used entries of a kind and leaves other
// kinds alone.
func TestPruneKeepsNewest(t *testing.T) {
	dir := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i := range 15 {
		p := filepath.Join(dir, fmt.Sprintf("k%02d.sluice", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "m.wasm"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	prune(dir, ".sluice")
	for i := range 15 {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("k%02d.sluice", i)))
		if kept := err == nil; kept != (i >= 3) {
			t.Fatalf("entry %d kept=%v, want the 12 newest kept", i, kept)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.wasm")); err != nil {
		t.Fatal("another kind was pruned")
	}
}

// Key depends on the sources, not on where the checkout is: a second copy
// of a module (a fresh clone, a worktree) gets the first one's key, and a
// changed file a new one.
func TestKeyIndependentOfCheckoutPath(t *testing.T) {
	files := map[string]string{
		"go.mod":       "module example.com/keytest\n\ngo 1.22\n",
		"main.go":      "package main\n\nimport \"example.com/keytest/lib\"\n\nfunc main() { lib.Hello() }\n",
		"lib/lib.go":   "package lib\n\nfunc Hello() {}\n",
		"lib/extra.go": "package lib\n\nvar X = 1\n",
	}
	write := func(root string, changed string) {
		for name, body := range files {
			if name == changed {
				body += "\n// changed\n"
			}
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := func(root string) string {
		k, err := Key(root, nil, ".")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	write(a, "")
	write(b, "")
	write(c, "lib/extra.go")
	ka, kb, kc := key(a), key(b), key(c)
	if ka != kb {
		t.Fatalf("same sources in %s and %s: keys %s and %s differ", a, b, ka, kb)
	}
	if kc == ka {
		t.Fatalf("a changed dependency file kept the key %s", ka)
	}
}

// KeyFiles depends on the files' content and names under each path, not
// on where the tree is; tool and output directories are left out.
func TestKeyFiles(t *testing.T) {
	tree := func(files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	key := func(salt string, paths ...string) string {
		k, err := KeyFiles(salt, paths...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := map[string]string{"index.ts": "a", "lib/x.ts": "b"}
	a, b := tree(base), tree(base)
	ka := key("asc", a)
	if kb := key("asc", b); kb != ka {
		t.Fatalf("same files in two places: %s != %s", ka, kb)
	}
	withTools := tree(map[string]string{"index.ts": "a", "lib/x.ts": "b", "node_modules/m/i.js": "c", "build/out.wasm": "d"})
	if k := key("asc", withTools); k != ka {
		t.Fatal("node_modules or build changed the key")
	}
	// A symbolic link to a tree keys as the tree (the SDK is linked into
	// node_modules by npm).
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	if k := key("asc", link); k != ka {
		t.Fatal("a link to the tree keyed differently")
	}
	for name, k := range map[string]string{
		"content":    key("asc", tree(map[string]string{"index.ts": "A", "lib/x.ts": "b"})),
		"name":       key("asc", tree(map[string]string{"index.ts": "a", "lib/y.ts": "b"})),
		"added file": key("asc", tree(map[string]string{"index.ts": "a", "lib/x.ts": "b", "z.ts": ""})),
		"salt":       key("asc -O3", a),
		"more paths": key("asc", a, b),
	} {
		if k == ka {
			t.Errorf("a different %s gave the same key", name)
		}
	}
	if _, err := KeyFiles("asc", filepath.Join(a, "missing")); err == nil {
		t.Fatal("a missing path gave a key")
	}
}
